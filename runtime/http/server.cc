#include "runtime/http/server.h"

#include <http_parser.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <exception>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/cancel.h"
#include "runtime/deadline.h"

namespace evergreen {
namespace runtime {
namespace http {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
// A connection keeps its request body's and response's buffers from one
// request to the next up to this size; bigger ones are freed.
constexpr size_t kKeptBufferBytes = 64 * 1024;

// DateHeader returns the current time as an IMF-fixdate, formatted once a
// second.
const std::string& DateHeader() {
  thread_local int64_t formatted_second = -1;
  thread_local std::string value;
  absl::Time now = absl::Now();
  int64_t second = absl::ToUnixSeconds(now);
  if (second != formatted_second) {
    formatted_second = second;
    value =
        absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", now, absl::UTCTimeZone());
  }
  return value;
}

bool BodyAllowed(int status) {
  return status >= 200 && status != 204 && status != 304;
}

class Connection;

}  // namespace

struct Server::State {
  Handler handler;
  ServerOptions options;
  bool draining = false;
  std::set<Connection*> live;
  std::vector<io::TcpListener*> listeners;
};

namespace {

// Connection parses and answers the requests of one stream.
class Connection {
 public:
  Connection(io::Stream& stream, std::shared_ptr<Server::State> state)
      : stream_(stream),
        state_(std::move(state)),
        handler_(state_->handler),
        options_(state_->options) {
    state_->live.insert(this);
    http_parser_init(&parser_, HTTP_REQUEST);
    parser_.data = this;
    http_parser_settings_init(&settings_);
    settings_.on_message_begin = [](http_parser* p) {
      return Self(p)->OnMessageBegin();
    };
    settings_.on_url = [](http_parser* p, const char* at, size_t n) {
      return Self(p)->OnUrl(at, n);
    };
    settings_.on_header_field = [](http_parser* p, const char* at, size_t n) {
      return Self(p)->OnHeaderField(at, n);
    };
    settings_.on_header_value = [](http_parser* p, const char* at, size_t n) {
      return Self(p)->OnHeaderValue(at, n);
    };
    settings_.on_headers_complete = [](http_parser* p) {
      return Self(p)->OnHeadersComplete();
    };
    settings_.on_body = [](http_parser* p, const char* at, size_t n) {
      return Self(p)->OnBody(at, n);
    };
    settings_.on_message_complete = [](http_parser* p) {
      return Self(p)->OnMessageComplete();
    };
  }

  ~Connection() { state_->live.erase(this); }

  // Drain ends the connection if it waits for its next request; one in
  // flight is answered with "Connection: close".
  void Drain() {
    if (idle_scope_ != nullptr) idle_scope_->Cancel();
  }

  void Run() {
    while (true) {
      NextRequest();
      if (!ReadRequest()) return;
      bool keep_going = Answer();
      if (!keep_going) return;
    }
  }

 private:
  enum class Phase { kIdle, kHead, kBody, kDone };

  static Connection* Self(http_parser* p) {
    return static_cast<Connection*>(p->data);
  }

  // NextRequest readies req_ for the next request. Its strings are cleared,
  // not replaced, so that their buffers serve the next request too.
  void NextRequest() {
    req_.method.clear();
    req_.target.clear();
    req_.path.clear();
    req_.query.clear();
    req_.version_major = 1;
    req_.version_minor = 1;
    req_.headers.clear();
    req_.body.clear();
    if (req_.body.capacity() > kKeptBufferBytes) {
      std::string().swap(req_.body);  // an upload's buffer is not kept
    }
    req_.keep_alive = true;
    if (req_.stream == nullptr) {  // the first request
      req_.peer = stream_.peer();
      req_.stream = &stream_;
    }
    field_.clear();
    value_.clear();
    in_value_ = false;
    head_bytes_ = 0;
    phase_ = Phase::kIdle;
  }

