// crawler: a bounded-concurrency web crawler on //runtime/io, run against a
// local HTTP server that the example starts itself.
//
//   bazel-bin/examples/crawler --pages=500 --concurrency=16
//   site: 500 generated pages on http://127.0.0.1:40123/
//   crawled 500 pages (1062345 bytes) in 210 ms with 16 workers: ...
//
// The site is a task running io::Serve: page /p/N links to /p/N+1, /p/N+2
// and two pseudo-random pages (so every page is reachable from /p/0); every
// tenth page also links to a missing page (404) and every 25th to a page on
// another host (skipped: the crawler stays on its site). --faults makes
// pages 13, 29 and 41 of every 50 misbehave: a body cut short, a malformed
// status line, no answer at all (the fetch's deadline ends it); the crawler
// reports each as an error and goes on.
//
// The crawler: a runtime::Queue of URLs to fetch and --concurrency worker
// tasks in a TaskGroup. Each worker takes a URL, fetches it over its own
// keep-alive connection (reconnecting when the server closed it), queues
// the links it has not seen, and marks the item done; Queue::Join tells when
// the crawl is complete, then closing the queue ends the workers. At most
// --concurrency requests are ever in flight, whatever the size of the site.
// Each fetch has a deadline (--fetch_timeout); a response is bounded
// (headers 16 KiB, body 1 MiB) so a bad server cannot grow memory.
//
// Exit status: 0 when every page was fetched without an error (404s of
// missing pages are results, not errors), 1 otherwise, 2 for bad flags.
#include <stdio.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "runtime/cancel.h"
#include "runtime/deadline.h"
#include "runtime/event_loop.h"
#include "runtime/io/tcp.h"
#include "runtime/queue.h"
#include "runtime/task.h"
#include "runtime/task_group.h"

ABSL_FLAG(int, pages, 200, "pages on the generated site (1 to 100000)");
ABSL_FLAG(int, concurrency, 8, "worker tasks, so requests in flight at most");
ABSL_FLAG(bool, faults, false,
          "pages 13, 29 and 41 of every 50 answer badly (cut body, bad "
          "status line, no answer)");
ABSL_FLAG(double, fetch_timeout, 5, "seconds allowed for one fetch");
ABSL_FLAG(double, max_seconds, 60, "give the whole crawl up after this");

