// examples/webapp/app.cc: see app.h.
#include "examples/webapp/app.h"

#include <cstdio>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "runtime/cancel.h"
#include "runtime/event.h"
#include "runtime/task.h"
#include "runtime/task_group.h"

namespace evergreen {
namespace webapp {

namespace http = runtime::http;

namespace {

constexpr size_t kMaxNameBytes = 32;
constexpr int kUnsupportedData = 1003;  // RFC 6455 7.4.1
// How long a closing session waits for the browser's close frame.
constexpr absl::Duration kCloseWait = absl::Seconds(2);

// QueryValue returns the percent-decoded value of `key` in `query` ('+' is
// a space there), or nullopt-like false when absent or malformed.
bool QueryValue(absl::string_view query, absl::string_view key,
                std::string* value) {
  for (absl::string_view pair : absl::StrSplit(query, '&')) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    if (kv.first != key) continue;
    std::string plus(kv.second);
    for (char& c : plus) {
      if (c == '+') c = ' ';
    }
    return http::PercentDecode(plus, value);
  }
  return false;
}

std::string ClockTime(absl::Time t) {
  return absl::FormatTime("%H:%M:%S", t, absl::UTCTimeZone());
}

}  // namespace

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
          out += buf;
        } else if (c == '<') {
          out += "\\u003c";  // safe inside a <script> too
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string HtmlEscape(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// User is one chat member: the outbox its writer task empties.
struct App::User {
  http::WebSocket* ws = nullptr;
  std::string name;
  // Messages are shared by every outbox they are in: one copy each.
  std::deque<std::shared_ptr<const std::string>> outbox;
  bool dropped = false;     // too slow, or gone
  bool going_away = false;  // CloseChats: close with 1001
  // The session's group (its writer task and the reader), while it runs.
  runtime::TaskGroup* group = nullptr;
  runtime::Event ready;  // outbox not empty, dropped or going_away
};

absl::StatusOr<std::unique_ptr<App>> App::Create(AppOptions options) {
  absl::StatusOr<http::StaticFiles> files =
      http::StaticFiles::Create(options.static_root);
  if (!files.ok()) return files.status();
  return std::unique_ptr<App>(new App(std::move(options), std::move(*files)));
}

App::App(AppOptions options, http::StaticFiles files)
    : options_(std::move(options)),
      files_(std::move(files)),
      started_(absl::Now()) {
  router_.Get("/", [this](http::Request&) { return Page(); })
      .Get("/api/stats", [this](http::Request&) { return Stats(); })
      .Get("/hello",
           [](http::Request&) {
             http::Response r;
             r.body = "Hello, World!\n";
             r.SetHeader("Content-Type", "text/plain");
             return r;
           })
      .Get("/ws", [this](http::Request& req) { return Chat(req); })
      .Prefix("/static/", [this](http::Request& req, absl::string_view rest) {
        return files_.Serve(req, rest);
      });
}

App::~App() = default;

http::Response App::Handle(http::Request& req) {
  ++requests_;
  return router_.Answer(req);
}

std::string App::StatsJson() const {
  absl::Time now = absl::Now();
  return absl::StrCat(
      "{\"uptime_seconds\":", absl::ToInt64Seconds(now - started_),
      ",\"requests\":", requests_,
      ",\"connections\":", server_ != nullptr ? server_->connections() : 0,
      ",\"chat_users\":", users_.size(), ",\"chat_messages\":", messages_,
      ",\"server_time\":",
      JsonString(absl::FormatTime(absl::RFC3339_sec, now, absl::UTCTimeZone())),
      "}");
}

http::Response App::Stats() {
  http::Response r;
  r.body = StatsJson();
  r.body += '\n';
  r.SetHeader("Content-Type", "application/json");
  r.SetHeader("Cache-Control", "no-store");
  return r;
}

http::Response App::Page() {
  absl::Time now = absl::Now();
  std::string recent;
  for (const Message& m : recent_) {
    absl::StrAppend(&recent, "      <li><time>", ClockTime(m.at), "</time> <b>",
                    HtmlEscape(m.from), "</b> ", HtmlEscape(m.text), "</li>\n");
  }
  http::Response r;
  r.body = absl::StrCat(
      "<!doctype html>\n<html lang=\"en\">\n<head>\n"
      "  <meta charset=\"utf-8\">\n"
      "  <title>evergreen web demo</title>\n"
      "  <link rel=\"stylesheet\" href=\"/static/style.css\">\n"
      "  <script src=\"/static/chat.js\" defer></script>\n"
      "</head>\n<body>\n"
      "  <h1>evergreen</h1>\n"
      "  <p class=\"lead\">One process, one thread: this page, its JSON, the "
      "chat's WebSocket and the static files are all served by tasks on "
      "evergreen's runtime.</p>\n"
      "  <section id=\"stats\">\n"
      "    <h2>Live figures</h2>\n"
      "    <dl>\n"
      "      <dt>Server time (UTC)</dt><dd id=\"server_time\">",
      HtmlEscape(absl::FormatTime(absl::RFC3339_sec, now, absl::UTCTimeZone())),
      "</dd>\n"
      "      <dt>Uptime</dt><dd><span id=\"uptime_seconds\">",
      absl::ToInt64Seconds(now - started_),
      "</span> s</dd>\n"
      "      <dt>Requests served</dt><dd id=\"requests\">",
      requests_,
      "</dd>\n"
      "      <dt>Open connections</dt><dd id=\"connections\">",
      server_ != nullptr ? server_->connections() : 0,
      "</dd>\n"
      "      <dt>People in the chat</dt><dd id=\"chat_users\">",
      users_.size(),
      "</dd>\n"
      "      <dt>Chat messages</dt><dd id=\"chat_messages\">",
      messages_,
      "</dd>\n"
      "    </dl>\n"
      "  </section>\n"
      "  <section id=\"chat\">\n"
      "    <h2>Chat <small id=\"status\">connecting</small></h2>\n"
      "    <ul id=\"messages\">\n",
      recent,
      "    </ul>\n"
      "    <form id=\"send\">\n"
      "      <input id=\"name\" maxlength=\"32\" placeholder=\"your name\">\n"
      "      <input id=\"text\" autocomplete=\"off\" placeholder=\"say "
      "something\">\n"
      "      <button>Send</button>\n"
      "    </form>\n"
      "  </section>\n"
      "</body>\n</html>\n");
  r.SetHeader("Content-Type", "text/html; charset=utf-8");
  r.SetHeader("Cache-Control", "no-store");
  return r;
}

http::Response App::Chat(http::Request& req) {
  std::string name;
  if (!QueryValue(req.query, "name", &name) || name.empty()) {
    name = "anonymous";
  }
  if (name.size() > kMaxNameBytes || !http::ValidUtf8(name)) {
    return http::Response::Text(
        400, absl::StrCat("chat: the name must be UTF-8 of at most ",
                          kMaxNameBytes, " bytes\n"));
  }
  if (users_.size() >= options_.max_chat_users) {
    return http::Response::Text(503, "chat: full, try again later\n");
  }
  http::WebSocketOptions options;
  options.max_message_bytes = options_.max_message_bytes;
  return http::WebSocket::Accept(
      req, [this, name](http::WebSocket& ws) { Session(ws, name); }, options);
}

void App::Broadcast(const std::string& json) {
  auto message = std::make_shared<const std::string>(json);
  for (const std::shared_ptr<User>& u : users_) {
    if (u->dropped || u->going_away) continue;
    if (u->outbox.size() >= options_.max_outbox_messages) {
      // Too slow: end the session. Its writer may be blocked in a write
      // this user does not read, so the session is cancelled from here.
      u->dropped = true;
      if (u->group != nullptr) u->group->Cancel();
    } else {
      u->outbox.push_back(message);
    }
    u->ready.Set();
  }
}

void App::CloseChats() {
  closing_ = true;
  for (const std::shared_ptr<User>& u : users_) {
    u->going_away = true;
    u->ready.Set();
  }
}

void App::Session(http::WebSocket& ws, const std::string& name) {
  if (closing_) {
    (void)ws.Close(http::WebSocket::kGoingAway, "server shutting down");
    (void)runtime::WithTimeout(kCloseWait, [&] {
      while (ws.Receive().ok()) {
      }
    });
    return;
  }
  auto user = std::make_shared<User>();
  user->ws = &ws;
  user->name = name;
  auto it = users_.insert(users_.end(), user);
  // Leaves the room however the session ends (a kill or a forced shutdown
  // unwinds through here too).
  struct Leave {
    std::list<std::shared_ptr<User>>& users;
    std::list<std::shared_ptr<User>>::iterator it;
    ~Leave() {
      (*it)->group = nullptr;
      (*it)->dropped = true;
      users.erase(it);
    }
  } leave{users_, it};
  Broadcast(
      absl::StrCat("{\"type\":\"join\",\"from\":", JsonString(name), "}"));
  (void)runtime::TaskGroup::Run([&](runtime::TaskGroup& g) {
    user->group = &g;
    // The writer: empties the outbox; closes with 1001 on CloseChats.
    (void)g.Spawn([user, &ws, &g] {
      while (true) {
        while (user->outbox.empty() && !user->dropped && !user->going_away) {
          user->ready.Clear();
          (void)user->ready.Wait();
        }
        if (user->dropped) {
          // Too slow (or gone): end the session without a close frame,
          // which could block on the buffers this user does not empty.
          g.Cancel();
          return;
        }
        if (user->going_away) {
          (void)ws.Close(http::WebSocket::kGoingAway, "server shutting down");
          // The reader ends when the browser answers; this bounds the wait.
          (void)runtime::Sleep(kCloseWait);
          g.Cancel();
          return;
        }
        std::shared_ptr<const std::string> json =
            std::move(user->outbox.front());
        user->outbox.pop_front();
        if (!ws.Send(*json).ok()) {
          user->dropped = true;
          g.Cancel();
          return;
        }
      }
    });
    while (true) {
      absl::StatusOr<http::WebSocket::Message> m = ws.Receive();
      if (!m.ok()) break;
      if (m->binary) {
        // No more broadcasts for this user (its writer just ends it once
        // the wait below is over).
        user->going_away = true;
        (void)ws.Close(kUnsupportedData, "text messages only");
        // Wait (a bounded time) for the browser's answer to the close.
        (void)runtime::WithTimeout(kCloseWait, [&] {
          while (ws.Receive().ok()) {
          }
        });
        break;
      }
      if (user->going_away) continue;
      ++messages_;
      absl::Time now = absl::Now();
      recent_.push_back(Message{name, m->data, now});
      while (recent_.size() > options_.history) recent_.pop_front();
      Broadcast(absl::StrCat(
          "{\"type\":\"message\",\"from\":", JsonString(name), ",\"text\":",
          JsonString(m->data), ",\"time\":", JsonString(ClockTime(now)), "}"));
      // Let the writers run before the next message (Receive returns
      // buffered messages without blocking): an outbox then grows only for
      // a user who does not read.
      (void)runtime::Yield();
    }
    g.Cancel();  // the user left: stop its writer
  });
  // The group ended: the user is no longer in it.
  user->group = nullptr;
  user->dropped = true;
  Broadcast(
      absl::StrCat("{\"type\":\"leave\",\"from\":", JsonString(name), "}"));
}

}  // namespace webapp
}  // namespace evergreen
