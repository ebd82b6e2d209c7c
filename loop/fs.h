// loop/fs.h: filesystem operations (libuv's uv_fs_*), each in two forms.
//
// Asynchronous: `fs::Op(loop, args..., cb)` queues the operation in libuv's
// thread pool and returns the request at once; `cb` runs later on the loop
// thread with the FsRequest, which carries the status and the typed result.
// Synchronous: `fs::OpSync(loop, args...)` (the same name with a `Sync`
// suffix) runs the operation in the calling thread, blocking, and returns
// absl::StatusOr<T> or absl::Status.
//
//   evergreen::loop::Loop loop;
//   namespace fs = evergreen::loop::fs;
//   auto req = fs::Stat(loop, "/tmp", [](evergreen::loop::FsRequest& r) {
//     if (r.status().ok()) std::printf("%llu bytes\n",
//                                      (unsigned long long)r.stat().size);
//   });
//   if (!req.ok()) { /* InvalidArgument: NUL in path or empty callback */ }
//   loop.Run();  // the callback ran; the request dropped from the loop
//   absl::StatusOr<fs::FileStat> st = fs::StatSync(loop, "/tmp");
//
// Errors: a failed operation's status is UvStatus(libuv code, "<op>
// <subject>"), e.g. "stat /nope: ENOENT (no such file or directory)",
// "read fd 7: EBADF (bad file descriptor)", "rename /a -> /b: ...". A path
// containing a NUL byte and an empty callback are InvalidArgument, reported
// by the start function before anything reaches libuv.
//
// Cancelling: every asynchronous operation can be cancelled with
// Request::Cancel while it still waits in the thread pool queue; its callback
// then runs with status CANCELLED ("stat /x: ECANCELED (operation
// canceled)") and nothing was done. Once a worker thread picked it up, Cancel
// fails and the operation completes normally. Destroying the Loop cancels
// what is queued and waits for the rest (see loop/request.h).
//
// Lifetime: the loop keeps each request alive until its callback ran, so the
// caller may drop the returned pointer at once. The request owns everything
// libuv reads or writes (paths, the bytes of a write, the read buffer,
// directory entries), never the caller's memory.
//
// Threads: the asynchronous functions and FsRequest are loop thread only.
// The synchronous functions run in the calling thread; libuv does not use
// the loop for them, so they may be called from any thread (an fs::Dir must
// not be used by two threads at once).
//
// Arguments follow libuv and POSIX: `flags` of Open are O_* flags, `mode`
// permission bits; Access takes F_OK/R_OK/W_OK/X_OK; Copyfile takes
// UV_FS_COPYFILE_* flags; Symlink takes UV_FS_SYMLINK_* flags (ignored on
// Unix). An `offset` of -1 for Read and Write means the file's current
// position; other negative offsets are InvalidArgument.
#ifndef EVERGREEN_LOOP_FS_H_
#define EVERGREEN_LOOP_FS_H_

#include <sys/types.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "loop/loop.h"
#include "loop/request.h"

