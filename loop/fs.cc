#include "loop/fs.h"

#include <climits>
#include <cmath>
#include <cstdint>
#include <functional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "loop/status.h"

namespace evergreen {
namespace loop {
namespace {

absl::Time ToTime(const uv_timespec_t& ts) {
  return absl::FromUnixSeconds(ts.tv_sec) + absl::Nanoseconds(ts.tv_nsec);
}

fs::FileStat ToFileStat(const uv_stat_t& s) {
  fs::FileStat out;
  out.dev = s.st_dev;
  out.mode = s.st_mode;
  out.nlink = s.st_nlink;
  out.uid = s.st_uid;
  out.gid = s.st_gid;
  out.rdev = s.st_rdev;
  out.ino = s.st_ino;
  out.size = s.st_size;
  out.blksize = s.st_blksize;
  out.blocks = s.st_blocks;
  out.flags = s.st_flags;
  out.gen = s.st_gen;
  out.atime = ToTime(s.st_atim);
  out.mtime = ToTime(s.st_mtim);
  out.ctime = ToTime(s.st_ctim);
  out.birthtime = ToTime(s.st_birthtim);
  return out;
}

fs::StatFs ToStatFs(const uv_statfs_t& s) {
  fs::StatFs out;
  out.type = s.f_type;
  out.bsize = s.f_bsize;
  out.blocks = s.f_blocks;
  out.bfree = s.f_bfree;
  out.bavail = s.f_bavail;
  out.files = s.f_files;
  out.ffree = s.f_ffree;
  return out;
}

fs::DirEntry ToEntry(const uv_dirent_t& d) {
  return fs::DirEntry{d.name, static_cast<fs::EntryType>(d.type)};
}

// CheckPath rejects a path libuv would silently cut at its NUL byte.
absl::Status CheckPath(absl::string_view op, absl::string_view path) {
  if (path.find('\0') == absl::string_view::npos) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      op, " \"", absl::CHexEscape(path), "\": path contains a NUL byte"));
}

// Seconds converts a time for libuv, which takes double seconds.
absl::StatusOr<double> Seconds(absl::string_view what, absl::Time t) {
  double s = absl::ToDoubleSeconds(t - absl::UnixEpoch());
  if (!std::isfinite(s)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": infinite time"));
  }
  return s;
}

absl::Status CheckOffset(absl::string_view what, int64_t offset) {
  if (offset >= -1) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(what, ": offset ", offset, " (want >= 0, or -1)"));
}

}  // namespace

namespace fs_internal {

// Starter makes the uv_fs_* call: `cb` is null for the synchronous form.
using Starter =
    std::function<int(uv_loop_t*, uv_fs_t*, const FsRequest&, uv_fs_cb cb)>;

// Prepared is a request whose arguments were checked and copied in, and the
// call that starts it.
struct Prepared {
  std::shared_ptr<FsRequest> req;
  Starter start;
};

struct Impl {
  static std::shared_ptr<FsRequest> New(Loop& loop, std::string what) {
    return std::shared_ptr<FsRequest>(new FsRequest(loop, std::move(what)));
  }

  static absl::StatusOr<Prepared> WithPath(Loop& loop, const char* op,
                                           absl::string_view path,
                                           Starter start) {
    if (absl::Status s = CheckPath(op, path); !s.ok()) return s;
    std::shared_ptr<FsRequest> r = New(loop, absl::StrCat(op, " ", path));
    r->path_ = std::string(path);
    return Prepared{std::move(r), std::move(start)};
  }

  static absl::StatusOr<Prepared> WithPaths(Loop& loop, const char* op,
                                            absl::string_view path,
                                            absl::string_view new_path,
                                            Starter start) {
    if (absl::Status s = CheckPath(op, path); !s.ok()) return s;
    if (absl::Status s = CheckPath(op, new_path); !s.ok()) return s;
    std::shared_ptr<FsRequest> r =
        New(loop, absl::StrCat(op, " ", path, " -> ", new_path));
    r->path_ = std::string(path);
    r->new_path_ = std::string(new_path);
    return Prepared{std::move(r), std::move(start)};
  }

  static absl::StatusOr<Prepared> WithFd(Loop& loop, const char* op, int fd,
                                         Starter start) {
    return Prepared{New(loop, absl::StrCat(op, " fd ", fd)), std::move(start)};
  }