namespace {

namespace io = evergreen::runtime::io;
using evergreen::runtime::Deadline;
using evergreen::runtime::EventLoop;
using evergreen::runtime::Queue;
using evergreen::runtime::Task;
using evergreen::runtime::TaskGroup;

constexpr size_t kMaxHead = 16 * 1024;
constexpr size_t kMaxBody = 1024 * 1024;

// ---------------------------------------------------------------------------
// The site.

std::string PagePath(int n) { return absl::StrCat("/p/", n); }

// PageBody renders page n of a site of `pages` pages.
std::string PageBody(int n, int pages) {
  std::vector<int> links = {n + 1, n + 2, n * 31 + 7, n * 17 + 3};
  std::string body = absl::StrCat("<!doctype html><title>page ", n,
                                  "</title><h1>Page ", n, "</h1><ul>");
  for (int link : links) {
    absl::StrAppend(&body, "<li><a href=\"", PagePath(link % pages), "\">page ",
                    link % pages, "</a>");
  }
  if (n % 10 == 3) absl::StrAppend(&body, "<li><a href=\"/missing/", n, "\">");
  if (n % 25 == 7) {
    absl::StrAppend(&body, "<li><a href=\"http://example.invalid/", n, "\">");
  }
  // Some text, so pages weigh something.
  for (int i = 0; i < 20; ++i) {
    absl::StrAppend(&body, "<p>Paragraph ", i, " of page ", n,
                    ": evergreen tasks crawl cooperatively.</p>");
  }
  return body;
}

void Respond(io::TcpStream& conn, absl::string_view status,
             absl::string_view body, bool close) {
  (void)conn.Write(absl::StrCat(
      "HTTP/1.1 ", status,
      "\r\nContent-Type: text/html\r\n"
      "Content-Length: ",
      body.size(), close ? "\r\nConnection: close" : "", "\r\n\r\n", body));
}

// ServeSite answers GET requests on one keep-alive connection.
void ServeSite(io::TcpStream& conn, int pages, bool faults) {
  while (true) {
    absl::StatusOr<std::string> head = conn.ReadUntil("\r\n\r\n", kMaxHead);
    if (!head.ok()) {
      if (head.status().code() == absl::StatusCode::kResourceExhausted) {
        Respond(conn, "431 Request Header Fields Too Large", "", true);
      }
      return;  // EOF between requests, or a broken client
    }
    absl::string_view line =
        absl::string_view(*head).substr(0, head->find("\r\n"));
    std::vector<absl::string_view> request_line = absl::StrSplit(line, ' ');
    if (request_line.size() != 3 || request_line[0] != "GET" ||
        !absl::StartsWith(request_line[2], "HTTP/1.")) {
      Respond(conn, "400 Bad Request", "", true);
      return;
    }
    absl::string_view path = request_line[1];
    int n = -1;
    if (!absl::ConsumePrefix(&path, "/p/") || !absl::SimpleAtoi(path, &n) ||
        n < 0 || n >= pages) {
      Respond(conn, "404 Not Found", "no such page", false);
      continue;
    }
    std::string body = PageBody(n, pages);
    if (faults && n % 50 == 13) {
      // Announces the whole body, sends ten bytes, hangs up.
      (void)conn.Write(
          absl::StrCat("HTTP/1.1 200 OK\r\nContent-Length: ", body.size(),
                       "\r\n\r\n", body.substr(0, 10)));
      return;
    }
    if (faults && n % 50 == 41) {
      // Never answers: waits until the client gives up and hangs up.
      while (conn.ReadSome().ok()) {
      }
      return;
    }
    if (faults && n % 50 == 29) {
      (void)conn.Write("HTTP/1.1 two hundred\r\n\r\n");
      return;
    }
    Respond(conn, "200 OK", body, false);
  }
}

// ---------------------------------------------------------------------------
// The crawler.

struct Response {
  int status = 0;
  std::string body;
  bool close = false;  // the server will close the connection
};

// ParseHead reads the status code and Content-Length of a response head.
absl::StatusOr<Response> ParseHead(absl::string_view head, size_t* length) {
  std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
  Response r;
  absl::string_view status_line = lines[0];
  if (!absl::ConsumePrefix(&status_line, "HTTP/1.1 ") &&
      !absl::ConsumePrefix(&status_line, "HTTP/1.0 ")) {
    return absl::DataLossError(
        absl::StrCat("bad status line \"", lines[0], "\""));
  }
  if (status_line.size() < 3 ||
      !absl::SimpleAtoi(status_line.substr(0, 3), &r.status) ||
      r.status < 100 || r.status > 599) {
    return absl::DataLossError(
        absl::StrCat("bad status line \"", lines[0], "\""));
  }
  bool has_length = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos) continue;
    absl::string_view name = lines[i].substr(0, colon);
    absl::string_view value =
        absl::StripAsciiWhitespace(lines[i].substr(colon + 1));
    if (absl::EqualsIgnoreCase(name, "Content-Length")) {
      if (!absl::SimpleAtoi(value, length)) {
        return absl::DataLossError(
            absl::StrCat("bad Content-Length \"", value, "\""));
      }
      has_length = true;
    } else if (absl::EqualsIgnoreCase(name, "Transfer-Encoding")) {
      return absl::UnimplementedError(
          absl::StrCat("Transfer-Encoding ", value, " is not supported"));
    } else if (absl::EqualsIgnoreCase(name, "Connection") &&
               absl::EqualsIgnoreCase(value, "close")) {
      r.close = true;
    }
  }
  if (!has_length) return absl::DataLossError("no Content-Length");
  if (*length > kMaxBody) {
    return absl::ResourceExhaustedError(
        absl::StrCat("body of ", *length, " bytes is over the limit"));
  }
  return r;
}

