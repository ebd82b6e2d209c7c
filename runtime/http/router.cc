// runtime/http/router.cc: see router.h.
#include "runtime/http/router.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"

namespace evergreen {
namespace runtime {
namespace http {

Router& Router::Route(absl::string_view method, absl::string_view path,
                      Handler handler) {
  Methods& methods = exact_[std::string(path)];
  for (auto& [m, h] : methods) {
    if (m == method) {
      h = std::move(handler);
      return *this;
    }
  }
  methods.emplace_back(std::string(method), std::move(handler));
  return *this;
}

Router& Router::Prefix(absl::string_view prefix, PrefixHandler handler) {
  for (auto& [p, h] : prefixes_) {
    if (p == prefix) {
      h = std::move(handler);
      return *this;
    }
  }
  prefixes_.emplace_back(std::string(prefix), std::move(handler));
  std::stable_sort(prefixes_.begin(), prefixes_.end(),
                   [](const auto& a, const auto& b) {
                     return a.first.size() > b.first.size();
                   });
  return *this;
}

Router& Router::NotFound(Handler handler) {
  not_found_ = std::move(handler);
  return *this;
}

Response Router::Answer(Request& req) const {
  auto it = exact_.find(req.path);
  if (it != exact_.end()) {
    const Handler* get = nullptr;
    for (const auto& [method, handler] : it->second) {
      if (method == req.method) return handler(req);
      if (method == "GET") get = &handler;
    }
    if (get != nullptr && req.method == "HEAD") return (*get)(req);
    std::vector<absl::string_view> allowed;
    bool has_head = false;
    for (const auto& [method, handler] : it->second) {
      if (method == "HEAD") has_head = true;
    }
    for (const auto& [method, handler] : it->second) {
      allowed.push_back(method);
      if (method == "GET" && !has_head) allowed.push_back("HEAD");
    }
    Response r = Response::Text(405, "method not allowed\n");
    r.SetHeader("Allow", absl::StrJoin(allowed, ", "));
    return r;
  }
  for (const auto& [prefix, handler] : prefixes_) {
    if (absl::StartsWith(req.path, prefix)) {
      return handler(req, absl::string_view(req.path).substr(prefix.size()));
    }
  }
  if (not_found_) return not_found_(req);
  return Response::Text(404, "not found\n");
}

}  // namespace http
}  // namespace runtime
}  // namespace evergreen