  // Parser callbacks: 0 goes on; -1 stops the parser (with error_status_
  // set to the answer). Not 1: from on_headers_complete, 1 means "no body".
  int Fail(int status, std::string detail) {
    error_status_ = status;
    error_detail_ = std::move(detail);
    return -1;
  }
  int CountHead(size_t n) {
    head_bytes_ += n;
    if (head_bytes_ > options_.max_header_bytes) {
      return Fail(431, absl::StrCat("request head over ",
                                    options_.max_header_bytes, " bytes"));
    }
    return 0;
  }
  int OnMessageBegin() {
    phase_ = Phase::kHead;
    head_deadline_ = Deadline::After(options_.header_timeout);
    return 0;
  }
  int OnUrl(const char* at, size_t n) {
    req_.target.append(at, n);
    if (req_.target.size() > options_.max_target_bytes) {
      return Fail(414, absl::StrCat("request target over ",
                                    options_.max_target_bytes, " bytes"));
    }
    return CountHead(n);
  }
  void FinishHeader() {
    if (in_value_) {
      req_.headers.emplace_back(std::move(field_), std::move(value_));
      field_.clear();
      value_.clear();
      in_value_ = false;
    }
  }
  int OnHeaderField(const char* at, size_t n) {
    FinishHeader();
    field_.append(at, n);
    return CountHead(n + 4);  // ": " and CRLF
  }
  int OnHeaderValue(const char* at, size_t n) {
    in_value_ = true;
    value_.append(at, n);
    return CountHead(n);
  }
  int OnHeadersComplete() {
    FinishHeader();
    req_.method = http_method_str(static_cast<http_method>(parser_.method));
    req_.version_major = parser_.http_major;
    req_.version_minor = parser_.http_minor;
    if (parser_.http_major != 1) {
      return Fail(505, absl::StrCat("HTTP/", parser_.http_major, ".",
                                    parser_.http_minor, " is not supported"));
    }
    http_parser_url url;
    http_parser_url_init(&url);
    if (http_parser_parse_url(req_.target.data(), req_.target.size(),
                              req_.method == "CONNECT", &url) != 0) {
      return Fail(400, "malformed request target");
    }
    if (url.field_set & (1 << UF_PATH)) {
      req_.path.assign(req_.target, url.field_data[UF_PATH].off,
                       url.field_data[UF_PATH].len);
    }
    if (url.field_set & (1 << UF_QUERY)) {
      req_.query.assign(req_.target, url.field_data[UF_QUERY].off,
                        url.field_data[UF_QUERY].len);
    }
    if (parser_.content_length != ULLONG_MAX &&
        parser_.content_length > options_.max_body_bytes) {
      return Fail(413, absl::StrCat("request body over ",
                                    options_.max_body_bytes, " bytes"));
    }
    req_.keep_alive = http_should_keep_alive(&parser_) != 0;
    phase_ = Phase::kBody;
    body_deadline_ = Deadline::After(options_.body_timeout);
    return 0;
  }
  int OnBody(const char* at, size_t n) {
    if (req_.body.size() + n > options_.max_body_bytes) {
      return Fail(413, absl::StrCat("request body over ",
                                    options_.max_body_bytes, " bytes"));
    }
    req_.body.append(at, n);
    return 0;
  }
  int OnMessageComplete() {
    // Stop after this request: the next one (pipelined) waits its turn.
    req_.keep_alive = http_should_keep_alive(&parser_) != 0;
    phase_ = Phase::kDone;
    http_parser_pause(&parser_, 1);
    return 0;
  }

  // Feed parses buffered bytes; false once the connection must end (an
  // error response was sent, or the parser cannot go on).
  bool Feed() {
    if (pos_ == in_.size()) return true;
    if (HTTP_PARSER_ERRNO(&parser_) == HPE_PAUSED) {
      http_parser_pause(&parser_, 0);
    }
    size_t n = http_parser_execute(&parser_, &settings_, in_.data() + pos_,
                                   in_.size() - pos_);
    http_errno err = HTTP_PARSER_ERRNO(&parser_);
    if (err == HPE_OK || err == HPE_PAUSED) {
      pos_ += n;
      if (pos_ == in_.size()) {
        in_.clear();
        pos_ = 0;
      }
      return true;
    }
    if (error_status_ == 0) {
      Fail(err == HPE_HEADER_OVERFLOW ? 431 : 400,
           absl::StrCat("malformed request: ", http_errno_description(err)));
    }
    return false;
  }

