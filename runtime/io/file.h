// runtime/io/file.h: files and filesystem calls that block only the calling
// task; they run on libuv's thread pool (through loop/fs.h).
//
//   namespace io = evergreen::runtime::io;
//   // In a task:
//   absl::StatusOr<std::unique_ptr<io::File>> f =
//       io::File::Open("/tmp/x", O_RDWR | O_CREAT | O_TRUNC, 0644);
//   if (!f.ok()) return f.status();   // "open /tmp/x: EACCES ..."
//   absl::Status w = (*f)->WriteAt("hello", 0);
//   absl::StatusOr<std::string> data = (*f)->ReadAt(5, 0);  // "hello"
//   absl::Status c = (*f)->Close();
//   absl::Status r = io::Rename("/tmp/x", "/tmp/y");
//
// Errors are values naming the operation and the path: "read /tmp/x: EISDIR
// (illegal operation on a directory)". Every call but File::Close fails
// with FailedPrecondition ("<op> <path>: not in a task") outside a task.
//
// Cancellation: a kill, cancel scope or timeout interrupting a call cancels
// its request while it still waits in the pool's queue (then nothing was
// done); a request already running cannot be stopped: it completes in the
// background and its result is dropped (a read's bytes, a write that may
// have happened; a file an interrupted Open opened is closed). The call
// unwinds at once either way; a File's descriptor is closed only once no
// request of it runs any more. Loop thread only.
#ifndef EVERGREEN_RUNTIME_IO_FILE_H_
#define EVERGREEN_RUNTIME_IO_FILE_H_

#include <fcntl.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loop/fs.h"

namespace evergreen {
namespace runtime {
namespace io {

using FileStat = loop::fs::FileStat;
using DirEntry = loop::fs::DirEntry;

namespace io_file_internal {
struct Core;
}  // namespace io_file_internal

class File {
 public:
  // Open opens `path` with O_* `flags` (O_CLOEXEC is added) and `mode` for
  // a created file. Errors: "open /x: ENOENT (no such file or directory)",
  // EACCES..., InvalidArgument for a NUL byte in the path.
  static absl::StatusOr<std::unique_ptr<File>> Open(absl::string_view path,
                                                    int flags, int mode = 0644);

  File(const File&) = delete;
  File& operator=(const File&) = delete;
  // ~File closes the descriptor if Close was not called (synchronously, or
  // later when an abandoned request still runs); errors are lost: call
  // Close to see them.
  ~File();

  // Read reads up to `max` bytes at the current position (which advances).
  // Returns the bytes, empty at end of file. InvalidArgument for `max` above
  // INT32_MAX; FailedPrecondition once closed.
  absl::StatusOr<std::string> Read(size_t max);
  // ReadAt reads up to `max` bytes at `offset` (>= 0) without moving the
  // position. Empty at or past end of file.
  absl::StatusOr<std::string> ReadAt(size_t max, int64_t offset);
  // Write writes all of `data` at the current position (which advances).
  absl::Status Write(std::string data);
  // WriteAt writes all of `data` at `offset` (>= 0) without moving the
  // position.
  absl::Status WriteAt(std::string data, int64_t offset);
  // Stat returns the open file's FileStat.
  absl::StatusOr<FileStat> Stat();
  // Sync flushes the file's data and metadata to storage (fsync).
  absl::Status Sync();
  // Close closes the descriptor and returns close's error, if any (outside
  // a task: synchronously, in the calling thread). Calls
  // still blocked on the file (other tasks) complete first: then the
  // descriptor is closed in the background and Close returns OK. No effect
  // (OK) when already closed.
  absl::Status Close();

  // path returns the path given to Open; fd the descriptor (-1 once
  // closed).
  const std::string& path() const { return path_; }
  int fd() const;

 private:
  File(std::string path, int fd);
  absl::StatusOr<std::shared_ptr<loop::FsRequest>> Run(
      absl::string_view op,
      const std::function<absl::StatusOr<std::shared_ptr<loop::FsRequest>>(
          loop::Loop&, int fd, loop::FsCallback)>& start);
  absl::StatusOr<std::string> DoRead(size_t max, int64_t offset);
  absl::Status DoWrite(std::string data, int64_t offset);

  std::string path_;
  std::shared_ptr<io_file_internal::Core> core_;
};

// Stat returns the FileStat of `path`, following symlinks.
absl::StatusOr<FileStat> Stat(absl::string_view path);
// Unlink removes the file `path`.
absl::Status Unlink(absl::string_view path);
// Mkdir creates the directory `path` with permission bits `mode`.
absl::Status Mkdir(absl::string_view path, int mode = 0777);
// Rmdir removes the empty directory `path`.
absl::Status Rmdir(absl::string_view path);
// Rename renames `from` to `to` (replacing `to` if it exists).
absl::Status Rename(absl::string_view from, absl::string_view to);
// Scandir returns the entries of the directory `path`, sorted by name,
// without "." and "..".
absl::StatusOr<std::vector<DirEntry>> Scandir(absl::string_view path);

}  // namespace io
}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_IO_FILE_H_
