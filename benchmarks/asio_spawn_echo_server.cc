// asio_spawn_echo_server: a TCP echo server on Boost.Asio's stackful
// coroutines (boost::asio::spawn, Debian's Boost 1.74 with Boost.Coroutine),
// one coroutine per connection: the peer of //examples:echo_server in
// io_echo_compare.sh and io_idle_compare.sh (issue 7).
//
//   asio_spawn_echo_server [--port=7000] [--host=127.0.0.1] [--max_seconds=0]
//   listening on 127.0.0.1:40123
//
// One io_context, run on the main thread only (concurrency hint 1, like our
// single-threaded EventLoop). Each connection's coroutine reads into its own
// 64 KiB heap buffer (async_read_some; allocated uninitialized, so an idle
// connection only touches the pages that a read wrote) and writes what it
// read back with async_write before it reads again: at most one buffer of
// data in flight per connection, so memory stays bounded when a client does
// not read. Asio's reactor tries each read and write at once before it waits
// for readiness, as the raw libuv server's uv_try_write does. TCP_NODELAY is
// set on each accepted socket. At EOF the coroutine shuts its write side
// down and closes; on an error it closes.
//
// SIGINT, SIGTERM or --max_seconds stops the io_context; the pending
// coroutines are unwound as it is destroyed, and the process exits 0.
#include <signal.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

constexpr std::size_t kBufferBytes = 64 * 1024;

// Echoes what `socket` reads back to it until EOF or an error.
void Echo(tcp::socket& socket, asio::yield_context yield) {
  std::unique_ptr<char[]> buffer(new char[kBufferBytes]);
  error_code ec;
  while (true) {
    std::size_t n = socket.async_read_some(
        asio::buffer(buffer.get(), kBufferBytes), yield[ec]);
    if (ec == asio::error::eof) {
      socket.shutdown(tcp::socket::shutdown_send, ec);
      return;
    }
    if (ec) return;
    asio::async_write(socket, asio::buffer(buffer.get(), n), yield[ec]);
    if (ec) return;
  }
}

// Returns the value of "--name=value" or "--name value" at argv[*i], or
// nullptr if argv[*i] is not that flag.
const char* FlagValue(int argc, char** argv, int* i, const char* name) {
  std::size_t len = std::strlen(name);
  const char* a = argv[*i];
  if (std::strncmp(a, "--", 2) != 0 || std::strncmp(a + 2, name, len) != 0) {
    return nullptr;
  }
  if (a[2 + len] == '=') return a + 3 + len;
  if (a[2 + len] == '\0' && *i + 1 < argc) return argv[++*i];
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  long port = 7000;
  std::string host = "127.0.0.1";
  double max_seconds = 0;
  for (int i = 1; i < argc; ++i) {
    const char* v;
    char* end;
    if ((v = FlagValue(argc, argv, &i, "port")) != nullptr) {
      port = std::strtol(v, &end, 10);
      if (*end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "asio_spawn_echo_server: bad --port=%s\n", v);
        return 1;
      }
    } else if ((v = FlagValue(argc, argv, &i, "host")) != nullptr) {
      host = v;
    } else if ((v = FlagValue(argc, argv, &i, "max_seconds")) != nullptr) {
      max_seconds = std::strtod(v, &end);
      if (*end != '\0' || !(max_seconds >= 0)) {
        fprintf(stderr, "asio_spawn_echo_server: bad --max_seconds=%s\n", v);
        return 1;
      }
    } else {
      fprintf(stderr, "asio_spawn_echo_server: unknown argument %s\n", argv[i]);
      return 1;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  asio::io_context ctx(1);
  error_code ec;
  asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) {
    fprintf(stderr, "asio_spawn_echo_server: bad --host=%s: %s\n", host.c_str(),
            ec.message().c_str());
    return 1;
  }
  tcp::acceptor acceptor(ctx);
  tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(511, ec);
  if (ec) {
    fprintf(stderr, "asio_spawn_echo_server: listen: %s\n",
            ec.message().c_str());
    return 1;
  }
  tcp::endpoint bound = acceptor.local_endpoint();
  printf("listening on %s:%u\n", bound.address().to_string().c_str(),
         static_cast<unsigned>(bound.port()));
  fflush(stdout);

  asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&ctx](const error_code&, int) { ctx.stop(); });
  asio::steady_timer deadline(ctx);
  if (max_seconds > 0) {
    deadline.expires_after(
        std::chrono::milliseconds(static_cast<long long>(max_seconds * 1000)));
    deadline.async_wait([&ctx](const error_code& e) {
      if (!e) ctx.stop();
    });
  }

  asio::spawn(ctx, [&](asio::yield_context yield) {
    while (true) {
      error_code e;
      auto socket = std::make_shared<tcp::socket>(ctx);
      acceptor.async_accept(*socket, yield[e]);
      if (e) {
        if (e == asio::error::operation_aborted) return;
        fprintf(stderr, "asio_spawn_echo_server: accept: %s\n",
                e.message().c_str());
        continue;
      }
      socket->set_option(tcp::no_delay(true), e);
      asio::spawn(ctx, [socket](asio::yield_context y) { Echo(*socket, y); });
    }
  });
  ctx.run();
  return 0;
}