// Fetcher gets pages of one site over a keep-alive connection.
class Fetcher {
 public:
  Fetcher(std::string host, uint16_t port)
      : host_(std::move(host)), port_(port) {}

  absl::StatusOr<Response> Get(const std::string& path, Deadline deadline) {
    // A reused connection may have been closed by the server meanwhile:
    // one retry on a fresh one.
    bool reused = conn_ != nullptr;
    absl::StatusOr<Response> r = Attempt(path, deadline);
    if (!r.ok() && reused && conn_ == nullptr && sent_nothing_back_) {
      r = Attempt(path, deadline);
    }
    return r;
  }

 private:
  absl::StatusOr<Response> Attempt(const std::string& path, Deadline deadline) {
    sent_nothing_back_ = false;
    if (conn_ == nullptr) {
      absl::StatusOr<std::unique_ptr<io::TcpStream>> c =
          io::TcpStream::Connect(host_, port_, deadline);
      if (!c.ok()) return c.status();
      conn_ = *std::move(c);
    }
    absl::StatusOr<Response> r;
    absl::Status timed =
        evergreen::runtime::WithDeadline(deadline, [&] { r = Exchange(path); });
    if (timed.code() == absl::StatusCode::kDeadlineExceeded) {
      r = absl::DeadlineExceededError(absl::StrCat("no complete response from ",
                                                   host_, ":", port_,
                                                   " before the deadline"));
    } else if (!timed.ok()) {
      r = timed;
    }
    if (!r.ok() || r->close) conn_.reset();
    return r;
  }

  absl::StatusOr<Response> Exchange(const std::string& path) {
    absl::Status w = conn_->Write(absl::StrCat(
        "GET ", path, " HTTP/1.1\r\nHost: ", host_, ":", port_, "\r\n\r\n"));
    if (!w.ok()) return w;
    absl::StatusOr<std::string> head = conn_->ReadUntil("\r\n\r\n", kMaxHead);
    if (!head.ok()) {
      // The server closed an idle keep-alive connection before reading.
      absl::StatusCode code = head.status().code();
      sent_nothing_back_ = (code == absl::StatusCode::kOutOfRange ||
                            code == absl::StatusCode::kUnavailable) &&
                           conn_->BufferedBytes() == 0;
      return head.status();
    }
    size_t length = 0;
    absl::StatusOr<Response> r = ParseHead(*head, &length);
    if (!r.ok()) return r;
    absl::StatusOr<std::string> body = conn_->ReadExactly(length);
    if (!body.ok()) return body.status();
    r->body = *std::move(body);
    return r;
  }

  std::string host_;
  uint16_t port_;
  std::unique_ptr<io::TcpStream> conn_;
  bool sent_nothing_back_ = false;
};

