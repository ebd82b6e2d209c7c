#include "loop/fs_event.h"

#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "loop/status.h"

namespace evergreen {
namespace loop {

FsEvent::FsEvent(Loop& loop)
    : Handle(loop, reinterpret_cast<uv_handle_t*>(&event_)) {}

absl::StatusOr<HandlePtr<FsEvent>> FsEvent::Create(Loop& loop) {
  HandlePtr<FsEvent> event(new FsEvent(loop));
  int rc = uv_fs_event_init(loop.raw(), &event->event_);
  if (rc < 0) return UvStatus(rc, "fs event init");  // not registered: freed
  event->Register();
  return event;
}

absl::Status FsEvent::Start(absl::string_view path, unsigned flags,
                            Callback cb) {
  std::string op = absl::StrCat("fs event start ", absl::CEscape(path));
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  if (!cb || (flags & ~kRecursive) != 0 ||
      path.find('\0') != absl::string_view::npos) {
    return UvStatus(UV_EINVAL, op);
  }
  // libuv says EINVAL; EBUSY tells what is wrong.
  if (IsActive()) return UvStatus(UV_EBUSY, op);
  std::string c_path(path);
  cb_ = std::make_shared<Callback>(std::move(cb));
  return UvStatus(
      uv_fs_event_start(&event_, &FsEvent::OnEvent, c_path.c_str(), flags), op);
}

absl::Status FsEvent::Stop() {
  if (absl::Status s = CheckOpen("fs event stop"); !s.ok()) return s;
  return UvStatus(uv_fs_event_stop(&event_), "fs event stop");
}

absl::StatusOr<std::string> FsEvent::Path() const {
  if (absl::Status s = CheckOpen("fs event path"); !s.ok()) return s;
  auto* raw = const_cast<uv_fs_event_t*>(&event_);
  std::string path(256, '\0');
  size_t size = path.size();
  int rc = uv_fs_event_getpath(raw, &path[0], &size);
  if (rc == UV_ENOBUFS) {  // `size` is now the length needed, with the NUL
    path.resize(size);
    rc = uv_fs_event_getpath(raw, &path[0], &size);
  }
  if (rc < 0) return UvStatus(rc, "fs event path");
  path.resize(size);
  return path;
}

void FsEvent::OnEvent(uv_fs_event_t* raw, const char* filename, int events,
                      int status) {
  auto* self = static_cast<FsEvent*>(static_cast<Handle*>(raw->data));
  // A copy: the callback may restart the watcher with another callback.
  std::shared_ptr<Callback> cb = self->cb_;
  if (!cb) return;
  absl::string_view name = filename == nullptr ? "" : filename;
  absl::Status s;
  if (status < 0) {
    s = UvStatus(status, absl::StrCat("fs event ", self->event_.path == nullptr
                                                       ? ""
                                                       : self->event_.path));
  }
  self->loop().Invoke([&] { (*cb)(*self, name, events, std::move(s)); });
}

}  // namespace loop
}  // namespace evergreen
