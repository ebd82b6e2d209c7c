#include "runtime/http/static_files.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "runtime/io/file.h"

namespace evergreen {
namespace runtime {
namespace http {
namespace {

constexpr char kHttpDateFormat[] = "%a, %d %b %Y %H:%M:%S GMT";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = absl::ascii_tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// OpenedPath returns the real path of the open descriptor `fd`.
std::string OpenedPath(int fd) {
  char buf[PATH_MAX + 1];
  std::string link = absl::StrCat("/proc/self/fd/", fd);
  ssize_t n = readlink(link.c_str(), buf, PATH_MAX);
  if (n <= 0) return "";
  return std::string(buf, static_cast<size_t>(n));
}

// ParseRange reads a single "bytes=" range against a file of `size` bytes:
// 1 satisfiable (sets first, last), 0 to ignore (malformed or several
// ranges: serve the whole file), -1 unsatisfiable.
int ParseRange(absl::string_view header, uint64_t size, uint64_t* first,
               uint64_t* last) {
  absl::string_view spec = absl::StripAsciiWhitespace(header);
  if (!absl::ConsumePrefix(&spec, "bytes=")) return 0;
  if (absl::StrContains(spec, ',')) return 0;
  size_t dash = spec.find('-');
  if (dash == absl::string_view::npos) return 0;
  absl::string_view a = absl::StripAsciiWhitespace(spec.substr(0, dash));
  absl::string_view b = absl::StripAsciiWhitespace(spec.substr(dash + 1));
  uint64_t x = 0, y = 0;
  if (a.empty()) {  // the last y bytes
    if (b.empty() || !absl::SimpleAtoi(b, &y)) return 0;
    if (y == 0) return -1;
    if (size == 0) return -1;
    *first = y >= size ? 0 : size - y;
    *last = size - 1;
    return 1;
  }
  if (!absl::SimpleAtoi(a, &x)) return 0;
  if (b.empty()) {
    y = UINT64_MAX;
  } else if (!absl::SimpleAtoi(b, &y) || y < x) {
    return 0;
  }
  if (x >= size) return -1;
  *first = x;
  *last = y >= size ? size - 1 : y;
  return 1;
}

}  // namespace

std::string HttpDate(absl::Time t) {
  return absl::FormatTime(kHttpDateFormat, t, absl::UTCTimeZone());
}

bool ParseHttpDate(absl::string_view s, absl::Time* t) {
  std::string err;
  return absl::ParseTime(kHttpDateFormat, s, absl::UTCTimeZone(), t, &err);
}

bool PercentDecode(absl::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;  // cut short
    int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

absl::string_view ContentType(absl::string_view name) {
  size_t dot = name.rfind('.');
  size_t slash = name.rfind('/');
  if (dot == absl::string_view::npos ||
      (slash != absl::string_view::npos && dot < slash)) {
    return "application/octet-stream";
  }
  std::string ext = absl::AsciiStrToLower(name.substr(dot + 1));
  static const std::pair<const char*, const char*> kTypes[] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"json", "application/json"},
      {"txt", "text/plain; charset=utf-8"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"ico", "image/x-icon"},
      {"wasm", "application/wasm"},
      {"pdf", "application/pdf"},
      {"woff2", "font/woff2"},
      {"xml", "application/xml"},
  };
  for (const auto& [e, type] : kTypes) {
    if (ext == e) return type;
  }
  return "application/octet-stream";
}

absl::StatusOr<StaticFiles> StaticFiles::Create(absl::string_view root,
                                                StaticFilesOptions options) {
  std::string path(root);
  char resolved[PATH_MAX + 1];
  if (realpath(path.c_str(), resolved) == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("static files ", root, ": no such folder"));
  }
  struct stat st;
  if (stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("static files ", root, ": not a folder"));
  }
  std::string real(resolved);
  if (real.size() > 1 && real.back() == '/') real.pop_back();
  return StaticFiles(std::move(real), std::move(options));
}