// Links returns the href targets in `html`.
std::vector<std::string> Links(absl::string_view html) {
  std::vector<std::string> out;
  size_t at = 0;
  while ((at = html.find("href=\"", at)) != absl::string_view::npos) {
    at += 6;
    size_t end = html.find('"', at);
    if (end == absl::string_view::npos) break;
    out.emplace_back(html.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

struct Stats {
  int fetched = 0;
  int not_found = 0;
  int errors = 0;
  int external = 0;
  int64_t bytes = 0;
  int in_flight = 0;
  int max_in_flight = 0;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int pages = absl::GetFlag(FLAGS_pages);
  const int workers = absl::GetFlag(FLAGS_concurrency);
  const bool faults = absl::GetFlag(FLAGS_faults);
  const absl::Duration fetch_timeout =
      absl::Seconds(absl::GetFlag(FLAGS_fetch_timeout));
  if (pages < 1 || pages > 100000 || workers < 1 || workers > 10000 ||
      fetch_timeout <= absl::ZeroDuration()) {
    fprintf(stderr,
            "crawler: --pages must be 1..100000, --concurrency 1..10000, "
            "--fetch_timeout positive\n");
    return 2;
  }
  absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
  if (!loop.ok()) {
    fprintf(stderr, "crawler: %s\n", loop.status().ToString().c_str());
    return 1;
  }
  Stats stats;
  absl::Status result;
  auto main_task = Task::Spawn([&] {
    auto listener = io::TcpListener::Listen("127.0.0.1", 0);
    if (!listener.ok()) {
      result = listener.status();
      return;
    }
    const uint16_t port = (*listener)->LocalAddress()->port();
    printf("site: %d generated pages on http://127.0.0.1:%u/\n", pages, port);
    fflush(stdout);
    const std::string origin = absl::StrCat("http://127.0.0.1:", port);
    absl::Status timed = evergreen::runtime::WithTimeout(
        absl::Seconds(absl::GetFlag(FLAGS_max_seconds)), [&] {
          absl::Status ran = TaskGroup::Run([&](TaskGroup& top) {
            // The site, until the crawl closes its listener.
            io::TcpListener* l = listener->get();
            (void)top.Spawn([l, pages, faults] {
              (void)io::Serve(*l, [pages, faults](io::TcpStream& conn) {
                ServeSite(conn, pages, faults);
              });
            });
            Queue<std::string> urls;
            std::unordered_set<std::string> seen = {"/p/0"};
            (void)urls.Put("/p/0");
            absl::Time start = absl::Now();
            absl::Status crawl = TaskGroup::Run([&](TaskGroup& pool) {
              for (int w = 0; w < workers; ++w) {
                (void)pool.Spawn([&] {
                  Fetcher fetcher("127.0.0.1", port);
                  while (true) {
                    absl::StatusOr<std::string> path = urls.Get();
                    if (!path.ok()) return;  // closed: the crawl is done
                    stats.max_in_flight =
                        std::max(stats.max_in_flight, ++stats.in_flight);
                    absl::StatusOr<Response> r =
                        fetcher.Get(*path, Deadline::After(fetch_timeout));
                    --stats.in_flight;
                    if (!r.ok()) {
                      ++stats.errors;
                      fprintf(stderr, "crawler: GET %s: %s\n", path->c_str(),
                              r.status().ToString().c_str());
                    } else if (r->status == 404) {
                      ++stats.not_found;
                    } else if (r->status != 200) {
                      ++stats.errors;
                      fprintf(stderr, "crawler: GET %s: status %d\n",
                              path->c_str(), r->status);
                    } else {
                      ++stats.fetched;
                      stats.bytes += static_cast<int64_t>(r->body.size());
                      for (std::string& link : Links(r->body)) {
                        absl::string_view rest = link;
                        if (absl::ConsumePrefix(&rest, origin)) {
                          link = std::string(rest);
                        } else if (!absl::StartsWith(link, "/")) {
                          ++stats.external;
                          continue;
                        }
                        if (seen.insert(link).second) (void)urls.Put(link);
                      }
                    }
                    (void)urls.TaskDone();
                  }
                });
              }
              (void)urls.Join();
              urls.Close();
            });
            absl::Duration took = absl::Now() - start;
            l->Close();  // the site stops once its connections end
            if (!crawl.ok()) return;
            printf(
                "crawled %d pages (%lld bytes) in %lld ms with %d workers: %d "
                "not found, %d errors, %d external links skipped; at most %d "
                "requests in flight\n",
                stats.fetched, static_cast<long long>(stats.bytes),
                static_cast<long long>(absl::ToInt64Milliseconds(took)),
                workers, stats.not_found, stats.errors, stats.external,
                stats.max_in_flight);
          });
          if (!ran.ok()) result = ran;
        });
    if (!timed.ok()) result = timed;
  });
  if (!main_task.ok()) {
    fprintf(stderr, "crawler: %s\n", main_task.status().ToString().c_str());
    return 1;
  }
  absl::Status run = (*loop)->Run();
  if (!run.ok()) result = run;
  if (!result.ok()) {
    fprintf(stderr, "crawler: %s\n", result.ToString().c_str());
    return 1;
  }
  return stats.errors == 0 ? 0 : 1;
}