  // Read: libuv fills the request's own buffer, data_.
  static absl::StatusOr<Prepared> Read(Loop& loop, int fd, size_t length,
                                       int64_t offset) {
    std::string what = absl::StrCat("read fd ", fd);
    if (absl::Status s = CheckOffset(what, offset); !s.ok()) return s;
    if (length > static_cast<size_t>(INT32_MAX)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": length ", length, " above ", INT32_MAX));
    }
    std::shared_ptr<FsRequest> r = New(loop, std::move(what));
    r->data_.resize(length);
    uv_buf_t buf;
    buf.base = &r->data_[0];
    buf.len = length;
    return Prepared{std::move(r),
                    [buf, fd, offset](uv_loop_t* l, uv_fs_t* q,
                                      const FsRequest&, uv_fs_cb cb) {
                      return uv_fs_read(l, q, fd, &buf, 1, offset, cb);
                    }};
  }

  // Write: the async form keeps `owned` in the request; the sync form writes
  // `view` in place.
  static absl::StatusOr<Prepared> Write(Loop& loop, int fd, std::string owned,
                                        absl::string_view view, bool sync,
                                        int64_t offset) {
    std::string what = absl::StrCat("write fd ", fd);
    if (absl::Status s = CheckOffset(what, offset); !s.ok()) return s;
    std::shared_ptr<FsRequest> r = New(loop, std::move(what));
    uv_buf_t buf;
    if (sync) {
      buf.base = const_cast<char*>(view.data());
      buf.len = view.size();
    } else {
      r->data_ = std::move(owned);
      buf.base = &r->data_[0];
      buf.len = r->data_.size();
    }
    return Prepared{std::move(r),
                    [buf, fd, offset](uv_loop_t* l, uv_fs_t* q,
                                      const FsRequest&, uv_fs_cb cb) {
                      return uv_fs_write(l, q, fd, &buf, 1, offset, cb);
                    }};
  }

  static absl::Status CheckDir(absl::string_view op,
                               const std::shared_ptr<fs::Dir>& dir) {
    if (dir == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": null dir"));
    }
    if (dir->dir_ == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat(op, " ", dir->path_, ": directory is closed"));
    }
    if (dir->busy_) {
      return absl::FailedPreconditionError(absl::StrCat(
          op, " ", dir->path_, ": a readdir or closedir request is in flight"));
    }
    return absl::OkStatus();
  }

  static absl::StatusOr<Prepared> Readdir(Loop& loop,
                                          std::shared_ptr<fs::Dir> dir,
                                          size_t max_entries) {
    if (absl::Status s = CheckDir("readdir", dir); !s.ok()) return s;
    if (max_entries == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("readdir ", dir->path_, ": max_entries is 0"));
    }
    std::shared_ptr<FsRequest> r =
        New(loop, absl::StrCat("readdir ", dir->path_));
    r->dirents_.resize(max_entries);
    r->dir_ = std::move(dir);
    FsRequest* raw = r.get();
    return Prepared{std::move(r), [raw](uv_loop_t* l, uv_fs_t* q,
                                        const FsRequest&, uv_fs_cb cb) {
                      // Set only now: a request that never starts leaves the
                      // Dir alone.
                      uv_dir_t* d = raw->dir_->dir_;
                      d->dirents = raw->dirents_.data();
                      d->nentries = raw->dirents_.size();
                      return uv_fs_readdir(l, q, d, cb);
                    }};
  }

  static absl::StatusOr<Prepared> Closedir(Loop& loop,
                                           std::shared_ptr<fs::Dir> dir) {
    if (absl::Status s = CheckDir("closedir", dir); !s.ok()) return s;
    std::shared_ptr<FsRequest> r =
        New(loop, absl::StrCat("closedir ", dir->path_));
    uv_dir_t* d = dir->dir_;
    r->dir_ = std::move(dir);
    return Prepared{std::move(r),
                    [d](uv_loop_t* l, uv_fs_t* q, const FsRequest&,
                        uv_fs_cb cb) { return uv_fs_closedir(l, q, d, cb); }};
  }

  static fs::RequestOr Submit(absl::StatusOr<Prepared> p, FsCallback cb) {
    if (!p.ok()) return p.status();
    FsRequest& r = *p->req;
    if (!cb) {
      return absl::InvalidArgumentError(
          absl::StrCat(r.what_, ": empty callback"));
    }
    r.cb_ = std::move(cb);
    int rc = p->start(r.loop().raw(), &r.req_, r, &FsRequest::OnDone);
    if (rc < 0) {
      uv_fs_req_cleanup(&r.req_);
      return UvStatus(rc, r.what_);
    }
    if (r.req_.fs_type == UV_FS_READDIR || r.req_.fs_type == UV_FS_CLOSEDIR) {
      r.dir_->busy_ = true;
    }
    FsRequest::Submitted(p->req);
    return std::move(p->req);
  }

  static absl::StatusOr<std::shared_ptr<FsRequest>> RunSync(
      absl::StatusOr<Prepared> p) {
    if (!p.ok()) return p.status();
    FsRequest& r = *p->req;
    int rc = p->start(r.loop().raw(), &r.req_, r, nullptr);
    r.Finish(rc);
    if (!r.status_.ok()) return r.status_;
    return std::move(p->req);
  }

  // Sync helpers: run and return the status, or the result moved out.
  static absl::Status SyncStatus(absl::StatusOr<Prepared> p) {
    return RunSync(std::move(p)).status();
  }
  static std::string TakeData(FsRequest& r) { return std::move(r.data_); }
  static std::vector<fs::DirEntry> TakeEntries(FsRequest& r) {
    return std::move(r.entries_);
  }
  static std::string TakeLinkTarget(FsRequest& r) {
    return std::move(r.link_target_);
  }
  static std::string TakeRealPath(FsRequest& r) {
    return std::move(r.real_path_);
  }
  static std::string TakeCreatedPath(FsRequest& r) {
    return std::move(r.created_path_);
  }

  static void CloseDirNow(fs::Dir& dir) {
    if (dir.dir_ == nullptr) return;
    uv_fs_t req;
    // Synchronous: libuv does not use the loop, so none is needed.
    uv_fs_closedir(nullptr, &req, dir.dir_, nullptr);
    uv_fs_req_cleanup(&req);
    dir.dir_ = nullptr;
  }

  static std::shared_ptr<fs::Dir> NewDir(uv_dir_t* d, std::string path) {
    return std::shared_ptr<fs::Dir>(new fs::Dir(d, std::move(path)));
  }
  static void MarkClosed(fs::Dir& dir) { dir.dir_ = nullptr; }
  static void SetIdle(fs::Dir& dir) {
    dir.busy_ = false;
    if (dir.dir_ != nullptr) {
      dir.dir_->dirents = nullptr;
      dir.dir_->nentries = 0;
    }
  }
};

}  // namespace fs_internal

