// runtime/http/server.h: an HTTP/1.1 server on //runtime/io, a task per
// connection, requests parsed by Debian's http-parser.
//
//   auto listener = *io::TcpListener::Listen("127.0.0.1", 8080);
//   absl::Status s = http::Serve(*listener, [](http::Request& req) {
//     http::Response r;
//     if (req.path != "/") return http::Response::Text(404, "not found\n");
//     r.body = "hello\n";
//     r.SetHeader("Content-Type", "text/plain");
//     return r;
//   });
//
// What a connection gets:
// - keep-alive (HTTP/1.1 by default, HTTP/1.0 with "Connection:
//   keep-alive") and pipelining: requests already received wait in the
//   connection's buffer and are answered in order, one at a time;
// - request bodies by Content-Length or chunked, delivered whole in
//   Request::body;
// - limits, each answered with its status and the connection closed: a
//   request line whose target is longer than max_target_bytes (414), a head
//   longer than max_header_bytes (431), a body longer than max_body_bytes
//   (413), an HTTP major version other than 1 (505), anything malformed
//   (400, the parser's reason in the body);
// - timeouts against slow clients: a request head (or a request's body)
//   not complete within header_timeout (body_timeout) is answered 408 and
//   the connection closed; a keep-alive connection idle for longer than
//   idle_timeout is closed silently.
// Handlers run in the connection's task: they may block (I/O, locks,
// sleeps). An exception escaping a handler is reported as a 500 and closes
// that connection; other connections go on. Loop thread only.
#ifndef EVERGREEN_RUNTIME_HTTP_SERVER_H_
#define EVERGREEN_RUNTIME_HTTP_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "runtime/io/stream.h"
#include "runtime/io/tcp.h"

namespace evergreen {
namespace runtime {
namespace http {

using Headers = std::vector<std::pair<std::string, std::string>>;

// FindHeader returns the value of the first header named `name` (ASCII
// case-insensitive), or null.
const std::string* FindHeader(const Headers& headers, absl::string_view name);

// Request is one parsed request.
struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // the request-target as sent: "/a%20b?x=1"
  std::string path;    // its path, still percent-encoded: "/a%20b"
  std::string query;   // after '?', without it: "x=1" ("" if none)
  int version_major = 1;
  int version_minor = 1;
  Headers headers;   // in order, names as sent
  std::string body;  // whole (chunked bodies joined)
  std::string peer;  // "127.0.0.1:54321"
  // True if the client may send another request on this connection.
  bool keep_alive = true;
  // The connection, for handlers that take it over (Response::TakeOver):
  // a WebSocket after its handshake. Valid during the handler call.
  io::Stream* stream = nullptr;

  const std::string* Header(absl::string_view name) const {
    return FindHeader(headers, name);
  }
};

// Response is what a handler returns.
struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  // After a response with take_over set (101 Switching Protocols) the
  // server writes the head, then hands the connection to `take_over`, which
  // runs in the connection's task with the bytes the client already sent
  // after the request (`leftover`); the stream is closed when it returns.
  std::function<void(io::Stream& stream, std::string leftover)> take_over;

  // SetHeader replaces the headers named `name` with one.
  void SetHeader(absl::string_view name, std::string value);
  // Text makes a text/plain response.
  static Response Text(int status, std::string body);
};

// ReasonPhrase returns the standard phrase of `status` ("Not Found"), or
// "Unknown".
absl::string_view ReasonPhrase(int status);

struct ServerOptions {
  size_t max_target_bytes = 8 * 1024;   // 414 above
  size_t max_header_bytes = 16 * 1024;  // 431 above (request line included)
  size_t max_body_bytes = 1024 * 1024;  // 413 above
  absl::Duration header_timeout = absl::Seconds(10);  // 408 after
  absl::Duration body_timeout = absl::Seconds(30);    // 408 after
  absl::Duration idle_timeout = absl::Seconds(15);    // close after
  // Value of the Server header; empty sends none.
  std::string server_name = "evergreen";
};

using Handler = std::function<Response(Request&)>;

// Server serves HTTP on any number of listeners and streams, and shuts
// down gracefully:
//
//   http::Server server(handler);
//   // task A:  absl::Status s = server.Serve(*listener);
//   // task B (on SIGTERM):  server.Shutdown();
//
// Shutdown stops accepting (closes the listeners given to Serve), closes
// connections waiting for their next request at once, and lets requests
// in flight finish: each is answered (with "Connection: close") and its
// connection closed. Serve returns once every connection ended. Handlers
// that run long (a WebSocket session) watch draining() or are ended by the
// application (close its WebSockets with 1001). Loop thread only.
class Server {
 public:
  explicit Server(Handler handler, ServerOptions options = {});
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // No task may still be in Serve or ServeConnection.
  ~Server();

  // Serve runs ServeConnection for each connection of `listener` in a task
  // of its own (io::Serve's rules: returns once the listener is closed and
  // every connection ended; a kill or cancel scope around it ends them all).
  // FailedPrecondition once shut down.
  absl::Status Serve(io::TcpListener& listener);
  // ServeConnection answers requests on `stream` (any io::Stream: TCP, TLS,
  // a pipe) until the client closes it, a limit or timeout ends it, a
  // response says "Connection: close", or Shutdown. Returns once the
  // connection is done (the caller closes the stream).
  void ServeConnection(io::Stream& stream);
  // Shutdown: see the class comment. No effect the second time.
  void Shutdown();
  bool draining() const;
  // The connections being served now.
  size_t connections() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

// ServeConnection serves one stream with a Server of its own.
void ServeConnection(io::Stream& stream, const Handler& handler,
                     const ServerOptions& options = {});

// Serve serves `listener` with a Server of its own (never shut down: close
// the listener to end it). InvalidArgument for an empty handler.
absl::Status Serve(io::TcpListener& listener, Handler handler,
                   ServerOptions options = {});

}  // namespace http
}  // namespace runtime
}  // namespace evergreen

#endif  // EVERGREEN_RUNTIME_HTTP_SERVER_H_
