// runtime/http/router.h: a small routing layer for //runtime/http: handlers
// chosen by method and path, with 404 and 405 answered for you.
//
//   http::Router router;
//   router.Get("/", [&](http::Request& r) { return Page(r); })
//       .Get("/api/stats", [&](http::Request& r) { return Stats(r); })
//       .Post("/api/messages", [&](http::Request& r) { return Post(r); })
//       .Prefix("/static/", [&](http::Request& r, absl::string_view rest) {
//         return files.Serve(r, rest);
//       });
//   http::Server server(router.AsHandler());
//
// Matching, on the request's path (still percent-encoded, as sent):
// - an exact route (Get, Post, Route) wins; GET routes also answer HEAD
//   (the server drops the body of a HEAD answer);
// - otherwise the longest matching prefix route, which gets the rest of the
//   path after the prefix and answers every method itself;
// - a path with exact routes but none for the method: 405 with an Allow
//   header listing the methods it has;
// - no match: 404.
// Adding the same method and path twice replaces the handler. Build the
// router before serving: it is not to be changed while requests run (it is
// read-only then, so any number of connections may share it).
#ifndef EVERGREEN_RUNTIME_HTTP_ROUTER_H_
#define EVERGREEN_RUNTIME_HTTP_ROUTER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "runtime/http/server.h"

namespace evergreen {
namespace runtime {
namespace http {

class Router {
 public:
  // A prefix route's handler: the request and the path after the prefix.
  using PrefixHandler = std::function<Response(Request&, absl::string_view)>;

  // Route answers `method` (upper case: "GET", "DELETE", ...) on exactly
  // `path` with `handler`.
  Router& Route(absl::string_view method, absl::string_view path,
                Handler handler);
  Router& Get(absl::string_view path, Handler handler) {
    return Route("GET", path, std::move(handler));
  }
  Router& Post(absl::string_view path, Handler handler) {
    return Route("POST", path, std::move(handler));
  }
  // Prefix answers every path starting with `prefix` that no exact route
  // takes, any method.
  Router& Prefix(absl::string_view prefix, PrefixHandler handler);
  // NotFound replaces the 404 answer.
  Router& NotFound(Handler handler);

  // Answer routes one request.
  Response Answer(Request& req) const;
  // AsHandler returns a Handler for http::Server that routes through this
  // router, which must outlive the server's use of it.
  Handler AsHandler() const {
    return [this](Request& req) { return Answer(req); };
  }

 private:
  // Methods and handlers of one path, in the order they were added.
  using Methods = std::vector<std::pair<std::string, Handler>>;
  std::map<std::string, Methods, std::less<>> exact_;
  // Longest prefix first.
  std::vector<std::pair<std::string, PrefixHandler>> prefixes_;
  Handler not_found_;
};

}  // namespace http
}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_HTTP_ROUTER_H_