namespace evergreen {
namespace loop {

namespace fs_internal {
struct Impl;
}  // namespace fs_internal

namespace fs {

// FileStat is libuv's uv_stat_t: what Stat, Lstat and Fstat return.
struct FileStat {
  uint64_t dev = 0;
  uint64_t mode = 0;  // type and permission bits (S_ISDIR(mode)...)
  uint64_t nlink = 0;
  uint64_t uid = 0;
  uint64_t gid = 0;
  uint64_t rdev = 0;
  uint64_t ino = 0;
  uint64_t size = 0;
  uint64_t blksize = 0;
  uint64_t blocks = 0;
  uint64_t flags = 0;  // 0 on Linux
  uint64_t gen = 0;    // 0 on Linux
  absl::Time atime = absl::UnixEpoch();
  absl::Time mtime = absl::UnixEpoch();
  absl::Time ctime = absl::UnixEpoch();
  absl::Time birthtime = absl::UnixEpoch();  // epoch when unknown
};

// StatFs is libuv's uv_statfs_t: what Statfs returns.
struct StatFs {
  uint64_t type = 0;
  uint64_t bsize = 0;
  uint64_t blocks = 0;
  uint64_t bfree = 0;
  uint64_t bavail = 0;
  uint64_t files = 0;
  uint64_t ffree = 0;
};

// EntryType is the type of a directory entry (uv_dirent_type_t); kUnknown
// when the file system does not say.
enum class EntryType {
  kUnknown = UV_DIRENT_UNKNOWN,
  kFile = UV_DIRENT_FILE,
  kDir = UV_DIRENT_DIR,
  kLink = UV_DIRENT_LINK,
  kFifo = UV_DIRENT_FIFO,
  kSocket = UV_DIRENT_SOCKET,
  kChar = UV_DIRENT_CHAR,
  kBlock = UV_DIRENT_BLOCK,
};

// DirEntry is one entry of Scandir or Readdir ("." and ".." never appear).
struct DirEntry {
  std::string name;
  EntryType type = EntryType::kUnknown;
};

// TempFile is what MkstempSync returns: the open descriptor (the caller
// closes it) and the created path.
struct TempFile {
  int fd = -1;
  std::string path;
};

// Dir is an open directory stream (uv_dir_t) from Opendir or OpendirSync,
// read with Readdir and closed with Closedir. Held by std::shared_ptr: a
// Readdir or Closedir request keeps it alive while in flight. Only one
// Readdir or Closedir may be in flight on a Dir at a time. Destroying a Dir
// that is still open closes it synchronously, so dropping it is enough.
class Dir {
 public:
  Dir(const Dir&) = delete;
  Dir& operator=(const Dir&) = delete;
  // ~Dir closes the stream if still open (closedir(3) in this thread).
  ~Dir();

  // path returns the path given to Opendir.
  const std::string& path() const { return path_; }
  // IsOpen returns false once Closedir succeeded.
  bool IsOpen() const { return dir_ != nullptr; }
  // Busy returns whether a Readdir or Closedir request is in flight.
  bool Busy() const { return busy_; }

 private:
  friend struct fs_internal::Impl;
  Dir(uv_dir_t* dir, std::string path);

  uv_dir_t* dir_;
  std::string path_;
  bool busy_ = false;
};

}  // namespace fs

class FsRequest;

// FsCallback receives the finished request (status and results). It runs on
// the loop thread, exactly once; what it throws goes to the loop's exception
// handler.
using FsCallback = std::function<void(FsRequest&)>;

// FsRequest is one filesystem operation (uv_fs_t). The getters are valid in
// the callback and afterwards; a typed result is empty (or zero, or -1) for
// operations that do not produce it, and after a failure. Loop thread only.
class FsRequest final : public Request {
 public:
  ~FsRequest() override;

  // status returns OK, or the failure: UvStatus(code, "<op> <subject>"),
  // CANCELLED if Cancel took. Meaningful once the callback runs.
  const absl::Status& status() const { return status_; }
  // result returns libuv's result: a negative libuv error code on failure;
  // otherwise bytes read, written or sent, the fd for Open/Mkstemp, the entry
  // count for Scandir/Readdir, 0 for the rest.
  ssize_t result() const { return result_; }
  // path returns the (first) path the operation worked on, "" for fd ones.
  const std::string& path() const { return path_; }
  // new_path returns the second path of Rename, Link, Symlink, Copyfile.
  const std::string& new_path() const { return new_path_; }

  // stat returns the result of Stat, Lstat, Fstat.
  const fs::FileStat& stat() const { return stat_; }
  // statfs returns the result of Statfs.
  const fs::StatFs& statfs() const { return statfs_; }
  // data returns the bytes Read read (empty at end of file), or the bytes
  // Write was given.
  const std::string& data() const { return data_; }
  // entries returns the entries of Scandir (sorted by name) or Readdir (in
  // directory order; empty once the stream is exhausted).
  const std::vector<fs::DirEntry>& entries() const { return entries_; }
  // link_target returns what Readlink read.
  const std::string& link_target() const { return link_target_; }
  // real_path returns the resolved path of Realpath.
  const std::string& real_path() const { return real_path_; }
  // fd returns the descriptor opened by Open or Mkstemp (the caller owns it
  // and closes it), -1 otherwise.
  int fd() const { return fd_; }
  // created_path returns the path Mkdtemp or Mkstemp created.
  const std::string& created_path() const { return created_path_; }
  // dir returns the stream Opendir opened, or the one Readdir and Closedir
  // worked on.
  const std::shared_ptr<fs::Dir>& dir() const { return dir_; }