Response StaticFiles::Serve(const Request& req, absl::string_view path) const {
  if (req.method != "GET" && req.method != "HEAD") {
    Response r = Response::Text(405, "only GET and HEAD\n");
    r.SetHeader("Allow", "GET, HEAD");
    return r;
  }
  std::string decoded;
  if (!PercentDecode(path, &decoded) ||
      decoded.find('\0') != std::string::npos) {
    return Response::Text(400, "bad path\n");
  }
  std::vector<std::string> parts;
  for (absl::string_view seg : absl::StrSplit(decoded, '/')) {
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") return Response::Text(403, "forbidden\n");
    parts.emplace_back(seg);
  }
  return ServeFile(req, absl::StrJoin(parts, "/"), true, req.path);
}

Response StaticFiles::ServeFile(const Request& req, const std::string& relative,
                                bool folder_ok,
                                absl::string_view request_path) const {
  const std::string full =
      relative.empty() ? root_ : absl::StrCat(root_, "/", relative);
  absl::StatusOr<std::unique_ptr<io::File>> file =
      io::File::Open(full, O_RDONLY | O_NONBLOCK);
  if (!file.ok()) {
    if (file.status().code() == absl::StatusCode::kPermissionDenied ||
        absl::StrContains(file.status().message(), "EACCES")) {
      return Response::Text(403, "forbidden\n");
    }
    return Response::Text(404, "not found\n");
  }
  // What was opened must lie below the root (symlinks may lead out).
  std::string opened = OpenedPath((*file)->fd());
  if (opened != root_ && !absl::StartsWith(opened, root_ + "/")) {
    return Response::Text(403, "forbidden\n");
  }
  absl::StatusOr<io::FileStat> st = (*file)->Stat();
  if (!st.ok()) return Response::Text(500, "stat failed\n");
  if (S_ISDIR(st->mode)) {
    if (!folder_ok || options_.index.empty()) {
      return Response::Text(404, "not found\n");
    }
    if (!absl::EndsWith(request_path, "/")) {
      Response r = Response::Text(301, "moved\n");
      r.SetHeader("Location", absl::StrCat(request_path, "/"));
      return r;
    }
    std::string index = relative.empty()
                            ? options_.index
                            : absl::StrCat(relative, "/", options_.index);
    return ServeFile(req, index, false, request_path);
  }
  if (!S_ISREG(st->mode)) return Response::Text(403, "forbidden\n");
  const uint64_t size = st->size;
  if (size > options_.max_file_bytes) {
    return Response::Text(500, "file too large to serve\n");
  }
  const absl::Time mtime =
      absl::FromUnixSeconds(absl::ToUnixSeconds(st->mtime));
  Response r;
  r.SetHeader("Content-Type", std::string(ContentType(full)));
  r.SetHeader("Last-Modified", HttpDate(mtime));
  r.SetHeader("Accept-Ranges", "bytes");
  if (const std::string* ims = req.Header("If-Modified-Since")) {
    absl::Time since;
    if (ParseHttpDate(*ims, &since) && mtime <= since) {
      r.status = 304;
      return r;
    }
  }
  uint64_t first = 0, last = size == 0 ? 0 : size - 1;
  if (const std::string* range = req.Header("Range")) {
    int ok = ParseRange(*range, size, &first, &last);
    if (ok < 0) {
      Response bad = Response::Text(416, "range not satisfiable\n");
      bad.SetHeader("Content-Range", absl::StrCat("bytes */", size));
      return bad;
    }
    if (ok > 0) {
      r.status = 206;
      r.SetHeader("Content-Range",
                  absl::StrCat("bytes ", first, "-", last, "/", size));
    }
  }
  const uint64_t length = size == 0 ? 0 : last - first + 1;
  r.SetHeader("Content-Length", absl::StrCat(length));
  if (req.method == "HEAD") return r;
  while (r.body.size() < length) {
    absl::StatusOr<std::string> chunk =
        (*file)->ReadAt(std::min<uint64_t>(length - r.body.size(), 1 << 20),
                        static_cast<int64_t>(first + r.body.size()));
    if (!chunk.ok() || chunk->empty()) {
      // Shrunk or unreadable while being served.
      return Response::Text(500, "read failed\n");
    }
    r.body += *chunk;
  }
  return r;
}

}  // namespace http
}  // namespace runtime
}  // namespace evergreen
