// chat_server: a line-based chat server on //runtime/io: every line a user
// sends goes to every other connected user.
//
//   bazel-bin/examples/chat_server --port=0
//   listening on 127.0.0.1:40123
//   (then, from several terminals: nc 127.0.0.1 40123)
//
// Each connection runs in its own task (io::Serve). The first line a user
// sends is their name; each later line is broadcast as "<name>: <line>".
// Broadcasting never blocks: the line is appended to each user's outbox,
// and a writer task per user empties it into the socket (Write suspends
// only that writer when that user reads slowly). A user whose outbox
// passes --max_outbox bytes is disconnected ("too slow"), so a slow user
// never slows the others and memory stays bounded. Lines longer than
// --max_line end the connection.
//
// The first SIGINT or SIGTERM (io::ShutdownOnSignals), or --max_connections
// connections having ended, closes the listener; the connections still open
// go on until they end, a second signal arrives or --grace_seconds pass,
// which cancels them. --max_seconds cancels everything at once. The process
// exits with status 0.
#include <signal.h>
#include <stdio.h>

#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "examples/internal/server_main.h"
#include "runtime/cancel.h"
#include "runtime/event.h"
#include "runtime/event_loop.h"
#include "runtime/io/signal.h"
#include "runtime/io/tcp.h"
#include "runtime/task.h"
#include "runtime/task_group.h"

ABSL_FLAG(int, port, 7001, "TCP port to listen on; 0 picks a free one");
ABSL_FLAG(std::string, host, "127.0.0.1", "address or name to listen on");
ABSL_FLAG(double, grace_seconds, 5,
          "after the first SIGINT/SIGTERM, how long connections may take to "
          "end before they are cancelled");
ABSL_FLAG(double, max_seconds, 0,
          "stop after this many seconds; 0 runs until SIGINT or SIGTERM");
ABSL_FLAG(int, max_connections, 0,
          "stop once this many connections ended; 0 for no limit");
ABSL_FLAG(int64_t, max_outbox, 256 * 1024,
          "bytes waiting for one user above which that user is dropped");
ABSL_FLAG(int64_t, max_line, 4096, "longest line accepted, bytes");
ABSL_FLAG(int, send_buffer, 0,
          "SO_SNDBUF of each connection, bytes; 0 keeps the kernel's");

namespace {

namespace io = evergreen::runtime::io;
using evergreen::runtime::CancelScope;
using evergreen::runtime::Event;
using evergreen::runtime::EventLoop;
using evergreen::runtime::Task;
using evergreen::runtime::TaskGroup;

using evergreen::examples_internal::ServeUntilStopped;

int Fail(const absl::Status& s) {
  fprintf(stderr, "chat_server: %s\n", s.ToString().c_str());
  return 1;
}

// User is one connected user: the outbox its writer task empties.
struct User {
  io::TcpStream* conn;
  std::string name;
  std::deque<std::string> outbox;
  size_t outbox_bytes = 0;
  bool dropped = false;  // too slow, or gone
  Event ready;           // the outbox has lines, or dropped
};

class Room {
 public:
  explicit Room(size_t max_outbox) : max_outbox_(max_outbox) {}
  std::list<std::shared_ptr<User>>::iterator Join(std::shared_ptr<User> u) {
    return users_.insert(users_.end(), std::move(u));
  }
  void Leave(std::list<std::shared_ptr<User>>::iterator it) {
    users_.erase(it);
  }
  // Send appends `line` to every user's outbox but `from`'s; never blocks.
  void Send(const User* from, const std::string& line) {
    for (const std::shared_ptr<User>& u : users_) {
      if (u.get() == from || u->dropped) continue;
      if (u->outbox_bytes + line.size() > max_outbox_) {
        u->dropped = true;  // too slow: its writer closes it
        u->ready.Set();
        continue;
      }
      u->outbox_bytes += line.size();
      u->outbox.push_back(line);
      u->ready.Set();
    }
  }

