// runtime/http/static_files.h: serving a folder's files over
// //runtime/http, safely.
//
//   auto files = http::StaticFiles::Create("/srv/www");  // must exist
//   if (!files.ok()) return files.status();
//   http::Handler h = [files = *files](http::Request& req) {
//     absl::string_view path = req.path;
//     if (absl::ConsumePrefix(&path, "/static/")) {
//       return files.Serve(req, path);
//     }
//     return http::Response::Text(404, "not found\n");
//   };
//
// Serve answers GET and HEAD (405 otherwise) for the file at `path` below
// the root: the path is percent-decoded; a NUL byte (400) or a ".."
// segment (403) is refused before any file is opened; the file is then
// opened and what was actually opened is checked to lie below the root's
// real path (/proc/self/fd), so a symlink leading out of the root is 403
// even if it changes between check and open; symlinks that stay inside are
// followed. A folder serves its index file (`index`) and a folder path
// without its final slash is redirected (301) to it. Answers carry
// Content-Type (by extension), Content-Length, Last-Modified and
// Accept-Ranges; If-Modified-Since gives 304; a single "bytes=" Range
// gives 206 with Content-Range (416 when it starts past the end; several
// ranges are answered with the whole file). Files are read on libuv's
// thread pool (io::File) and sent whole: larger than max_file_bytes is 500.
// Loop thread, in a task.
#ifndef EVERGREEN_RUNTIME_HTTP_STATIC_FILES_H_
#define EVERGREEN_RUNTIME_HTTP_STATIC_FILES_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "runtime/http/server.h"

namespace evergreen {
namespace runtime {
namespace http {

struct StaticFilesOptions {
  std::string index = "index.html";
  size_t max_file_bytes = 64 * 1024 * 1024;
};

class StaticFiles {
 public:
  // Create resolves `root` (a folder) to its real path. NotFound or
  // InvalidArgument ("static files /x: not a folder") otherwise.
  static absl::StatusOr<StaticFiles> Create(absl::string_view root,
                                            StaticFilesOptions options = {});

  // Serve answers `req` with the file at `path` (relative to the root, as
  // sent: percent-encoded, with or without a leading '/').
  Response Serve(const Request& req, absl::string_view path) const;

  const std::string& root() const { return root_; }

 private:
  StaticFiles(std::string root, StaticFilesOptions options)
      : root_(std::move(root)), options_(std::move(options)) {}
  Response ServeFile(const Request& req, const std::string& relative,
                     bool folder_ok, absl::string_view request_path) const;

  std::string root_;  // real path, no trailing '/'
  StaticFilesOptions options_;
};

// ContentType returns the media type for a file name's extension
// ("application/octet-stream" when unknown).
absl::string_view ContentType(absl::string_view name);

// HttpDate formats `t` as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT");
// ParseHttpDate reads one (false when malformed).
std::string HttpDate(absl::Time t);
bool ParseHttpDate(absl::string_view s, absl::Time* t);

// PercentDecode decodes %XX escapes ('+' is left alone: it is a path);
// false for a malformed escape.
bool PercentDecode(absl::string_view in, std::string* out);

}  // namespace http
}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_HTTP_STATIC_FILES_H_