  // ReadRequest reads until a whole request is parsed: true, or false when
  // the connection ends (after an error response when one is due).
  bool ReadRequest() {
    while (true) {
      if (!Feed()) {
        SendError();
        return false;
      }
      if (phase_ == Phase::kDone) return true;
      if (parser_.upgrade && phase_ != Phase::kIdle) {
        // http-parser stops at the head of an Upgrade request whose body it
        // does not know how to frame: treat the head as the request.
        return true;
      }
      Deadline deadline = phase_ == Phase::kIdle
                              ? Deadline::After(options_.idle_timeout)
                          : phase_ == Phase::kHead ? head_deadline_
                                                   : body_deadline_;
      // Read into in_, whose buffer is kept from request to request. (The
      // parser consumed all of it: a partial request is in req_ already.)
      absl::StatusOr<size_t> got;
      absl::Status timed;
      if (phase_ == Phase::kIdle) {
        if (state_->draining) return false;
        // Waiting for the next request: Shutdown may end the wait.
        CancelScope idle(deadline);
        idle_scope_ = &idle;
        struct Clear {
          CancelScope** p;
          ~Clear() { *p = nullptr; }
        } clear{&idle_scope_};
        timed = idle.Run([&] { got = stream_.ReadSomeInto(&in_, kReadChunk); });
        if (timed.code() == absl::StatusCode::kCancelled) return false;
      } else {
        timed = WithDeadline(
            deadline, [&] { got = stream_.ReadSomeInto(&in_, kReadChunk); });
      }
      if (timed.code() == absl::StatusCode::kDeadlineExceeded) {
        if (phase_ == Phase::kIdle) return false;  // idle keep-alive: close
        Fail(408, phase_ == Phase::kHead ? "request head too slow"
                                         : "request body too slow");
        SendError();
        return false;
      }
      if (!timed.ok()) return false;
      if (!got.ok()) {
        // EOF between requests is the normal end; in the middle of one the
        // client is gone, with no one to answer.
        return false;
      }
    }
  }

  void SendError() {
    if (error_status_ == 0) return;
    Response r = Response::Text(error_status_, error_detail_ + "\n");
    WriteResponse(r, /*close=*/true, /*head_only=*/false);
    LingeringClose();
  }

  // LingeringClose shuts the write side down, then reads and drops what the
  // client still sends (bounded), so that the close does not reset the
  // connection before the client read the response.
  void LingeringClose() {
    if (!stream_.Shutdown().ok()) return;
    size_t dropped = 0;
    (void)WithTimeout(absl::Seconds(1), [&] {
      while (dropped < 1024 * 1024) {
        absl::StatusOr<std::string> r = stream_.ReadSome(kReadChunk);
        if (!r.ok()) return;
        dropped += r->size();
      }
    });
  }

  bool WriteResponse(const Response& r, bool close, bool head_only) {
    // Built in out_, whose buffer is kept from response to response.
    std::string& out = out_;
    out.clear();
    absl::StrAppend(&out, "HTTP/1.1 ", r.status, " ", ReasonPhrase(r.status),
                    "\r\n");
    if (!options_.server_name.empty()) {
      absl::StrAppend(&out, "Server: ", options_.server_name, "\r\n");
    }
    absl::StrAppend(&out, "Date: ", DateHeader(), "\r\n");
    bool has_length = false;
    for (const auto& [name, value] : r.headers) {
      if (absl::EqualsIgnoreCase(name, "Content-Length")) has_length = true;
      if (absl::EqualsIgnoreCase(name, "Connection")) continue;
      absl::StrAppend(&out, name, ": ", value, "\r\n");
    }
    if (!has_length && BodyAllowed(r.status)) {
      absl::StrAppend(&out, "Content-Length: ", r.body.size(), "\r\n");
    }
    if (r.take_over) {
      absl::StrAppend(&out, "Connection: Upgrade\r\n");
    } else if (close) {
      absl::StrAppend(&out, "Connection: close\r\n");
    } else if (req_.version_minor == 0) {
      absl::StrAppend(&out, "Connection: keep-alive\r\n");
    }
    out.append("\r\n");
    if (!head_only && BodyAllowed(r.status)) out.append(r.body);
    if (out.size() > kKeptBufferBytes) {
      // A big response (a file): handed to the stream whole, not kept.
      bool ok = stream_.Write(std::move(out)).ok();
      std::string().swap(out_);
      return ok;
    }
    // Copies only what the kernel does not take at once.
    return stream_.Write(absl::string_view(out)).ok();
  }