using fs_internal::Impl;
using fs_internal::Prepared;

namespace fs {

Dir::Dir(uv_dir_t* dir, std::string path) : dir_(dir), path_(std::move(path)) {}

Dir::~Dir() { Impl::CloseDirNow(*this); }

}  // namespace fs

FsRequest::FsRequest(Loop& loop, std::string what)
    : Request(loop, reinterpret_cast<uv_req_t*>(&req_)),
      req_(),
      what_(std::move(what)) {}

FsRequest::~FsRequest() = default;

void FsRequest::Finish(int rc) {
  // A synchronous call returns req_.result (truncated to int); a call that
  // failed before running returns its error with req_.result still 0.
  result_ = req_.result != 0 ? req_.result : rc;
  status_ = result_ < 0 ? UvStatus(static_cast<int>(result_), what_)
                        : absl::OkStatus();
  if (result_ >= 0) {
    switch (req_.fs_type) {
      case UV_FS_STAT:
      case UV_FS_LSTAT:
      case UV_FS_FSTAT:
        stat_ = ToFileStat(req_.statbuf);
        break;
      case UV_FS_STATFS:
        statfs_ = ToStatFs(*static_cast<uv_statfs_t*>(req_.ptr));
        break;
      case UV_FS_READ:
        data_.resize(static_cast<size_t>(result_));
        break;
      case UV_FS_OPEN:
        fd_ = static_cast<int>(result_);
        break;
      case UV_FS_MKSTEMP:
        fd_ = static_cast<int>(result_);
        created_path_ = req_.path;
        break;
      case UV_FS_MKDTEMP:
        created_path_ = req_.path;
        break;
      case UV_FS_SCANDIR: {
        uv_dirent_t ent;
        while (uv_fs_scandir_next(&req_, &ent) == 0) {
          entries_.push_back(ToEntry(ent));
        }
        break;
      }
      case UV_FS_OPENDIR:
        dir_ = Impl::NewDir(static_cast<uv_dir_t*>(req_.ptr), path_);
        break;
      case UV_FS_READDIR:
        for (ssize_t i = 0; i < result_; ++i) {
          entries_.push_back(ToEntry(dirents_[i]));
        }
        break;
      case UV_FS_CLOSEDIR:
        Impl::MarkClosed(*dir_);  // libuv freed the uv_dir_t
        break;
      case UV_FS_READLINK:
        link_target_ = static_cast<const char*>(req_.ptr);
        break;
      case UV_FS_REALPATH:
        real_path_ = static_cast<const char*>(req_.ptr);
        break;
      default:
        break;
    }
  } else {
    if (req_.fs_type == UV_FS_READ) data_.clear();
    // A cancelled closedir left the uv_dir_t in req_.ptr, which cleanup
    // would free: it still belongs to the (open) Dir.
    if (req_.fs_type == UV_FS_CLOSEDIR) req_.ptr = nullptr;
  }
  uv_fs_req_cleanup(&req_);  // frees readdir's names: after copying them
  if (req_.fs_type == UV_FS_READDIR || req_.fs_type == UV_FS_CLOSEDIR) {
    Impl::SetIdle(*dir_);
  }
  dirents_.clear();
  dirents_.shrink_to_fit();
}

void FsRequest::OnDone(uv_fs_t* raw) {
  auto* self = static_cast<FsRequest*>(static_cast<Request*>(raw->data));
  self->Finish(0);
  // Moved out: the callback's captures are released once it ran, even if
  // the caller keeps the request.
  FsCallback cb = std::move(self->cb_);
  self->loop().Invoke([&] { cb(*self); });
  self->Completed();  // last: may free *self
}