 private:
  friend struct fs_internal::Impl;
  FsRequest(Loop& loop, std::string what);
  static void OnDone(uv_fs_t* raw);
  // Finish records the outcome (`rc` is what the uv_fs_* call returned),
  // copies libuv's results out and frees libuv's allocations.
  void Finish(int rc);

  uv_fs_t req_;
  std::string what_;  // "<op> <subject>", the prefix of error messages
  FsCallback cb_;
  absl::Status status_;
  ssize_t result_ = 0;
  std::string path_;
  std::string new_path_;
  std::string data_;
  std::vector<uv_dirent_t> dirents_;  // Readdir's buffer
  fs::FileStat stat_;
  fs::StatFs statfs_;
  std::vector<fs::DirEntry> entries_;
  std::string link_target_;
  std::string real_path_;
  std::string created_path_;
  int fd_ = -1;
  std::shared_ptr<fs::Dir> dir_;
};

namespace fs {

// The asynchronous operations. Each returns the queued request, or
// InvalidArgument (NUL byte in a path, empty callback, bad length or offset)
// or the libuv error when it could not be queued; then `cb` never runs.
// Loop thread only. `cb` runs on the loop thread with the request.

// RequestOr is what the asynchronous operations return.
using RequestOr = absl::StatusOr<std::shared_ptr<FsRequest>>;

// Stat stats `path`, following symlinks; the result is in stat().
RequestOr Stat(Loop& loop, absl::string_view path, FsCallback cb);
// Lstat stats `path` without following a final symlink.
RequestOr Lstat(Loop& loop, absl::string_view path, FsCallback cb);
// Fstat stats the open file `fd`.
RequestOr Fstat(Loop& loop, int fd, FsCallback cb);
// Open opens `path` with O_* `flags` (O_CLOEXEC is added) and `mode` for a
// created file; the descriptor is in fd().
RequestOr Open(Loop& loop, absl::string_view path, int flags, int mode,
               FsCallback cb);
// Read reads up to `length` bytes from `fd` at `offset` (-1: the current
// position, which advances); the bytes are in data(). `length` above
// INT32_MAX is InvalidArgument.
RequestOr Read(Loop& loop, int fd, size_t length, int64_t offset,
               FsCallback cb);
// Write writes all of `data` (kept inside the request) to `fd` at `offset`
// (-1: the current position); result() is the count written.
RequestOr Write(Loop& loop, int fd, std::string data, int64_t offset,
                FsCallback cb);
// Close closes `fd`.
RequestOr Close(Loop& loop, int fd, FsCallback cb);
// Unlink removes the file `path`.
RequestOr Unlink(Loop& loop, absl::string_view path, FsCallback cb);
// Mkdir creates the directory `path` with permission bits `mode`.
RequestOr Mkdir(Loop& loop, absl::string_view path, int mode, FsCallback cb);
// Mkdtemp creates a directory from `tpl`, whose last six characters must be
// "XXXXXX" (EINVAL otherwise); the path is in created_path().
RequestOr Mkdtemp(Loop& loop, absl::string_view tpl, FsCallback cb);
// Mkstemp creates and opens a file from `tpl` (ending in "XXXXXX"); the
// descriptor is in fd(), the path in created_path().
RequestOr Mkstemp(Loop& loop, absl::string_view tpl, FsCallback cb);
// Rmdir removes the empty directory `path`.
RequestOr Rmdir(Loop& loop, absl::string_view path, FsCallback cb);
// Rename renames `path` to `new_path`.
RequestOr Rename(Loop& loop, absl::string_view path, absl::string_view new_path,
                 FsCallback cb);
// Scandir lists the directory `path`; the entries are in entries().
RequestOr Scandir(Loop& loop, absl::string_view path, FsCallback cb);
// Opendir opens the directory `path` as a stream; it is in dir().
RequestOr Opendir(Loop& loop, absl::string_view path, FsCallback cb);
// Readdir reads up to `max_entries` entries from `dir` into entries() (empty
// at the end). InvalidArgument for a null dir or max_entries 0;
// FailedPrecondition when `dir` is closed or busy.
RequestOr Readdir(Loop& loop, std::shared_ptr<Dir> dir, size_t max_entries,
                  FsCallback cb);
// Closedir closes `dir` (then !dir->IsOpen()). Errors as for Readdir.
RequestOr Closedir(Loop& loop, std::shared_ptr<Dir> dir, FsCallback cb);
// Sendfile copies up to `length` bytes from `in_fd` at `in_offset` to
// `out_fd` (at its current position); result() is the count copied.
RequestOr Sendfile(Loop& loop, int out_fd, int in_fd, int64_t in_offset,
                   size_t length, FsCallback cb);
// Fsync flushes `fd`'s data and metadata to storage.
RequestOr Fsync(Loop& loop, int fd, FsCallback cb);
// Fdatasync flushes `fd`'s data to storage.
RequestOr Fdatasync(Loop& loop, int fd, FsCallback cb);
// Ftruncate sets the size of `fd`'s file to `length`.
RequestOr Ftruncate(Loop& loop, int fd, int64_t length, FsCallback cb);
// Utime sets the access and modification times of `path` (microsecond
// resolution), following symlinks.
RequestOr Utime(Loop& loop, absl::string_view path, absl::Time atime,
                absl::Time mtime, FsCallback cb);
// Futime is Utime on the open file `fd`.
RequestOr Futime(Loop& loop, int fd, absl::Time atime, absl::Time mtime,
                 FsCallback cb);
// Lutime is Utime on a symlink itself.
RequestOr Lutime(Loop& loop, absl::string_view path, absl::Time atime,
                 absl::Time mtime, FsCallback cb);
// Chmod sets the permission bits of `path`.
RequestOr Chmod(Loop& loop, absl::string_view path, int mode, FsCallback cb);
// Fchmod sets the permission bits of the open file `fd`.
RequestOr Fchmod(Loop& loop, int fd, int mode, FsCallback cb);
// Chown sets the owner of `path` (-1 leaves an id unchanged).
RequestOr Chown(Loop& loop, absl::string_view path, uv_uid_t uid, uv_gid_t gid,
                FsCallback cb);
// Fchown sets the owner of the open file `fd`.
RequestOr Fchown(Loop& loop, int fd, uv_uid_t uid, uv_gid_t gid, FsCallback cb);
// Lchown sets the owner of a symlink itself.
RequestOr Lchown(Loop& loop, absl::string_view path, uv_uid_t uid, uv_gid_t gid,
                 FsCallback cb);
// Link creates the hard link `new_path` to `path`.
RequestOr Link(Loop& loop, absl::string_view path, absl::string_view new_path,
               FsCallback cb);
// Symlink creates the symlink `new_path` pointing to `path`.
RequestOr Symlink(Loop& loop, absl::string_view path,
                  absl::string_view new_path, int flags, FsCallback cb);
// Readlink reads the target of the symlink `path` into link_target().
RequestOr Readlink(Loop& loop, absl::string_view path, FsCallback cb);
// Realpath resolves `path` into real_path().
RequestOr Realpath(Loop& loop, absl::string_view path, FsCallback cb);
// Copyfile copies the file `path` to `new_path`.
RequestOr Copyfile(Loop& loop, absl::string_view path,
                   absl::string_view new_path, int flags, FsCallback cb);
// Access checks `path` for `mode` (F_OK, R_OK...); EACCES or ENOENT if not.
RequestOr Access(Loop& loop, absl::string_view path, int mode, FsCallback cb);
// Statfs returns the file system statistics of `path` in statfs().
RequestOr Statfs(Loop& loop, absl::string_view path, FsCallback cb);

// The synchronous operations: the same, run in the calling thread and
// returning the result directly. Errors are the ones the callback would see
// (never CANCELLED) plus the InvalidArgument cases above. Any thread.

// StatSync, LstatSync, FstatSync return the file's FileStat.
absl::StatusOr<FileStat> StatSync(Loop& loop, absl::string_view path);
absl::StatusOr<FileStat> LstatSync(Loop& loop, absl::string_view path);
absl::StatusOr<FileStat> FstatSync(Loop& loop, int fd);
// OpenSync returns the new descriptor; the caller closes it.
absl::StatusOr<int> OpenSync(Loop& loop, absl::string_view path, int flags,
                             int mode);
// ReadSync returns the bytes read, empty at end of file.
absl::StatusOr<std::string> ReadSync(Loop& loop, int fd, size_t length,
                                     int64_t offset);
// WriteSync writes `data` in place (no copy) and returns the count written
// (all of it unless an error came after a partial write).
absl::StatusOr<size_t> WriteSync(Loop& loop, int fd, absl::string_view data,
                                 int64_t offset);
// CloseSync closes `fd`.
absl::Status CloseSync(Loop& loop, int fd);
// UnlinkSync removes the file `path`.
absl::Status UnlinkSync(Loop& loop, absl::string_view path);
// MkdirSync creates the directory `path`.
absl::Status MkdirSync(Loop& loop, absl::string_view path, int mode);
// MkdtempSync returns the created directory's path.
absl::StatusOr<std::string> MkdtempSync(Loop& loop, absl::string_view tpl);
// MkstempSync returns the open descriptor (the caller closes it) and path.
absl::StatusOr<TempFile> MkstempSync(Loop& loop, absl::string_view tpl);
// RmdirSync removes the empty directory `path`.
absl::Status RmdirSync(Loop& loop, absl::string_view path);
// RenameSync renames `path` to `new_path`.
absl::Status RenameSync(Loop& loop, absl::string_view path,
                        absl::string_view new_path);
// ScandirSync returns the entries of `path`, sorted by name.
absl::StatusOr<std::vector<DirEntry>> ScandirSync(Loop& loop,
                                                  absl::string_view path);
// OpendirSync returns the open directory stream.
absl::StatusOr<std::shared_ptr<Dir>> OpendirSync(Loop& loop,
                                                 absl::string_view path);
// ReaddirSync returns up to `max_entries` entries, empty at the end. Errors
// as for Readdir (FailedPrecondition while an async request is in flight).
absl::StatusOr<std::vector<DirEntry>> ReaddirSync(
    Loop& loop, const std::shared_ptr<Dir>& dir, size_t max_entries);
// ClosedirSync closes `dir`. Errors as for Closedir.
absl::Status ClosedirSync(Loop& loop, const std::shared_ptr<Dir>& dir);
// SendfileSync returns the count copied.
absl::StatusOr<size_t> SendfileSync(Loop& loop, int out_fd, int in_fd,
                                    int64_t in_offset, size_t length);
// FsyncSync, FdatasyncSync, FtruncateSync: as Fsync, Fdatasync, Ftruncate.
absl::Status FsyncSync(Loop& loop, int fd);
absl::Status FdatasyncSync(Loop& loop, int fd);
absl::Status FtruncateSync(Loop& loop, int fd, int64_t length);
// UtimeSync, FutimeSync, LutimeSync: as Utime, Futime, Lutime.
absl::Status UtimeSync(Loop& loop, absl::string_view path, absl::Time atime,
                       absl::Time mtime);
absl::Status FutimeSync(Loop& loop, int fd, absl::Time atime, absl::Time mtime);
absl::Status LutimeSync(Loop& loop, absl::string_view path, absl::Time atime,
                        absl::Time mtime);
// ChmodSync, FchmodSync: as Chmod, Fchmod.
absl::Status ChmodSync(Loop& loop, absl::string_view path, int mode);
absl::Status FchmodSync(Loop& loop, int fd, int mode);
// ChownSync, FchownSync, LchownSync: as Chown, Fchown, Lchown.
absl::Status ChownSync(Loop& loop, absl::string_view path, uv_uid_t uid,
                       uv_gid_t gid);
absl::Status FchownSync(Loop& loop, int fd, uv_uid_t uid, uv_gid_t gid);
absl::Status LchownSync(Loop& loop, absl::string_view path, uv_uid_t uid,
                        uv_gid_t gid);
// LinkSync, SymlinkSync: as Link, Symlink.
absl::Status LinkSync(Loop& loop, absl::string_view path,
                      absl::string_view new_path);
absl::Status SymlinkSync(Loop& loop, absl::string_view path,
                         absl::string_view new_path, int flags);
// ReadlinkSync returns the symlink's target.
absl::StatusOr<std::string> ReadlinkSync(Loop& loop, absl::string_view path);
// RealpathSync returns the resolved path.
absl::StatusOr<std::string> RealpathSync(Loop& loop, absl::string_view path);
// CopyfileSync copies `path` to `new_path`.
absl::Status CopyfileSync(Loop& loop, absl::string_view path,
                          absl::string_view new_path, int flags);
// AccessSync checks `path` for `mode`.
absl::Status AccessSync(Loop& loop, absl::string_view path, int mode);
// StatfsSync returns the file system statistics of `path`.
absl::StatusOr<StatFs> StatfsSync(Loop& loop, absl::string_view path);

}  // namespace fs
}  // namespace loop
}  // namespace evergreen

#endif  // EVERGREEN_LOOP_FS_H_
