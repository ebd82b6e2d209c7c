#include "loop/work.h"

#include <exception>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "loop/status.h"

namespace evergreen {
namespace loop {
namespace {

std::string Describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "(non-std::exception)";
  }
}

}  // namespace

WorkRequest::WorkRequest(Loop& loop, WorkFn work, AfterFn after)
    : Request(loop, reinterpret_cast<uv_req_t*>(&raw_.req)),
      work_(std::move(work)),
      after_(std::move(after)) {
  raw_.owner = this;
}

absl::StatusOr<std::shared_ptr<WorkRequest>> Work::Queue(
    Loop& loop, WorkRequest::WorkFn work, WorkRequest::AfterFn after) {
  if (!work) return UvStatus(UV_EINVAL, "work");
  std::shared_ptr<WorkRequest> req(
      new WorkRequest(loop, std::move(work), std::move(after)));
  int rc = uv_queue_work(loop.raw(), &req->raw_.req, &WorkRequest::OnWork,
                         &WorkRequest::OnAfterWork);
  if (rc < 0) return UvStatus(rc, "work");
  Request::Submitted(req);
  return req;
}

void WorkRequest::OnWork(uv_work_t* raw) {
  WorkRequest* self = reinterpret_cast<Raw*>(raw)->owner;
  // Nothing may unwind into libuv's pool thread.
  try {
    self->work_();
  } catch (...) {
    self->exception_ = std::current_exception();
  }
}

void WorkRequest::OnAfterWork(uv_work_t* raw, int status) {
  WorkRequest* self = reinterpret_cast<Raw*>(raw)->owner;
  if (status < 0) {
    self->status_ = UvStatus(status, "work");
  } else if (self->exception_) {
    self->status_ = absl::UnknownError(
        absl::StrCat("work: exception: ", Describe(self->exception_)));
  }
  // Moved out: both functions (and what they captured) are destroyed here,
  // on the loop thread, even if the request outlives the callback.
  WorkFn work = std::move(self->work_);
  AfterFn after = std::move(self->after_);
  self->work_ = nullptr;
  self->after_ = nullptr;
  if (after) {
    self->loop().Invoke([&] { after(*self); });
  } else if (self->exception_) {
    std::exception_ptr e = self->exception_;
    self->loop().Invoke([&] { std::rethrow_exception(e); });
  }
  self->Completed();  // last: may free *self
}

}  // namespace loop
}  // namespace evergreen