  // Answer runs the handler and writes its response; false when the
  // connection is to end.
  bool Answer() {
    Response r;
    bool failed = false;
    try {
      r = handler_(req_);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "http: handler for %s %s threw: %s\n",
                   req_.method.c_str(), req_.target.c_str(), e.what());
      failed = true;
    }
    if (failed) r = Response::Text(500, "internal server error\n");
    if (r.take_over) {
      if (!WriteResponse(r, false, false)) return false;
      std::string leftover = in_.substr(pos_);
      in_.clear();
      pos_ = 0;
      r.take_over(stream_, std::move(leftover));
      return false;
    }
    if (parser_.upgrade) failed = true;  // no protocol switch: cannot go on
    bool close = failed || !req_.keep_alive || state_->draining;
    if (const std::string* c = FindHeader(r.headers, "Connection")) {
      if (absl::EqualsIgnoreCase(*c, "close")) close = true;
    }
    if (!WriteResponse(r, close, req_.method == "HEAD")) return false;
    if (close) {
      LingeringClose();
      return false;
    }
    return true;
  }

  io::Stream& stream_;
  std::shared_ptr<Server::State> state_;
  CancelScope* idle_scope_ = nullptr;  // set while waiting in kIdle
  const Handler& handler_;
  const ServerOptions& options_;
  http_parser parser_;
  http_parser_settings settings_;
  std::string in_;   // bytes read, parsed up to pos_
  std::string out_;  // the response being written
  size_t pos_ = 0;
  Request req_;
  std::string field_, value_;
  bool in_value_ = false;
  size_t head_bytes_ = 0;
  Phase phase_ = Phase::kIdle;
  Deadline head_deadline_ = Deadline::Never();
  Deadline body_deadline_ = Deadline::Never();
  int error_status_ = 0;
  std::string error_detail_;
};

}  // namespace

const std::string* FindHeader(const Headers& headers, absl::string_view name) {
  for (const auto& [n, v] : headers) {
    if (absl::EqualsIgnoreCase(n, name)) return &v;
  }
  return nullptr;
}

void Response::SetHeader(absl::string_view name, std::string value) {
  for (auto it = headers.begin(); it != headers.end();) {
    if (absl::EqualsIgnoreCase(it->first, name)) {
      it = headers.erase(it);
    } else {
      ++it;
    }
  }
  headers.emplace_back(std::string(name), std::move(value));
}

Response Response::Text(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  return r;
}

absl::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 416:
      return "Range Not Satisfiable";
    case 426:
      return "Upgrade Required";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

Server::Server(Handler handler, ServerOptions options)
    : state_(std::make_shared<State>()) {
  state_->handler = std::move(handler);
  state_->options = std::move(options);
}

Server::~Server() = default;

absl::Status Server::Serve(io::TcpListener& listener) {
  if (!state_->handler) {
    return absl::InvalidArgumentError("http serve: no handler");
  }
  if (state_->draining) {
    return absl::FailedPreconditionError("http serve: the server shut down");
  }
  state_->listeners.push_back(&listener);
  std::shared_ptr<State> state = state_;
  absl::Status s = io::Serve(listener, [state](io::TcpStream& conn) {
    (void)conn.SetNoDelay(true);
    Connection(conn, state).Run();
  });
  auto& ls = state_->listeners;
  ls.erase(std::remove(ls.begin(), ls.end(), &listener), ls.end());
  return s;
}

void Server::ServeConnection(io::Stream& stream) {
  if (!state_->handler || state_->draining) return;
  Connection(stream, state_).Run();
}

void Server::Shutdown() {
  if (state_->draining) return;
  state_->draining = true;
  for (io::TcpListener* l : state_->listeners) l->Close();
  for (Connection* c : state_->live) c->Drain();
}

bool Server::draining() const { return state_->draining; }

size_t Server::connections() const { return state_->live.size(); }

void ServeConnection(io::Stream& stream, const Handler& handler,
                     const ServerOptions& options) {
  Server(handler, options).ServeConnection(stream);
}

absl::Status Serve(io::TcpListener& listener, Handler handler,
                   ServerOptions options) {
  if (!handler) return absl::InvalidArgumentError("http serve: no handler");
  Server server(std::move(handler), std::move(options));
  return server.Serve(listener);
}

}  // namespace http
}  // namespace runtime
}  // namespace evergreen
