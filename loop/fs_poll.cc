#include "loop/fs_poll.h"

#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "loop/status.h"

namespace evergreen {
namespace loop {
namespace {

PolledStat ToPolledStat(const uv_stat_t* st) {
  PolledStat out;
  if (st == nullptr) return out;
  out.size = st->st_size;
  out.mode = st->st_mode;
  out.ino = st->st_ino;
  out.mtime_sec = st->st_mtim.tv_sec;
  out.mtime_nsec = st->st_mtim.tv_nsec;
  return out;
}

}  // namespace

FsPoll::FsPoll(Loop& loop)
    : Handle(loop, reinterpret_cast<uv_handle_t*>(&poll_)) {}

absl::StatusOr<HandlePtr<FsPoll>> FsPoll::Create(Loop& loop) {
  HandlePtr<FsPoll> poll(new FsPoll(loop));
  int rc = uv_fs_poll_init(loop.raw(), &poll->poll_);
  if (rc < 0) return UvStatus(rc, "fs poll init");  // not registered: freed
  poll->Register();
  return poll;
}

absl::Status FsPoll::Start(absl::string_view path, unsigned interval_ms,
                           Callback cb) {
  std::string op = absl::StrCat("fs poll start ", absl::CEscape(path));
  if (absl::Status s = CheckOpen(op); !s.ok()) return s;
  if (!cb || path.find('\0') != absl::string_view::npos) {
    return UvStatus(UV_EINVAL, op);
  }
  // libuv returns 0 and keeps the old path and interval.
  if (IsActive()) return UvStatus(UV_EBUSY, op);
  // libuv 1.44 aborts (an assert in its timer callback) when a restart
  // overlaps a stat the stopped poll still has in flight; its context is
  // freed once that stat finished. Read-only use of a private field.
  if (poll_.poll_ctx != nullptr) {
    absl::Status s = UvStatus(UV_EBUSY, op);
    return absl::Status(
        s.code(), absl::StrCat(s.message(),
                               "; the previous poll is still stopping, retry "
                               "once the loop ran"));
  }
  std::string c_path(path);
  auto new_cb = std::make_shared<Callback>(std::move(cb));
  int rc =
      uv_fs_poll_start(&poll_, &FsPoll::OnChange, c_path.c_str(), interval_ms);
  if (rc < 0) return UvStatus(rc, op);
  path_ = std::move(c_path);
  cb_ = std::move(new_cb);
  return absl::OkStatus();
}

absl::Status FsPoll::Stop() {
  if (absl::Status s = CheckOpen("fs poll stop"); !s.ok()) return s;
  return UvStatus(uv_fs_poll_stop(&poll_), "fs poll stop");
}

absl::StatusOr<std::string> FsPoll::Path() const {
  if (absl::Status s = CheckOpen("fs poll path"); !s.ok()) return s;
  auto* raw = const_cast<uv_fs_poll_t*>(&poll_);
  std::string path(256, '\0');
  size_t size = path.size();
  int rc = uv_fs_poll_getpath(raw, &path[0], &size);
  if (rc == UV_ENOBUFS) {  // `size` is now the length needed, with the NUL
    path.resize(size);
    rc = uv_fs_poll_getpath(raw, &path[0], &size);
  }
  if (rc < 0) return UvStatus(rc, "fs poll path");
  path.resize(size);
  return path;
}

void FsPoll::OnChange(uv_fs_poll_t* raw, int status, const uv_stat_t* prev,
                      const uv_stat_t* curr) {
  auto* self = static_cast<FsPoll*>(static_cast<Handle*>(raw->data));
  // A copy: the callback may restart the poller with another callback.
  std::shared_ptr<Callback> cb = self->cb_;
  if (!cb) return;
  absl::Status s;
  if (status < 0) {
    s = UvStatus(status, absl::StrCat("fs poll ", absl::CEscape(self->path_)));
  }
  PolledStat before = ToPolledStat(prev);
  PolledStat after = ToPolledStat(curr);
  self->loop().Invoke([&] { (*cb)(*self, std::move(s), before, after); });
}

}  // namespace loop
}  // namespace evergreen
