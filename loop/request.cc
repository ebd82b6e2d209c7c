#include "loop/request.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "loop/status.h"

namespace evergreen {
namespace loop {

Request::Request(Loop& loop, uv_req_t* raw) : loop_(&loop), raw_(raw) {}

Request::~Request() = default;

absl::Status Request::Cancel() {
  std::string op = absl::StrCat(TypeName(), " cancel");
  if (!in_flight_) return UvStatus(UV_EBUSY, op);
  return UvStatus(uv_cancel(raw_), op);
}

absl::string_view Request::TypeName() const {
  const char* name = uv_req_type_name(raw_->type);
  return name == nullptr ? "request" : name;
}

void Request::Submitted(std::shared_ptr<Request> self) {
  self->in_flight_ = true;
  self->raw_->data = self.get();
  Loop* loop = self->loop_;
  loop->requests_.emplace(self.get(), std::move(self));
}

void Request::Completed() {
  in_flight_ = false;
  // Last: may destroy *this.
  loop_->requests_.erase(this);
}

}  // namespace loop
}  // namespace evergreen