 private:
  size_t max_outbox_;
  std::list<std::shared_ptr<User>> users_;
};

// Chat runs one connection: a writer task for its outbox, reading lines
// here.
void Chat(Room& room, io::TcpStream& conn, size_t max_line, int send_buffer) {
  if (send_buffer > 0) (void)conn.handle().SetSendBufferSize(send_buffer);
  auto user = std::make_shared<User>();
  user->conn = &conn;
  if (!conn.Write("name?\n").ok()) return;
  absl::StatusOr<std::string> name = conn.ReadLine(max_line);
  if (!name.ok()) return;
  user->name = std::string(absl::StripAsciiWhitespace(*name));
  auto it = room.Join(user);
  room.Send(user.get(), absl::StrCat("* ", user->name, " joined\n"));
  (void)TaskGroup::Run([&](TaskGroup& g) {
    (void)g.Spawn([user, &g] {
      while (true) {
        while (user->outbox.empty() && !user->dropped) {
          user->ready.Clear();
          (void)user->ready.Wait();
        }
        if (user->dropped) {
          // Too slow (or gone): close at once; writing a notice could
          // block on the very buffers this user does not empty.
          user->conn->Close();  // the reader sees the stream closed
          g.Cancel();
          return;
        }
        std::string line = std::move(user->outbox.front());
        user->outbox.pop_front();
        user->outbox_bytes -= line.size();
        if (!user->conn->Write(std::move(line)).ok()) {
          user->dropped = true;
          g.Cancel();
          return;
        }
      }
    });
    while (true) {
      absl::StatusOr<std::string> line = conn.ReadLine(max_line);
      if (!line.ok()) break;
      room.Send(user.get(), absl::StrCat(user->name, ": ", *line));
      // Let the writers run before the next line (ReadLine returns
      // buffered lines without blocking): an outbox then grows only for a
      // user who does not read.
      (void)evergreen::runtime::Yield();
    }
    g.Cancel();  // the user left: stop its writer
  });
  user->dropped = true;
  room.Leave(it);
  room.Send(nullptr, absl::StrCat("* ", user->name, " left\n"));
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  int port = absl::GetFlag(FLAGS_port);
  if (port < 0 || port > 65535 || absl::GetFlag(FLAGS_max_outbox) <= 0 ||
      absl::GetFlag(FLAGS_max_line) <= 0) {
    fprintf(stderr, "chat_server: bad --port, --max_outbox or --max_line\n");
    return 2;
  }
  absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
  if (!loop.ok()) return Fail(loop.status());
  absl::Status result;
  auto server = Task::Spawn([&] {
    auto listener = io::TcpListener::Listen(absl::GetFlag(FLAGS_host),
                                            static_cast<uint16_t>(port));
    if (!listener.ok()) {
      result = listener.status();
      return;
    }
    io::TcpListener* l = listener->get();
    // Stop: the first SIGINT/SIGTERM, the time limit or the connection
    // limit closes the listener, and Serve returns once the connections
    // ended; a second signal, or --grace_seconds after the first, cancels
    // the connections still open.
    CancelScope scope;
    io::ShutdownOptions shutdown;
    shutdown.grace = absl::Seconds(absl::GetFlag(FLAGS_grace_seconds));
    auto guard = io::ShutdownOnSignals(
        scope, [l](int) { l->Close(); }, shutdown);
    if (!guard.ok()) {
      result = guard.status();
      return;
    }
    // Announced once the signals are caught.
    printf("listening on %s\n", (*l->LocalAddress()).ToString().c_str());
    fflush(stdout);
    // The room outlives Serve's connections: it is owned by this task,
    // above any scope that could cancel them.
    auto room = std::make_shared<Room>(
        static_cast<size_t>(absl::GetFlag(FLAGS_max_outbox)));
    size_t max_line = static_cast<size_t>(absl::GetFlag(FLAGS_max_line));
    int max_connections = absl::GetFlag(FLAGS_max_connections);
    int send_buffer = absl::GetFlag(FLAGS_send_buffer);
    auto ended = std::make_shared<int>(0);
    auto body = [&] {
      result = io::Serve(*l, [room, max_line, max_connections, ended, l,
                              send_buffer](io::TcpStream& conn) {
        Chat(*room, conn, max_line, send_buffer);
        if (max_connections > 0 && ++*ended >= max_connections) l->Close();
      });
    };
    double max_seconds = absl::GetFlag(FLAGS_max_seconds);
    // The time limit and a forced shutdown are normal ends.
    absl::Status s = ServeUntilStopped(scope, max_seconds, body);
    if (!s.ok()) result = s;
  });
  if (!server.ok()) return Fail(server.status());
  absl::Status run = (*loop)->Run();
  if (!run.ok()) return Fail(run);
  if (!result.ok()) return Fail(result);
  printf("stopped\n");
  return 0;
}