namespace fs {
namespace {

absl::StatusOr<Prepared> PathOp(Loop& loop, const char* op,
                                absl::string_view path,
                                int (*fn)(uv_loop_t*, uv_fs_t*, const char*,
                                          uv_fs_cb)) {
  return Impl::WithPath(
      loop, op, path,
      [fn](uv_loop_t* l, uv_fs_t* q, const FsRequest& r, uv_fs_cb cb) {
        return fn(l, q, r.path().c_str(), cb);
      });
}

absl::StatusOr<Prepared> PathIntOp(Loop& loop, const char* op,
                                   absl::string_view path, int arg,
                                   int (*fn)(uv_loop_t*, uv_fs_t*, const char*,
                                             int, uv_fs_cb)) {
  return Impl::WithPath(
      loop, op, path,
      [fn, arg](uv_loop_t* l, uv_fs_t* q, const FsRequest& r, uv_fs_cb cb) {
        return fn(l, q, r.path().c_str(), arg, cb);
      });
}

absl::StatusOr<Prepared> FdOp(Loop& loop, const char* op, int fd,
                              int (*fn)(uv_loop_t*, uv_fs_t*, uv_file,
                                        uv_fs_cb)) {
  return Impl::WithFd(loop, op, fd,
                      [fn, fd](uv_loop_t* l, uv_fs_t* q, const FsRequest&,
                               uv_fs_cb cb) { return fn(l, q, fd, cb); });
}

absl::StatusOr<Prepared> TwoPathOp(Loop& loop, const char* op,
                                   absl::string_view path,
                                   absl::string_view new_path,
                                   int (*fn)(uv_loop_t*, uv_fs_t*, const char*,
                                             const char*, uv_fs_cb)) {
  return Impl::WithPaths(
      loop, op, path, new_path,
      [fn](uv_loop_t* l, uv_fs_t* q, const FsRequest& r, uv_fs_cb cb) {
        return fn(l, q, r.path().c_str(), r.new_path().c_str(), cb);
      });
}

absl::StatusOr<Prepared> TwoPathIntOp(
    Loop& loop, const char* op, absl::string_view path,
    absl::string_view new_path, int arg,
    int (*fn)(uv_loop_t*, uv_fs_t*, const char*, const char*, int, uv_fs_cb)) {
  return Impl::WithPaths(
      loop, op, path, new_path,
      [fn, arg](uv_loop_t* l, uv_fs_t* q, const FsRequest& r, uv_fs_cb cb) {
        return fn(l, q, r.path().c_str(), r.new_path().c_str(), arg, cb);
      });
}

absl::StatusOr<Prepared> OpenOp(Loop& loop, absl::string_view path, int flags,
                                int mode) {
  return Impl::WithPath(
      loop, "open", path,
      [flags, mode](uv_loop_t* l, uv_fs_t* q, const FsRequest& r, uv_fs_cb cb) {
        return uv_fs_open(l, q, r.path().c_str(), flags, mode, cb);
      });
}

absl::StatusOr<Prepared> SendfileOp(Loop& loop, int out_fd, int in_fd,
                                    int64_t in_offset, size_t length) {
  return Prepared{
      Impl::New(loop, absl::StrCat("sendfile fd ", in_fd, " -> fd ", out_fd)),
      [=](uv_loop_t* l, uv_fs_t* q, const FsRequest&, uv_fs_cb cb) {
        return uv_fs_sendfile(l, q, out_fd, in_fd, in_offset, length, cb);
      }};
}

absl::StatusOr<Prepared> FtruncateOp(Loop& loop, int fd, int64_t length) {
  return Impl::WithFd(
      loop, "ftruncate", fd,
      [fd, length](uv_loop_t* l, uv_fs_t* q, const FsRequest&, uv_fs_cb cb) {
        return uv_fs_ftruncate(l, q, fd, length, cb);
      });
}

absl::StatusOr<Prepared> FchmodOp(Loop& loop, int fd, int mode) {
  return Impl::WithFd(
      loop, "fchmod", fd,
      [fd, mode](uv_loop_t* l, uv_fs_t* q, const FsRequest&, uv_fs_cb cb) {
        return uv_fs_fchmod(l, q, fd, mode, cb);
      });
}

absl::StatusOr<Prepared> PathTimeOp(Loop& loop, const char* op,
                                    absl::string_view path, absl::Time atime,
                                    absl::Time mtime,
                                    int (*fn)(uv_loop_t*, uv_fs_t*, const char*,
                                              double, double, uv_fs_cb)) {
  if (absl::Status s = CheckPath(op, path); !s.ok()) return s;
  std::string what = absl::StrCat(op, " ", path);
  absl::StatusOr<double> a = Seconds(what, atime);
  if (!a.ok()) return a.status();
  absl::StatusOr<double> m = Seconds(what, mtime);
  if (!m.ok()) return m.status();
  return Impl::WithPath(loop, op, path,
                        [fn, a = *a, m = *m](uv_loop_t* l, uv_fs_t* q,
                                             const FsRequest& r, uv_fs_cb cb) {
                          return fn(l, q, r.path().c_str(), a, m, cb);
                        });
}

absl::StatusOr<Prepared> FutimeOp(Loop& loop, int fd, absl::Time atime,
                                  absl::Time mtime) {
  std::string what = absl::StrCat("futime fd ", fd);
  absl::StatusOr<double> a = Seconds(what, atime);
  if (!a.ok()) return a.status();
  absl::StatusOr<double> m = Seconds(what, mtime);
  if (!m.ok()) return m.status();
  return Impl::WithFd(loop, "futime", fd,
                      [fd, a = *a, m = *m](uv_loop_t* l, uv_fs_t* q,
                                           const FsRequest&, uv_fs_cb cb) {
                        return uv_fs_futime(l, q, fd, a, m, cb);
                      });
}

absl::StatusOr<Prepared> PathChownOp(Loop& loop, const char* op,
                                     absl::string_view path, uv_uid_t uid,
                                     uv_gid_t gid,
                                     int (*fn)(uv_loop_t*, uv_fs_t*,
                                               const char*, uv_uid_t, uv_gid_t,
                                               uv_fs_cb)) {
  return Impl::WithPath(loop, op, path,
                        [fn, uid, gid](uv_loop_t* l, uv_fs_t* q,
                                       const FsRequest& r, uv_fs_cb cb) {
                          return fn(l, q, r.path().c_str(), uid, gid, cb);
                        });
}

absl::StatusOr<Prepared> FchownOp(Loop& loop, int fd, uv_uid_t uid,
                                  uv_gid_t gid) {
  return Impl::WithFd(
      loop, "fchown", fd,
      [fd, uid, gid](uv_loop_t* l, uv_fs_t* q, const FsRequest&, uv_fs_cb cb) {
        return uv_fs_fchown(l, q, fd, uid, gid, cb);
      });
}

absl::StatusOr<Prepared> WriteOp(Loop& loop, int fd, std::string data,
                                 int64_t offset) {
  return Impl::Write(loop, fd, std::move(data), {}, /*sync=*/false, offset);
}

}  // namespace

// Asynchronous forms.

RequestOr Stat(Loop& loop, absl::string_view path, FsCallback cb) {
  return Impl::Submit(PathOp(loop, "stat", path, &uv_fs_stat), std::move(cb));
}
RequestOr Lstat(Loop& loop, absl::string_view path, FsCallback cb) {
  return Impl::Submit(PathOp(loop, "lstat", path, &uv_fs_lstat), std::move(cb));
}
RequestOr Fstat(Loop& loop, int fd, FsCallback cb) {
  return Impl::Submit(FdOp(loop, "fstat", fd, &uv_fs_fstat), std::move(cb));
}
RequestOr Open(Loop& loop, absl::string_view path, int flags, int mode,
               FsCallback cb) {
  return Impl::Submit(OpenOp(loop, path, flags, mode), std::move(cb));
}
RequestOr Read(Loop& loop, int fd, size_t length, int64_t offset,
               FsCallback cb) {
  return Impl::Submit(Impl::Read(loop, fd, length, offset), std::move(cb));
}
RequestOr Write(Loop& loop, int fd, std::string data, int64_t offset,
                FsCallback cb) {
  return Impl::Submit(WriteOp(loop, fd, std::move(data), offset),
                      std::move(cb));
}
RequestOr Close(Loop& loop, int fd, FsCallback cb) {
  return Impl::Submit(FdOp(loop, "close", fd, &uv_fs_close), std::move(cb));
}
RequestOr Unlink(Loop& loop, absl::string_view path, FsCallback cb) {
  return Impl::Submit(PathOp(loop, "unlink", path, &uv_fs_unlink),
                      std::move(cb));
}
RequestOr Mkdir(Loop& loop, absl::string_view path, int mode, FsCallback cb) {
  return Impl::Submit(PathIntOp(loop, "mkdir", path, mode, &uv_fs_mkdir),
                      std::move(cb));
}
RequestOr Mkdtemp(Loop& loop, absl::string_view tpl, FsCallback cb) {
  return Impl::Submit(PathOp(loop, "mkdtemp", tpl, &uv_fs_mkdtemp),
                      std::move(cb));
}
RequestOr Mkstemp(Loop& loop, absl::string_view tpl, FsCallback cb) {
  return Impl::Submit(PathOp(loop, "mkstemp", tpl, &uv_fs_mkstemp),
                      std::move(cb));
}
RequestOr Rmdir(Loop& loop, absl::string_view path, FsCallback cb) {
  return Impl::Submit(PathOp(loop, "rmdir", path, &uv_fs_rmdir), std::move(cb));
}
RequestOr Rename(Loop& loop, absl::string_view path, absl::string_view new_path,
                 FsCallback cb) {
  return Impl::Submit(TwoPathOp(loop, "rename", path, new_path, &uv_fs_rename),
                      std::move(cb));
}
RequestOr Scandir(Loop& loop, absl::string_view path, FsCallback cb) {
  // libuv ignores scandir's flags.
  return Impl::Submit(PathIntOp(loop, "scandir", path, 0, &uv_fs_scandir),
                      std::move(cb));
}
RequestOr Opendir(Loop& loop, absl::string_view path, FsCallback cb) {
  return Impl::Submit(PathOp(loop, "opendir", path, &uv_fs_opendir),
                      std::move(cb));
}
RequestOr Readdir(Loop& loop, std::shared_ptr<Dir> dir, size_t max_entries,
                  FsCallback cb) {
  return Impl::Submit(Impl::Readdir(loop, std::move(dir), max_entries),
                      std::move(cb));
}
RequestOr Closedir(Loop& loop, std::shared_ptr<Dir> dir, FsCallback cb) {
  return Impl::Submit(Impl::Closedir(loop, std::move(dir)), std::move(cb));
}
RequestOr Sendfile(Loop& loop, int out_fd, int in_fd, int64_t in_offset,
                   size_t length, FsCallback cb) {
  return Impl::Submit(SendfileOp(loop, out_fd, in_fd, in_offset, length),
                      std::move(cb));
}
RequestOr Fsync(Loop& loop, int fd, FsCallback cb) {
  return Impl::Submit(FdOp(loop, "fsync", fd, &uv_fs_fsync), std::move(cb));
}
RequestOr Fdatasync(Loop& loop, int fd, FsCallback cb) {
  return Impl::Submit(FdOp(loop, "fdatasync", fd, &uv_fs_fdatasync),
                      std::move(cb));
}
RequestOr Ftruncate(Loop& loop, int fd, int64_t length, FsCallback cb) {
  return Impl::Submit(FtruncateOp(loop, fd, length), std::move(cb));
}
RequestOr Utime(Loop& loop, absl::string_view path, absl::Time atime,
                absl::Time mtime, FsCallback cb) {
  return Impl::Submit(
      PathTimeOp(loop, "utime", path, atime, mtime, &uv_fs_utime),
      std::move(cb));
}
RequestOr Futime(Loop& loop, int fd, absl::Time atime, absl::Time mtime,
                 FsCallback cb) {
  return Impl::Submit(FutimeOp(loop, fd, atime, mtime), std::move(cb));
}
RequestOr Lutime(Loop& loop, absl::string_view path, absl::Time atime,
                 absl::Time mtime, FsCallback cb) {
  return Impl::Submit(
      PathTimeOp(loop, "lutime", path, atime, mtime, &uv_fs_lutime),
      std::move(cb));
}
RequestOr Chmod(Loop& loop, absl::string_view path, int mode, FsCallback cb) {
  return Impl::Submit(PathIntOp(loop, "chmod", path, mode, &uv_fs_chmod),
                      std::move(cb));
}
RequestOr Fchmod(Loop& loop, int fd, int mode, FsCallback cb) {
  return Impl::Submit(FchmodOp(loop, fd, mode), std::move(cb));
}
RequestOr Chown(Loop& loop, absl::string_view path, uv_uid_t uid, uv_gid_t gid,
                FsCallback cb) {
  return Impl::Submit(PathChownOp(loop, "chown", path, uid, gid, &uv_fs_chown),
                      std::move(cb));
}
RequestOr Fchown(Loop& loop, int fd, uv_uid_t uid, uv_gid_t gid,
                 FsCallback cb) {
  return Impl::Submit(FchownOp(loop, fd, uid, gid), std::move(cb));
}
RequestOr Lchown(Loop& loop, absl::string_view path, uv_uid_t uid, uv_gid_t gid,
                 FsCallback cb) {
  return Impl::Submit(
      PathChownOp(loop, "lchown", path, uid, gid, &uv_fs_lchown),
      std::move(cb));
}
RequestOr Link(Loop& loop, absl::string_view path, absl::string_view new_path,
               FsCallback cb) {
  return Impl::Submit(TwoPathOp(loop, "link", path, new_path, &uv_fs_link),
                      std::move(cb));
}
RequestOr Symlink(Loop& loop, absl::string_view path,
                  absl::string_view new_path, int flags, FsCallback cb) {
  return Impl::Submit(
      TwoPathIntOp(loop, "symlink", path, new_path, flags, &uv_fs_symlink),
      std::move(cb));
}
RequestOr Readlink(Loop& loop, absl::string_view path, FsCallback cb) {
  return Impl::Submit(PathOp(loop, "readlink", path, &uv_fs_readlink),
                      std::move(cb));
}
RequestOr Realpath(Loop& loop, absl::string_view path, FsCallback cb) {
  return Impl::Submit(PathOp(loop, "realpath", path, &uv_fs_realpath),
                      std::move(cb));
}
RequestOr Copyfile(Loop& loop, absl::string_view path,
                   absl::string_view new_path, int flags, FsCallback cb) {
  return Impl::Submit(
      TwoPathIntOp(loop, "copyfile", path, new_path, flags, &uv_fs_copyfile),
      std::move(cb));
}
RequestOr Access(Loop& loop, absl::string_view path, int mode, FsCallback cb) {
  return Impl::Submit(PathIntOp(loop, "access", path, mode, &uv_fs_access),
                      std::move(cb));
}
RequestOr Statfs(Loop& loop, absl::string_view path, FsCallback cb) {
  return Impl::Submit(PathOp(loop, "statfs", path, &uv_fs_statfs),
                      std::move(cb));
}

// Synchronous forms.

namespace {

absl::StatusOr<FileStat> StatResult(
    absl::StatusOr<std::shared_ptr<FsRequest>> r) {
  if (!r.ok()) return r.status();
  return (*r)->stat();
}

}  // namespace

absl::StatusOr<FileStat> StatSync(Loop& loop, absl::string_view path) {
  return StatResult(Impl::RunSync(PathOp(loop, "stat", path, &uv_fs_stat)));
}
absl::StatusOr<FileStat> LstatSync(Loop& loop, absl::string_view path) {
  return StatResult(Impl::RunSync(PathOp(loop, "lstat", path, &uv_fs_lstat)));
}
absl::StatusOr<FileStat> FstatSync(Loop& loop, int fd) {
  return StatResult(Impl::RunSync(FdOp(loop, "fstat", fd, &uv_fs_fstat)));
}
absl::StatusOr<int> OpenSync(Loop& loop, absl::string_view path, int flags,
                             int mode) {
  auto r = Impl::RunSync(OpenOp(loop, path, flags, mode));
  if (!r.ok()) return r.status();
  return (*r)->fd();
}
absl::StatusOr<std::string> ReadSync(Loop& loop, int fd, size_t length,
                                     int64_t offset) {
  auto r = Impl::RunSync(Impl::Read(loop, fd, length, offset));
  if (!r.ok()) return r.status();
  return Impl::TakeData(**r);
}
absl::StatusOr<size_t> WriteSync(Loop& loop, int fd, absl::string_view data,
                                 int64_t offset) {
  auto r = Impl::RunSync(
      Impl::Write(loop, fd, std::string(), data, /*sync=*/true, offset));
  if (!r.ok()) return r.status();
  return static_cast<size_t>((*r)->result());
}
absl::Status CloseSync(Loop& loop, int fd) {
  return Impl::SyncStatus(FdOp(loop, "close", fd, &uv_fs_close));
}
absl::Status UnlinkSync(Loop& loop, absl::string_view path) {
  return Impl::SyncStatus(PathOp(loop, "unlink", path, &uv_fs_unlink));
}
absl::Status MkdirSync(Loop& loop, absl::string_view path, int mode) {
  return Impl::SyncStatus(PathIntOp(loop, "mkdir", path, mode, &uv_fs_mkdir));
}
absl::StatusOr<std::string> MkdtempSync(Loop& loop, absl::string_view tpl) {
  auto r = Impl::RunSync(PathOp(loop, "mkdtemp", tpl, &uv_fs_mkdtemp));
  if (!r.ok()) return r.status();
  return Impl::TakeCreatedPath(**r);
}
absl::StatusOr<TempFile> MkstempSync(Loop& loop, absl::string_view tpl) {
  auto r = Impl::RunSync(PathOp(loop, "mkstemp", tpl, &uv_fs_mkstemp));
  if (!r.ok()) return r.status();
  return TempFile{(*r)->fd(), Impl::TakeCreatedPath(**r)};
}
absl::Status RmdirSync(Loop& loop, absl::string_view path) {
  return Impl::SyncStatus(PathOp(loop, "rmdir", path, &uv_fs_rmdir));
}
absl::Status RenameSync(Loop& loop, absl::string_view path,
                        absl::string_view new_path) {
  return Impl::SyncStatus(
      TwoPathOp(loop, "rename", path, new_path, &uv_fs_rename));
}
absl::StatusOr<std::vector<DirEntry>> ScandirSync(Loop& loop,
                                                  absl::string_view path) {
  auto r = Impl::RunSync(PathIntOp(loop, "scandir", path, 0, &uv_fs_scandir));
  if (!r.ok()) return r.status();
  return Impl::TakeEntries(**r);
}
absl::StatusOr<std::shared_ptr<Dir>> OpendirSync(Loop& loop,
                                                 absl::string_view path) {
  auto r = Impl::RunSync(PathOp(loop, "opendir", path, &uv_fs_opendir));
  if (!r.ok()) return r.status();
  return (*r)->dir();
}
absl::StatusOr<std::vector<DirEntry>> ReaddirSync(
    Loop& loop, const std::shared_ptr<Dir>& dir, size_t max_entries) {
  auto r = Impl::RunSync(Impl::Readdir(loop, dir, max_entries));
  if (!r.ok()) return r.status();
  return Impl::TakeEntries(**r);
}
absl::Status ClosedirSync(Loop& loop, const std::shared_ptr<Dir>& dir) {
  return Impl::SyncStatus(Impl::Closedir(loop, dir));
}
absl::StatusOr<size_t> SendfileSync(Loop& loop, int out_fd, int in_fd,
                                    int64_t in_offset, size_t length) {
  auto r = Impl::RunSync(SendfileOp(loop, out_fd, in_fd, in_offset, length));
  if (!r.ok()) return r.status();
  return static_cast<size_t>((*r)->result());
}
absl::Status FsyncSync(Loop& loop, int fd) {
  return Impl::SyncStatus(FdOp(loop, "fsync", fd, &uv_fs_fsync));
}
absl::Status FdatasyncSync(Loop& loop, int fd) {
  return Impl::SyncStatus(FdOp(loop, "fdatasync", fd, &uv_fs_fdatasync));
}
absl::Status FtruncateSync(Loop& loop, int fd, int64_t length) {
  return Impl::SyncStatus(FtruncateOp(loop, fd, length));
}
absl::Status UtimeSync(Loop& loop, absl::string_view path, absl::Time atime,
                       absl::Time mtime) {
  return Impl::SyncStatus(
      PathTimeOp(loop, "utime", path, atime, mtime, &uv_fs_utime));
}
absl::Status FutimeSync(Loop& loop, int fd, absl::Time atime,
                        absl::Time mtime) {
  return Impl::SyncStatus(FutimeOp(loop, fd, atime, mtime));
}
absl::Status LutimeSync(Loop& loop, absl::string_view path, absl::Time atime,
                        absl::Time mtime) {
  return Impl::SyncStatus(
      PathTimeOp(loop, "lutime", path, atime, mtime, &uv_fs_lutime));
}
absl::Status ChmodSync(Loop& loop, absl::string_view path, int mode) {
  return Impl::SyncStatus(PathIntOp(loop, "chmod", path, mode, &uv_fs_chmod));
}
absl::Status FchmodSync(Loop& loop, int fd, int mode) {
  return Impl::SyncStatus(FchmodOp(loop, fd, mode));
}
absl::Status ChownSync(Loop& loop, absl::string_view path, uv_uid_t uid,
                       uv_gid_t gid) {
  return Impl::SyncStatus(
      PathChownOp(loop, "chown", path, uid, gid, &uv_fs_chown));
}
absl::Status FchownSync(Loop& loop, int fd, uv_uid_t uid, uv_gid_t gid) {
  return Impl::SyncStatus(FchownOp(loop, fd, uid, gid));
}
absl::Status LchownSync(Loop& loop, absl::string_view path, uv_uid_t uid,
                        uv_gid_t gid) {
  return Impl::SyncStatus(
      PathChownOp(loop, "lchown", path, uid, gid, &uv_fs_lchown));
}
absl::Status LinkSync(Loop& loop, absl::string_view path,
                      absl::string_view new_path) {
  return Impl::SyncStatus(TwoPathOp(loop, "link", path, new_path, &uv_fs_link));
}
absl::Status SymlinkSync(Loop& loop, absl::string_view path,
                         absl::string_view new_path, int flags) {
  return Impl::SyncStatus(
      TwoPathIntOp(loop, "symlink", path, new_path, flags, &uv_fs_symlink));
}
absl::StatusOr<std::string> ReadlinkSync(Loop& loop, absl::string_view path) {
  auto r = Impl::RunSync(PathOp(loop, "readlink", path, &uv_fs_readlink));
  if (!r.ok()) return r.status();
  return Impl::TakeLinkTarget(**r);
}
absl::StatusOr<std::string> RealpathSync(Loop& loop, absl::string_view path) {
  auto r = Impl::RunSync(PathOp(loop, "realpath", path, &uv_fs_realpath));
  if (!r.ok()) return r.status();
  return Impl::TakeRealPath(**r);
}
absl::Status CopyfileSync(Loop& loop, absl::string_view path,
                          absl::string_view new_path, int flags) {
  return Impl::SyncStatus(
      TwoPathIntOp(loop, "copyfile", path, new_path, flags, &uv_fs_copyfile));
}
absl::Status AccessSync(Loop& loop, absl::string_view path, int mode) {
  return Impl::SyncStatus(PathIntOp(loop, "access", path, mode, &uv_fs_access));
}
absl::StatusOr<StatFs> StatfsSync(Loop& loop, absl::string_view path) {
  auto r = Impl::RunSync(PathOp(loop, "statfs", path, &uv_fs_statfs));
  if (!r.ok()) return r.status();
  return (*r)->statfs();
}

}  // namespace fs
}  // namespace loop
}  // namespace evergreen
