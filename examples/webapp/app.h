// examples/webapp/app.h: the web demo's application on //runtime/http: a
// page rendered with live data, a JSON endpoint, a WebSocket chat room and
// static files, all from one handler.
//
//   auto app = webapp::App::Create({.static_root = "examples/webapp/static"});
//   http::Server server([&](http::Request& r) { return (*app)->Handle(r); });
//   (*app)->AttachServer(&server);  // for the connection count
//   // on SIGTERM: server.Shutdown(); (*app)->CloseChats();
//
// Routes:
//   GET /            the page: live figures, the last chat messages, the chat
//   GET /api/stats   the same figures as JSON
//   GET /hello       "Hello, World!\n" as text/plain (the benchmark's route)
//   GET /ws?name=N   the chat room's WebSocket (N: up to 32 bytes, UTF-8)
//   GET /static/...  files below AppOptions::static_root
// Routed by an http::Router: other paths are 404, other methods on these
// routes 405 (with Allow). GET routes answer HEAD too.
//
// The chat room: every text message a user sends is broadcast, as JSON, to
// every user (its sender included): {"type":"message","from":N,"text":T};
// joins and leaves are {"type":"join"|"leave","from":N}. Broadcasting never
// blocks: each user has an outbox that a writer task of its own empties
// into the WebSocket, so a slow reader delays only itself; a user whose
// outbox holds more than max_outbox_messages is disconnected; at most
// max_chat_users are in the chat at once (503 for the next one). Binary
// messages are refused (close 1003), messages over max_message_bytes too
// (1009). CloseChats closes every chat with 1001 ("going away").
//
// Loop thread only; Handle runs in a connection's task.
#ifndef EVERGREEN_EXAMPLES_WEBAPP_APP_H_
#define EVERGREEN_EXAMPLES_WEBAPP_APP_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "runtime/http/router.h"
#include "runtime/http/server.h"
#include "runtime/http/static_files.h"
#include "runtime/http/websocket.h"

namespace evergreen {
namespace webapp {

struct AppOptions {
  // The folder /static/ serves (style.css, chat.js).
  std::string static_root;
  // Chat messages waiting for one user above which that user is dropped.
  // Messages are shared between the outboxes, so memory stays below
  // max_chat_users pointers per message plus the messages themselves.
  size_t max_outbox_messages = 256;
  // People in the chat at once; a WebSocket handshake above is 503.
  size_t max_chat_users = 1000;
  // Longest chat message accepted, bytes (the WebSocket closes with 1009).
  size_t max_message_bytes = 4096;
  // Messages the page shows when it is rendered.
  size_t history = 20;
};

// JsonString returns `s` (UTF-8) as a JSON string literal, quotes
// included; '<' is escaped too, so the literal is safe inside HTML.
std::string JsonString(absl::string_view s);
// HtmlEscape escapes &, <, >, " and ' for HTML text and attribute values.
std::string HtmlEscape(absl::string_view s);

class App {
 public:
  // Create checks that static_root is a folder (NotFound / InvalidArgument).
  static absl::StatusOr<std::unique_ptr<App>> Create(AppOptions options);
  App(const App&) = delete;
  App& operator=(const App&) = delete;
  ~App();

  // Handle answers one request (see the file comment).
  runtime::http::Response Handle(runtime::http::Request& req);

  // AttachServer makes /api/stats and the page report `server`'s open
  // connections; `server` must outlive the App's use of it (null detaches).
  void AttachServer(const runtime::http::Server* server) { server_ = server; }

  // CloseChats closes every chat WebSocket with 1001 "server shutting down"
  // and refuses new ones the same way; each session ends once its browser
  // answered the close, or 2 s later. Never blocks.
  void CloseChats();

  // Figures, as /api/stats reports them.
  size_t chat_users() const { return users_.size(); }
  uint64_t chat_messages() const { return messages_; }
  uint64_t requests() const { return requests_; }

 private:
  struct User;
  explicit App(AppOptions options, runtime::http::StaticFiles files);

  runtime::http::Response Page();
  runtime::http::Response Stats();
  runtime::http::Response Chat(runtime::http::Request& req);
  std::string StatsJson() const;
  // Session runs one user's chat in its connection's task.
  void Session(runtime::http::WebSocket& ws, const std::string& name);
  // Broadcast queues `json` for every user (never blocks).
  void Broadcast(const std::string& json);

  AppOptions options_;
  runtime::http::StaticFiles files_;
  runtime::http::Router router_;
  const runtime::http::Server* server_ = nullptr;
  absl::Time started_;
  uint64_t requests_ = 0;
  uint64_t messages_ = 0;
  bool closing_ = false;
  std::list<std::shared_ptr<User>> users_;
  struct Message {
    std::string from;
    std::string text;
    absl::Time at;
  };
  std::deque<Message> recent_;  // the last `history` chat messages
};

}  // namespace webapp
}  // namespace evergreen

#endif  // EVERGREEN_EXAMPLES_WEBAPP_APP_H_
