#include "runtime/io/tls.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/io/internal/op.h"
#include "runtime/io/internal/serve.h"
#include "runtime/task.h"

namespace evergreen {
namespace runtime {
namespace io {
namespace {

using io_internal::InTask;
using io_internal::Renamed;

// TlsTransport is a Transport over a tls::TlsStream.
class TlsTransport final : public io_internal::Transport {
 public:
  explicit TlsTransport(tls::TlsStreamPtr t) : t_(std::move(t)) {}
  loop::Stream& socket() override { return t_->stream(); }
  const loop::Stream& socket() const override { return t_->stream(); }
  absl::Status ReadStart(ReadCallback cb) override {
    return t_->ReadStart(
        [cb = std::move(cb)](tls::TlsStream&,
                             absl::StatusOr<absl::string_view> r) {
          cb(std::move(r));
        });
  }
  void ReadStop() override {
    if (!t_->IsClosing()) (void)t_->ReadStop();
  }
  bool IsReading() const override { return t_->IsReading(); }
  absl::StatusOr<size_t> TryWrite(absl::string_view) override {
    return absl::UnavailableError("tls: no immediate writes");
  }
  absl::Status Write(std::string data, DoneCallback cb) override {
    return t_->Write(data,
                     [cb = std::move(cb)](tls::TlsStream&, absl::Status st) {
                       cb(std::move(st));
                     });
  }
  size_t WriteQueueSize() const override { return t_->WriteQueueSize(); }
  size_t PendingWrites() const override { return t_->PendingWrites(); }
  absl::Status Shutdown(DoneCallback cb) override {
    return t_->Shutdown([cb = std::move(cb)](tls::TlsStream&, absl::Status st) {
      cb(std::move(st));
    });
  }
  void Close() override {
    if (!t_->IsClosing()) (void)t_->Close();
  }
  bool IsClosing() const override { return t_->IsClosing(); }

 private:
  tls::TlsStreamPtr t_;
};

}  // namespace

TlsStream::TlsStream(tls::TlsStream* tls,
                     std::unique_ptr<io_internal::Transport> transport,
                     std::string peer,
                     absl::StatusOr<loop::SocketAddress> address,
                     const TlsOptions& options)
    : Stream(std::move(transport), std::move(peer), options),
      tls_(tls),
      info_(tls->info()),
      peer_address_(std::move(address)) {}

absl::StatusOr<std::unique_ptr<TlsStream>> TlsStream::Handshake(
    TcpStream& tcp, std::shared_ptr<tls::ClientContext> client,
    std::shared_ptr<tls::ServerContext> server, Deadline deadline,
    const TlsOptions& options) {
  std::string op = absl::StrCat("tls handshake ", tcp.peer());
  Task* me = nullptr;
  if (absl::Status s = InTask("tls handshake", tcp.peer(), &me); !s.ok()) {
    return s;
  }
  if ((client == nullptr) == (server == nullptr)) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": no context"));
  }
  std::string peer = tcp.peer();
  absl::StatusOr<loop::SocketAddress> address = tcp.PeerAddress();
  absl::StatusOr<loop::HandlePtr<loop::Stream>> handle =
      tcp.ReleaseHandle("tls handshake");
  if (!handle.ok()) return handle.status();
  tls::TlsStreamOptions to;
  to.server_name = options.server_name;
  to.high_water = options.tls_high_water;
  if (address.ok()) to.port = address->port();
  auto c = std::make_shared<io_internal::Completion>();
  auto on_handshake = [c](tls::TlsStream&, absl::Status s) {
    if (!c->abandoned) c->Complete(std::move(s));
  };
  absl::StatusOr<tls::TlsStreamPtr> t =
      client != nullptr
          ? tls::TlsStream::CreateClient(std::move(*handle), std::move(client),
                                         to, on_handshake)
          : tls::TlsStream::CreateServer(std::move(*handle), std::move(server),
                                         to, on_handshake);
  if (!t.ok()) return Renamed(t.status(), op);
  // The socket keeps the loop going while the handshake runs (Stream's
  // constructor unreferences it).
  try {
    if (!io_internal::Await(me, *c, deadline)) {
      c->abandoned = true;
      t->reset();
      return absl::DeadlineExceededError(
          absl::StrCat(op, ": deadline exceeded"));
    }
  } catch (...) {
    c->abandoned = true;
    t->reset();
    throw;
  }
  if (!c->status.ok()) return Renamed(c->status, op);
  tls::TlsStream* raw = t->get();
  return std::unique_ptr<TlsStream>(
      new TlsStream(raw, std::make_unique<TlsTransport>(std::move(*t)),
                    std::move(peer), std::move(address), options));
}

absl::StatusOr<std::unique_ptr<TlsStream>> TlsStream::Client(
    TcpStream& tcp, std::shared_ptr<tls::ClientContext> context,
    Deadline deadline, TlsOptions options) {
  if (context == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls handshake ", tcp.peer(), ": null context"));
  }
  return Handshake(tcp, std::move(context), nullptr, deadline, options);
}

absl::StatusOr<std::unique_ptr<TlsStream>> TlsStream::Server(
    TcpStream& tcp, std::shared_ptr<tls::ServerContext> context,
    Deadline deadline, TlsOptions options) {
  if (context == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls handshake ", tcp.peer(), ": null context"));
  }
  return Handshake(tcp, nullptr, std::move(context), deadline, options);
}

absl::StatusOr<std::unique_ptr<TlsStream>> TlsStream::Connect(
    absl::string_view host, uint16_t port,
    std::shared_ptr<tls::ClientContext> context, Deadline deadline,
    TlsOptions options) {
  if (context == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls connect ", host, ":", port, ": null context"));
  }
  TcpStreamOptions tcp_options;
  tcp_options.read_buffer_limit = options.read_buffer_limit;
  tcp_options.write_high_water = options.write_high_water;
  absl::StatusOr<std::unique_ptr<TcpStream>> tcp =
      TcpStream::Connect(host, port, deadline, tcp_options);
  if (!tcp.ok()) return tcp.status();
  if (options.server_name.empty()) options.server_name = std::string(host);
  return Client(**tcp, std::move(context), deadline, std::move(options));
}

absl::Status ServeTls(
    TcpListener& listener, std::shared_ptr<tls::ServerContext> context,
    std::function<void(TlsStream&)> handler, absl::Duration handshake_timeout,
    std::function<void(const absl::Status&)> on_handshake_error,
    TlsOptions options) {
  if (context == nullptr || !handler) {
    return absl::InvalidArgumentError(
        "serve tls: null context or empty handler");
  }
  auto shared = std::make_shared<const std::function<void(TlsStream&)>>(
      std::move(handler));
  return Serve(listener, [context, shared, handshake_timeout,
                          on_handshake_error, options](TcpStream& tcp) {
    absl::StatusOr<std::unique_ptr<TlsStream>> conn = TlsStream::Server(
        tcp, context, Deadline::After(handshake_timeout), options);
    if (!conn.ok()) {
      if (on_handshake_error) on_handshake_error(conn.status());
      return;
    }
    (*shared)(**conn);
    if (!(*conn)->IsClosed()) (void)(*conn)->Drain();
  });
}

}  // namespace io
}  // namespace runtime
}  // namespace evergreen
