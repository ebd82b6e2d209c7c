#include "runtime/io/tcp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "loop/address.h"
#include "runtime/cancel.h"
#include "runtime/event.h"
#include "runtime/event_loop.h"
#include "runtime/io/test_util.h"
#include "runtime/task.h"

namespace evergreen {
namespace runtime {
namespace io {
namespace {

using testing::NewLoop;
using testing::OpenHandles;
using testing::RunTask;

// Pattern returns `n` bytes that differ with `seed` and position.
std::string Pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>((i * 31 + seed * 7 + (i >> 8)) % 251);
  }
  return s;
}

// WaitUntil polls `pred` from a task, 1 ms apart, for at most 5 s: for
// conditions that depend on the kernel (a buffer filling up).
bool WaitUntil(const std::function<bool()>& pred) {
  for (int i = 0; i < 5000; ++i) {
    if (pred()) return true;
    EXPECT_TRUE(Sleep(absl::Milliseconds(1)).ok());
  }
  return pred();
}

struct Pair {
  std::unique_ptr<TcpListener> listener;
  std::unique_ptr<TcpStream> client;
  std::unique_ptr<TcpStream> server;
  bool ok() const { return client != nullptr && server != nullptr; }
};

// Connected returns a connected client and server (from a task).
Pair Connected(TcpStreamOptions options = {}) {
  Pair p;
  ListenOptions lo;
  lo.stream_options = options;
  auto l = TcpListener::Listen("127.0.0.1", 0, lo);
  EXPECT_TRUE(l.ok()) << l.status();
  if (!l.ok()) return p;
  p.listener = std::move(*l);
  auto c = TcpStream::Connect(*p.listener->LocalAddress(),
                              Deadline::After(absl::Seconds(5)), options);
  EXPECT_TRUE(c.ok()) << c.status();
  if (!c.ok()) return p;
  auto s = p.listener->Accept(Deadline::After(absl::Seconds(5)));
  EXPECT_TRUE(s.ok()) << s.status();
  if (!s.ok()) return p;
  p.client = std::move(*c);
  p.server = std::move(*s);
  return p;
}

// A small send buffer makes a peer that does not read stall a writer fast.
// (The receive buffer stays: one below the loopback MSS makes the kernel
// probe a closed window with a backoff of seconds.)
void SmallBuffers(TcpStream& writer) {
  EXPECT_TRUE(writer.handle().SetSendBufferSize(4096).ok());
}

// A listening socket with a full accept queue: connects to it hang (the
// kernel drops their SYNs). Plain POSIX so that libuv accepts nothing.
class FullBacklog {
 public:
  FullBacklog() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), len), 0);
    EXPECT_EQ(::listen(fd_, 0), 0);
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port_ = ntohs(a.sin_port);
  }
  ~FullBacklog() { ::close(fd_); }
  loop::SocketAddress address() const {
    return *loop::SocketAddress::Parse("127.0.0.1", port_);
  }
  // Fill connects (from a task) until a connect hangs; returns the streams
  // that connected. False if no connect hung.
  bool Fill(std::vector<std::unique_ptr<TcpStream>>* fillers) {
    for (int i = 0; i < 8; ++i) {
      auto c = TcpStream::Connect(address(),
                                  Deadline::After(absl::Milliseconds(100)));
      if (!c.ok()) {
        EXPECT_EQ(c.status().code(), absl::StatusCode::kDeadlineExceeded)
            << c.status();
        return c.status().code() == absl::StatusCode::kDeadlineExceeded;
      }
      fillers->push_back(std::move(*c));
    }
    return false;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

TEST(TcpTest, ConnectByNameAndEchoALine) {
  auto el = NewLoop();
  int done = 0;
  RunTask(*el, [&] {
    auto l = TcpListener::Listen("127.0.0.1", 0);
    ASSERT_TRUE(l.ok()) << l.status();
    uint16_t port = (*l)->LocalAddress()->port();
    ASSERT_NE(port, 0);
    auto server = Task::Spawn([&] {
      auto conn = (*l)->Accept();
      ASSERT_TRUE(conn.ok()) << conn.status();
      auto line = (*conn)->ReadLine();
      ASSERT_TRUE(line.ok()) << line.status();
      ASSERT_TRUE((*conn)->Write("echo: " + *line).ok());
      ASSERT_TRUE((*conn)->Drain().ok());
      ++done;
    });
    ASSERT_TRUE(server.ok());
    auto c = TcpStream::Connect("localhost", port,
                                Deadline::After(absl::Seconds(5)));
    ASSERT_TRUE(c.ok()) << c.status();
    TcpStream& conn = **c;
    EXPECT_TRUE(conn.SetNoDelay(false).ok());
    EXPECT_TRUE(conn.SetKeepAlive(true, 10).ok());
    EXPECT_EQ(conn.PeerAddress()->port(), port);
    ASSERT_TRUE(conn.LocalAddress().ok());
    ASSERT_TRUE(conn.Write("hello\n").ok());
    auto reply = conn.ReadLine();
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(*reply, "echo: hello\n");
    auto eof = conn.ReadSome();
    EXPECT_EQ(eof.status().code(), absl::StatusCode::kOutOfRange);
    EXPECT_EQ(eof.status().message(),
              absl::StrCat("read 127.0.0.1:", port, ": EOF"));
    ASSERT_TRUE((*server)->Join().ok());
    ++done;
  });
  EXPECT_EQ(done, 2);
  EXPECT_EQ(OpenHandles(*el, "tcp"), 0);
}

TEST(TcpTest, ReadCallsAcrossChunks) {
  auto el = NewLoop();
  std::vector<std::string> got;
  RunTask(*el, [&] {
    Pair p = Connected();
    ASSERT_TRUE(p.ok());
    auto writer = Task::Spawn([&] {
      for (const char* piece : {"ab", "c\r", "\nrest", "xyz", "1\n2\n"}) {
        ASSERT_TRUE(p.client->Write(piece).ok());
        ASSERT_TRUE(Sleep(absl::Milliseconds(2)).ok());
      }
      ASSERT_TRUE(p.client->Shutdown().ok());
    });
    ASSERT_TRUE(writer.ok());
    TcpStream& s = *p.server;
    auto a = s.ReadUntil("\r\n", 100);
    ASSERT_TRUE(a.ok()) << a.status();
    got.push_back(*a);
    auto b = s.ReadExactly(4);
    ASSERT_TRUE(b.ok()) << b.status();
    got.push_back(*b);
    auto c = s.ReadSome(2);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_LE(c->size(), 2u);
    got.push_back(*c);
    auto d = s.ReadExactly(3 - c->size());  // the rest of "xyz"
    ASSERT_TRUE(d.ok()) << d.status();
    got.push_back(*d);
    auto e = s.ReadLine();
    ASSERT_TRUE(e.ok()) << e.status();
    got.push_back(*e);
    auto f = s.ReadLine();
    ASSERT_TRUE(f.ok()) << f.status();
    got.push_back(*f);
    auto g = s.ReadLine();
    EXPECT_EQ(g.status().code(), absl::StatusCode::kOutOfRange);
    ASSERT_TRUE((*writer)->Join().ok());
  });
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[0], "abc\r\n");
  EXPECT_EQ(got[1], "rest");
  EXPECT_EQ(got[2] + got[3], "xyz");
  EXPECT_EQ(got[4], "1\n");
  EXPECT_EQ(got[5], "2\n");
}

// ReadSomeInto appends into a buffer the caller reuses; Write(view) copies
// only what the kernel did not take: 4 MiB through a 4 KiB send buffer
// (mostly queued copies) arrive whole and in order.
TEST(TcpTest, ReadSomeIntoAndWriteOfAView) {
  auto el = NewLoop();
  const std::string sent = Pattern(4 * 1024 * 1024, 7);
  std::string got;
  size_t reads = 0;
  absl::Status bad_args;
  RunTask(*el, [&] {
    Pair p = Connected();
    ASSERT_TRUE(p.ok());
    SmallBuffers(*p.client);
    auto writer = Task::Spawn([&] {
      absl::string_view all(sent);
      for (size_t off = 0; off < all.size(); off += 100000) {
        ASSERT_TRUE(p.client->Write(all.substr(off, 100000)).ok());
      }
      ASSERT_TRUE(p.client->Shutdown().ok());
    });
    ASSERT_TRUE(writer.ok());
    bad_args = p.server->ReadSomeInto(nullptr).status();
    std::string buf = "prefix:";
    auto n = p.server->ReadSomeInto(&buf, 5);
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(*n, buf.size() - 7);
    EXPECT_LE(*n, 5u);
    EXPECT_EQ(buf.substr(0, 7), "prefix:");
    got = buf.substr(7);
    while (true) {
      buf.clear();
      auto r = p.server->ReadSomeInto(&buf);
      if (!r.ok()) {
        EXPECT_EQ(r.status().code(), absl::StatusCode::kOutOfRange);
        break;
      }
      EXPECT_EQ(*r, buf.size());
      got += buf;
      ++reads;
    }
    ASSERT_TRUE((*writer)->Join().ok());
  });
  EXPECT_EQ(bad_args.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_GT(reads, 1u);
  EXPECT_TRUE(got == sent) << got.size() << " of " << sent.size();
}

TEST(TcpTest, BadArgumentsAndNotInTask) {
  auto el = NewLoop();
  std::unique_ptr<TcpStream> kept;
  std::unique_ptr<TcpListener> listener;
  RunTask(*el, [&] {
    Pair p = Connected();
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p.server->ReadSome(0).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(p.server->ReadUntil("", 10).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(p.server->ReadUntil("abc", 2).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(p.server->Write("").ok());
    kept = std::move(p.client);
    listener = std::move(p.listener);
  });
  ASSERT_NE(kept, nullptr);
  std::string peer = kept->PeerAddress()->ToString();
  auto r = kept->ReadSome();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.status().message(), "read " + peer + ": not in a task");
  EXPECT_EQ(kept->Write("x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(listener->Accept().status().code(),
            absl::StatusCode::kFailedPrecondition);
  kept->Close();
  EXPECT_TRUE(kept->IsClosed());
  kept->Close();  // no effect
  EXPECT_EQ(kept->LocalAddress().status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(TcpTest, SecondConcurrentReaderIsRejected) {
  auto el = NewLoop();
  absl::Status second;
  std::string first;
  RunTask(*el, [&] {
    Pair p = Connected();
    ASSERT_TRUE(p.ok());
    auto reader = Task::Spawn([&] {
      auto r = p.server->ReadSome();
      ASSERT_TRUE(r.ok()) << r.status();
      first = *r;
    });
    ASSERT_TRUE(reader.ok());
    ASSERT_TRUE(Yield().ok());
    second = p.server->ReadSome().status();
    ASSERT_TRUE(p.client->Write("x").ok());
    ASSERT_TRUE((*reader)->Join().ok());
  });
  EXPECT_EQ(second.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(
      absl::StrContains(second.message(), "another task is already reading"))
      << second;
  EXPECT_EQ(first, "x");
}

// Bad peers.

TEST(TcpTest, HalfCloseReadsEofWritesStillWork) {
  auto el = NewLoop();
  std::string request, response;
  absl::Status eof1, eof2;
  RunTask(*el, [&] {
    Pair p = Connected();
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(p.client->Write("request").ok());
    ASSERT_TRUE(p.client->Shutdown().ok());  // the client's write side
    auto r = p.server->ReadExactly(7);
    ASSERT_TRUE(r.ok()) << r.status();
    request = *r;
    eof1 = p.server->ReadSome().status();
    eof2 = p.server->ReadSome().status();  // EOF again
    // The server can still answer, and the client still read.
    ASSERT_TRUE(p.server->Write("response").ok());
    ASSERT_TRUE(p.server->Shutdown().ok());
    auto a = p.client->ReadExactly(8);
    ASSERT_TRUE(a.ok()) << a.status();
    response = *a;
    EXPECT_EQ(p.client->ReadSome().status().code(),
              absl::StatusCode::kOutOfRange);
    // The shut side refuses writes; a second Shutdown is a no-op.
    absl::Status w = p.client->Write("late");
    EXPECT_EQ(w.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE(absl::EndsWith(w.message(), ": the write side was shut down"))
        << w;
    EXPECT_TRUE(p.client->Shutdown().ok());
  });
  EXPECT_EQ(request, "request");
  EXPECT_EQ(response, "response");
  EXPECT_EQ(eof1.code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(absl::EndsWith(eof1.message(), ": EOF")) << eof1;
  EXPECT_EQ(eof2, eof1);
}

TEST(TcpTest, EofInsideAReadKeepsTheBytes) {
  auto el = NewLoop();
  absl::Status exactly, until;
  std::string rest;
  RunTask(*el, [&] {
    Pair p = Connected();
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(p.client->Write("abc").ok());
    ASSERT_TRUE(p.client->Shutdown().ok());
    exactly = p.server->ReadExactly(10).status();
    until = p.server->ReadLine().status();
    EXPECT_EQ(p.server->BufferedBytes(), 3u);
    auto r = p.server->ReadSome();
    ASSERT_TRUE(r.ok()) << r.status();
    rest = *r;
  });
  EXPECT_EQ(exactly.code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(absl::EndsWith(exactly.message(), ": EOF after 3 of 10 bytes"))
      << exactly;
  EXPECT_EQ(until.code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(absl::EndsWith(until.message(),
                             ": EOF before \"\\n\" (3 bytes buffered)"))
      << until;
  EXPECT_EQ(rest, "abc");
}

TEST(TcpTest, LineLongerThanTheLimit) {
  auto el = NewLoop();
  absl::Status too_long;
  size_t buffered = 0;
  std::string line, next;
  RunTask(*el, [&] {
    Pair p = Connected();
    ASSERT_TRUE(p.ok());
    std::string peer = p.server->PeerAddress()->ToString();
    // The limit is hit while the line still arrives (no newline yet).
    ASSERT_TRUE(p.client->Write(std::string(100, 'x')).ok());
    too_long = p.server->ReadLine(16).status();
    buffered = p.server->BufferedBytes();
    EXPECT_EQ(too_long.message(),
              "read " + peer + ": no \"\\n\" within 16 bytes");
    ASSERT_TRUE(p.client->Write("\nshort\n").ok());
    // A line ending past the limit is refused too, once complete.
    auto again = p.server->ReadLine(50);
    EXPECT_EQ(again.status().code(), absl::StatusCode::kResourceExhausted);
    // Nothing was consumed: a larger limit gets it all.
    auto all = p.server->ReadLine(200);
    ASSERT_TRUE(all.ok()) << all.status();
    line = *all;
    auto n = p.server->ReadLine(16);
    ASSERT_TRUE(n.ok()) << n.status();
    next = *n;
  });
  EXPECT_EQ(too_long.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_GE(buffered, 16u);
  EXPECT_EQ(line, std::string(100, 'x') + "\n");
  EXPECT_EQ(next, "short\n");
}

TEST(TcpTest, ResetMidRead) {
  auto el = NewLoop();
  absl::Status err1, err2;
  std::string before;
  RunTask(*el, [&] {
    Pair p = Connected();
    ASSERT_TRUE(p.ok());
    std::string peer = p.server->PeerAddress()->ToString();
    auto reader = Task::Spawn([&] {
      auto r = p.server->ReadExactly(6);
      ASSERT_TRUE(r.ok()) << r.status();
      before = *r;
      err1 = p.server->ReadSome().status();  // blocked when the RST comes
      err2 = p.server->ReadSome().status();
    });
    ASSERT_TRUE(reader.ok());
    ASSERT_TRUE(p.client->Write("before").ok());
    ASSERT_TRUE(WaitUntil([&] {
      return before.size() == 6 && (*reader)->state() == Task::State::kBlocked;
    }));
    p.client->CloseWithReset();
    ASSERT_TRUE((*reader)->Join().ok());
    EXPECT_EQ(err1.message(),
              "read " + peer + ": ECONNRESET (connection reset by peer)");
  });
  EXPECT_EQ(before, "before");
  EXPECT_FALSE(err1.ok());
  EXPECT_EQ(err2, err1);  // sticky
}

TEST(TcpTest, ResetMidWrite) {
  auto el = NewLoop();
  absl::Status write_err, later, drain;
  size_t written = 0;
  RunTask(*el, [&] {
    Pair p = Connected();
    ASSERT_TRUE(p.ok());
    SmallBuffers(*p.client);
    std::string peer = p.client->PeerAddress()->ToString();
    bool in_write = false;
    auto writer = Task::Spawn([&] {
      while (true) {
        in_write = true;
        absl::Status s = p.client->Write(Pattern(16 * 1024, 1));
        in_write = false;
        if (!s.ok()) {
          write_err = s;
          return;
        }
        written += 16 * 1024;
      }
    });
    ASSERT_TRUE(writer.ok());
    // The server never reads: the writer suspends.
    ASSERT_TRUE(WaitUntil([&] {
      return in_write && (*writer)->state() == Task::State::kBlocked;
    }));
    p.server->CloseWithReset();
    ASSERT_TRUE((*writer)->Join().ok());
    later = p.client->Write("more");
    drain = p.client->Drain();
    EXPECT_TRUE(absl::StartsWith(write_err.message(), "write " + peer + ": "))
        << write_err;
  });
  EXPECT_GT(written, 0u);
  EXPECT_FALSE(write_err.ok());
  EXPECT_TRUE(absl::StrContains(write_err.message(), "ECONNRESET") ||
              absl::StrContains(write_err.message(), "EPIPE"))
      << write_err;
  EXPECT_EQ(later, write_err);
  EXPECT_EQ(drain, write_err);
}

TEST(TcpTest, SlowReaderSuspendsTheWriterAndBoundsMemory) {
  auto el = NewLoop();
  constexpr size_t kChunk = 16 * 1024;
  constexpr size_t kChunks = 64;  // 1 MiB
  TcpStreamOptions options;
  options.write_high_water = 32 * 1024;
  options.read_buffer_limit = 32 * 1024;
  size_t max_queue = 0;
  size_t max_buffered = 0;
  std::string received;
  std::string sent;
  bool writer_stalled = false;
  bool reader_stopped = false;
  RunTask(*el, [&] {
    Pair p = Connected(options);
    ASSERT_TRUE(p.ok());
    SmallBuffers(*p.client);
    // A fixed receive buffer (no autotuning): what the kernels can hold is
    // far below the 1 MiB sent, so a writer nobody reads must stall.
    ASSERT_TRUE(p.server->handle().SetRecvBufferSize(128 * 1024).ok());
    size_t writes = 0;
    bool in_write = false;
    auto writer = Task::Spawn([&] {
      for (size_t i = 0; i < kChunks; ++i) {
        std::string chunk = Pattern(kChunk, static_cast<uint32_t>(i));
        sent += chunk;
        in_write = true;
        ASSERT_TRUE(p.client->Write(std::move(chunk)).ok());
        in_write = false;
        ++writes;
        max_queue = std::max(max_queue, p.client->handle().WriteQueueSize());
      }
      ASSERT_TRUE(p.client->Drain().ok());
      ASSERT_TRUE(p.client->Shutdown().ok());
    });
    ASSERT_TRUE(writer.ok());
    // The server does not read: the writer ends up suspended in Write.
    ASSERT_TRUE(WaitUntil([&] {
      max_queue = std::max(max_queue, p.client->handle().WriteQueueSize());
      return in_write && (*writer)->state() == Task::State::kBlocked;
    }));
    // Give the kernel time to take what it can (ordering, not
    // synchronization): the writer still cannot have finished.
    ASSERT_TRUE(Sleep(absl::Milliseconds(20)).ok());
    writer_stalled = in_write && writes < kChunks &&
                     (*writer)->state() == Task::State::kBlocked;
    EXPECT_FALSE(p.server->handle().IsReading());
    EXPECT_EQ(p.server->BufferedBytes(), 0u);
    // A read of one byte starts reading; the buffer stops at its limit.
    auto one = p.server->ReadSome(1);
    ASSERT_TRUE(one.ok()) << one.status();
    received += *one;
    ASSERT_TRUE(WaitUntil([&] { return !p.server->handle().IsReading(); }));
    reader_stopped = true;
    max_buffered = p.server->BufferedBytes();
    // Now read everything, slowly at first.
    while (true) {
      auto r = p.server->ReadSome(4096);
      if (!r.ok()) {
        EXPECT_EQ(r.status().code(), absl::StatusCode::kOutOfRange)
            << r.status();
        break;
      }
      received += *r;
      max_buffered = std::max(max_buffered, p.server->BufferedBytes());
      max_queue = std::max(max_queue, p.client->handle().WriteQueueSize());
    }
    ASSERT_TRUE((*writer)->Join().ok());
  });
  EXPECT_TRUE(writer_stalled);
  EXPECT_TRUE(reader_stopped);
  // The mark plus the one write that crossed it.
  EXPECT_LE(max_queue, options.write_high_water + kChunk);
  EXPECT_GT(max_queue, 0u);
  // The limit plus one read of libuv's 64 KiB buffer.
  EXPECT_LE(max_buffered, options.read_buffer_limit + 64 * 1024);
  EXPECT_EQ(received.size(), kChunk * kChunks);
  EXPECT_TRUE(received == sent);
}

TEST(TcpTest, ConnectToAClosedPortIsRefused) {
  auto el = NewLoop();
  absl::Status s;
  uint16_t port = 0;
  RunTask(*el, [&] {
    {
      auto l = TcpListener::Listen("127.0.0.1", 0);
      ASSERT_TRUE(l.ok());
      port = (*l)->LocalAddress()->port();
    }  // closed
    s = TcpStream::Connect("127.0.0.1", port).status();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(s.message(), absl::StrCat("connect 127.0.0.1:", port,
                                      ": ECONNREFUSED (connection refused)"));
  EXPECT_EQ(OpenHandles(*el, "tcp"), 0);
}

TEST(TcpTest, ListenOnABusyPortFails) {
  auto el = NewLoop();
  absl::Status s;
  RunTask(*el, [&] {
    auto a = TcpListener::Listen("127.0.0.1", 0);
    ASSERT_TRUE(a.ok());
    uint16_t port = (*a)->LocalAddress()->port();
    s = TcpListener::Listen("127.0.0.1", port).status();
    // SO_REUSEPORT on both sides shares it.
    ListenOptions shared;
    shared.reuse_port = true;
    auto b = TcpListener::Listen("127.0.0.1", 0, shared);
    ASSERT_TRUE(b.ok()) << b.status();
    auto c =
        TcpListener::Listen("127.0.0.1", (*b)->LocalAddress()->port(), shared);
    EXPECT_TRUE(c.ok()) << c.status();
  });
  EXPECT_TRUE(absl::StrContains(s.message(), "EADDRINUSE")) << s;
  EXPECT_TRUE(absl::StartsWith(s.message(), "listen 127.0.0.1:")) << s;
}

// Deadlines, kills and cancellation during every blocking call.

TEST(TcpCancelTest, ConnectDeadlineKillAndTimeoutReleaseTheSocket) {
  auto el = NewLoop();
  FullBacklog backlog;
  std::vector<std::unique_ptr<TcpStream>> fillers;
  absl::Status scope;
  int unwound = 0;
  bool connected_after_kill = false;
  RunTask(*el, [&] {
    ASSERT_TRUE(backlog.Fill(&fillers));
    int base = static_cast<int>(fillers.size());
    EXPECT_EQ(OpenHandles(*el, "tcp"), base);
    // Per-call deadline: a value.
    auto d = TcpStream::Connect(backlog.address(),
                                Deadline::After(absl::Milliseconds(20)));
    EXPECT_EQ(d.status().code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_EQ(d.status().message(), "connect " + backlog.address().ToString() +
                                        ": deadline exceeded");
    EXPECT_EQ(OpenHandles(*el, "tcp"), base);
    // Timeout scope: an exception.
    scope = WithTimeout(absl::Milliseconds(20),
                        [&] { (void)TcpStream::Connect(backlog.address()); });
    EXPECT_EQ(OpenHandles(*el, "tcp"), base);
    // Kill.
    auto victim = Task::Spawn([&] {
      struct Marker {
        int* n;
        ~Marker() { ++*n; }
      } m{&unwound};
      (void)TcpStream::Connect(backlog.address());
      connected_after_kill = true;
    });
    ASSERT_TRUE(victim.ok());
    ASSERT_TRUE(
        WaitUntil([&] { return (*victim)->state() == Task::State::kBlocked; }));
    EXPECT_EQ(OpenHandles(*el, "tcp"), base + 1);
    ASSERT_TRUE((*victim)->Kill().ok());
    EXPECT_EQ(OpenHandles(*el, "tcp"), base);
    fillers.clear();
  });
  EXPECT_EQ(scope.code(), absl::StatusCode::kDeadlineExceeded) << scope;
  EXPECT_EQ(unwound, 1);
  EXPECT_FALSE(connected_after_kill);
  EXPECT_EQ(OpenHandles(*el, "tcp"), 0);
}

TEST(TcpCancelTest, AcceptDeadlineKillTimeoutThenStillAccepts) {
  auto el = NewLoop();
  absl::Status deadline, scope;
  bool accepted_after = false;
  RunTask(*el, [&] {
    auto l = TcpListener::Listen("127.0.0.1", 0);
    ASSERT_TRUE(l.ok());
    std::string name = (*l)->LocalAddress()->ToString();
    deadline = (*l)->Accept(Deadline::After(absl::Milliseconds(10))).status();
    EXPECT_EQ(deadline.message(), "accept " + name + ": deadline exceeded");
    scope = WithTimeout(absl::Milliseconds(10), [&] { (void)(*l)->Accept(); });
    auto victim = Task::Spawn([&] { (void)(*l)->Accept(); });
    ASSERT_TRUE(victim.ok());
    ASSERT_TRUE(Yield().ok());
    ASSERT_EQ((*victim)->state(), Task::State::kBlocked);
    ASSERT_TRUE((*victim)->Kill().ok());
    EXPECT_TRUE((*victim)->killed());
    // The listener still works.
    auto c = TcpStream::Connect(*(*l)->LocalAddress());
    ASSERT_TRUE(c.ok()) << c.status();
    auto s = (*l)->Accept(Deadline::After(absl::Seconds(5)));
    ASSERT_TRUE(s.ok()) << s.status();
    accepted_after = true;
  });
  EXPECT_EQ(deadline.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(scope.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(accepted_after);
}

TEST(TcpCancelTest, KillOrTimeoutDuringReadStopsReadingKeepsTheStream) {
  auto el = NewLoop();
  absl::Status scope;
  std::string line;
  bool reading_after_kill = true;
  bool closed_after_kill = true;
  RunTask(*el, [&] {
    Pair p = Connected();
    ASSERT_TRUE(p.ok());
    auto victim = Task::Spawn([&] { (void)p.server->ReadSome(); });
    ASSERT_TRUE(victim.ok());
    ASSERT_TRUE(Yield().ok());
    ASSERT_EQ((*victim)->state(), Task::State::kBlocked);
    EXPECT_TRUE(p.server->handle().IsReading());
    ASSERT_TRUE((*victim)->Kill().ok());
    reading_after_kill = p.server->handle().IsReading();
    closed_after_kill = p.server->IsClosed();
    // A timeout in the middle of a line keeps the part that arrived.
    ASSERT_TRUE(p.client->Write("half").ok());
    scope = WithTimeout(absl::Milliseconds(30),
                        [&] { (void)p.server->ReadLine(); });
    EXPECT_EQ(p.server->BufferedBytes(), 4u);
    EXPECT_FALSE(p.server->handle().IsReading());
    ASSERT_TRUE(p.client->Write(" a line\n").ok());
    auto l2 = p.server->ReadLine();
    ASSERT_TRUE(l2.ok()) << l2.status();
    line = *l2;
  });
  EXPECT_FALSE(reading_after_kill);
  EXPECT_FALSE(closed_after_kill);
  EXPECT_EQ(scope.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(line, "half a line\n");
}

// Write (suspended), Drain and Shutdown all wait for the peer to take the
// queued bytes; interrupting any of them closes the stream.
TEST(TcpCancelTest, KillOrTimeoutDuringSuspendedWriteClosesTheStream) {
  auto el = NewLoop();
  enum Mode { kWriteKill, kWriteTimeout, kDrainKill, kShutdownTimeout };
  for (Mode mode : {kWriteKill, kWriteTimeout, kDrainKill, kShutdownTimeout}) {
    SCOPED_TRACE(mode);
    bool kill = mode == kWriteKill || mode == kDrainKill;
    absl::Status scope, later;
    size_t peer_got = 0;
    bool peer_eof = false;
    bool returned = false;
    RunTask(*el, [&] {
      TcpStreamOptions options;
      if (mode == kDrainKill || mode == kShutdownTimeout) {
        options.write_high_water = 8 << 20;  // Write never waits
      }
      Pair p = Connected(options);
      ASSERT_TRUE(p.ok());
      SmallBuffers(*p.client);
      int tcp_before = OpenHandles(*el, "tcp");
      auto writer = Task::Spawn([&] {
        auto body = [&] {
          switch (mode) {
            case kWriteKill:
            case kWriteTimeout:
              while (p.client->Write(Pattern(16 * 1024, 3)).ok()) {
              }
              break;
            case kDrainKill:
              ASSERT_TRUE(p.client->Write(Pattern(4 << 20, 3)).ok());
              (void)p.client->Drain();
              break;
            case kShutdownTimeout:
              ASSERT_TRUE(p.client->Write(Pattern(4 << 20, 3)).ok());
              (void)p.client->Shutdown();
              break;
          }
          returned = true;
        };
        if (kill) {
          body();
        } else {
          scope = WithTimeout(absl::Milliseconds(50), body);
        }
      });
      ASSERT_TRUE(writer.ok());
      if (kill) {
        ASSERT_TRUE(WaitUntil([&] {
          return (*writer)->state() == Task::State::kBlocked &&
                 p.client->handle().WriteQueueSize() > 0;
        }));
        ASSERT_TRUE((*writer)->Kill().ok());
      }
      ASSERT_TRUE((*writer)->Join().ok());
      EXPECT_TRUE(p.client->IsClosed());
      EXPECT_EQ(OpenHandles(*el, "tcp"), tcp_before - 1);
      later = p.client->Write("x");
      // The peer reads what got through, then EOF: the queued bytes were
      // dropped with the socket.
      while (true) {
        auto r = p.server->ReadSome();
        if (!r.ok()) {
          peer_eof = r.status().code() == absl::StatusCode::kOutOfRange;
          break;
        }
        peer_got += r->size();
      }
    });
    EXPECT_FALSE(returned);
    if (!kill) {
      EXPECT_EQ(scope.code(), absl::StatusCode::kDeadlineExceeded);
    }
    EXPECT_EQ(later.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE(absl::EndsWith(
        later.message(), mode == kShutdownTimeout
                             ? "stream closed (a shutdown was interrupted)"
                             : "stream closed (a write was interrupted)"))
        << later;
    EXPECT_TRUE(peer_eof);
    EXPECT_GT(peer_got, 0u);
  }
}

TEST(TcpCancelTest, CloseWakesBlockedReaderAndAcceptor) {
  auto el = NewLoop();
  absl::Status read, accept;
  RunTask(*el, [&] {
    Pair p = Connected();
    ASSERT_TRUE(p.ok());
    auto reader = Task::Spawn([&] { read = p.server->ReadSome().status(); });
    auto acceptor =
        Task::Spawn([&] { accept = p.listener->Accept().status(); });
    ASSERT_TRUE(reader.ok() && acceptor.ok());
    ASSERT_TRUE(Yield().ok());
    p.server->Close();
    p.listener->Close();
    ASSERT_TRUE((*reader)->Join().ok());
    ASSERT_TRUE((*acceptor)->Join().ok());
  });
  EXPECT_EQ(read.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::EndsWith(read.message(), ": stream closed")) << read;
  EXPECT_EQ(accept.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::EndsWith(accept.message(), ": listener closed")) << accept;
}

// Serve.

TEST(ServeTest, EchoServerWith100ConcurrentConnections) {
  auto el = NewLoop();
  constexpr int kClients = 100;
  constexpr int kMessages = 10;
  int handlers = 0;
  int clients_ok = 0;
  size_t bytes_verified = 0;
  absl::Status served = absl::UnknownError("not run");
  RunTask(*el, [&] {
    ListenOptions lo;
    lo.backlog = 128;
    auto l = TcpListener::Listen("127.0.0.1", 0, lo);
    ASSERT_TRUE(l.ok());
    loop::SocketAddress address = *(*l)->LocalAddress();
    auto server = Task::Spawn([&] {
      served = Serve(**l, [&handlers](TcpStream& conn) {
        ++handlers;
        while (true) {
          auto data = conn.ReadSome();
          if (!data.ok()) return;
          if (!conn.Write(*std::move(data)).ok()) return;
        }
      });
    });
    ASSERT_TRUE(server.ok());
    std::vector<std::shared_ptr<Task>> clients;
    for (int c = 0; c < kClients; ++c) {
      auto t = Task::Spawn([&, c] {
        auto conn = TcpStream::Connect(address);
        ASSERT_TRUE(conn.ok()) << conn.status();
        for (int m = 0; m < kMessages; ++m) {
          // Sizes from 1 byte to 16 KiB (bounded for sanitizer runs).
          size_t size =
              1 + static_cast<size_t>((c * 7919 + m * 104729) % (16 * 1024));
          std::string msg = Pattern(size, static_cast<uint32_t>(c * 100 + m));
          ASSERT_TRUE((*conn)->Write(msg).ok());
          auto back = (*conn)->ReadExactly(size);
          ASSERT_TRUE(back.ok()) << back.status();
          ASSERT_TRUE(*back == msg) << "client " << c << " message " << m;
          bytes_verified += size;
        }
        ASSERT_TRUE((*conn)->Shutdown().ok());
        EXPECT_EQ((*conn)->ReadSome().status().code(),
                  absl::StatusCode::kOutOfRange);
        ++clients_ok;
      });
      ASSERT_TRUE(t.ok());
      clients.push_back(*t);
    }
    for (auto& t : clients) ASSERT_TRUE(t->Join().ok());
    // Closing the listener ends Serve once the connections ended.
    (*l)->Close();
    ASSERT_TRUE((*server)->Join().ok());
  });
  EXPECT_EQ(clients_ok, kClients);
  EXPECT_EQ(handlers, kClients);
  EXPECT_GT(bytes_verified, 0u);
  EXPECT_TRUE(served.ok()) << served;
  EXPECT_EQ(OpenHandles(*el, "tcp"), 0);
}

TEST(ServeTest, CancellingServeKillsTheConnections) {
  auto el = NewLoop();
  absl::Status scope;
  int handler_unwound = 0;
  absl::Status client_saw;
  RunTask(*el, [&] {
    auto l = TcpListener::Listen("127.0.0.1", 0);
    ASSERT_TRUE(l.ok());
    auto address = *(*l)->LocalAddress();
    Event in_handler;
    auto server = Task::Spawn([&] {
      scope = WithTimeout(absl::Milliseconds(100), [&] {
        (void)Serve(**l, [&](TcpStream& conn) {
          struct Marker {
            int* n;
            ~Marker() { ++*n; }
          } m{&handler_unwound};
          in_handler.Set();
          (void)conn.ReadSome();  // the client never writes
        });
      });
    });
    ASSERT_TRUE(server.ok());
    auto c = TcpStream::Connect(address);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(in_handler.Wait().ok());
    ASSERT_TRUE((*server)->Join().ok());
    // The connection's task was killed: its stream closed.
    client_saw = (*c)->ReadSome().status();
  });
  EXPECT_EQ(scope.code(), absl::StatusCode::kDeadlineExceeded) << scope;
  EXPECT_EQ(handler_unwound, 1);
  EXPECT_EQ(client_saw.code(), absl::StatusCode::kOutOfRange) << client_saw;
}

TEST(ServeTest, HandlerOutputIsDrainedBeforeClose) {
  auto el = NewLoop();
  static constexpr size_t kSize = 4 * 1024 * 1024;
  std::string got;
  RunTask(*el, [&] {
    ListenOptions lo;
    lo.stream_options.write_high_water = 2 * kSize;  // Write never waits
    auto l = TcpListener::Listen("127.0.0.1", 0, lo);
    ASSERT_TRUE(l.ok());
    auto address = *(*l)->LocalAddress();
    auto server = Task::Spawn([&] {
      EXPECT_TRUE(Serve(**l, [](TcpStream& conn) {
                    // Returns with most of it still queued.
                    (void)conn.Write(Pattern(kSize, 9));
                  }).ok());
    });
    ASSERT_TRUE(server.ok());
    auto c = TcpStream::Connect(address);
    ASSERT_TRUE(c.ok());
    while (true) {
      auto r = (*c)->ReadSome();
      if (!r.ok()) break;
      got += *r;
    }
    (*l)->Close();
    ASSERT_TRUE((*server)->Join().ok());
  });
  EXPECT_EQ(got.size(), kSize);
  EXPECT_TRUE(got == Pattern(kSize, 9));
}

}  // namespace
}  // namespace io
}  // namespace runtime
}  // namespace evergreen
