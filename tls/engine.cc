#include "tls/engine.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pool.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "tls/internal/ssl_error.h"

namespace evergreen {
namespace tls {
namespace {

// ReadScratch returns this thread's buffer for one decrypted record, shared
// by every engine of the thread (pitfall 15: no 16 KiB per connection).
char* ReadScratch() {
  static thread_local std::unique_ptr<char[]> buffer;
  if (buffer == nullptr) buffer.reset(new char[Engine::kMaxRecord]);
  return buffer.get();
}

std::string AlertName(int alert) { return SSL_alert_desc_string_long(alert); }

}  // namespace

absl::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kOpen:
      return "open";
    case Outcome::kCleanClose:
      return "clean close";
    case Outcome::kTruncated:
      return "truncated";
    case Outcome::kProtocolError:
      return "protocol error";
    case Outcome::kVerifyFailed:
      return "verify failed";
  }
  return "unknown";
}

Engine::Engine(std::shared_ptr<ClientContext> client,
               std::shared_ptr<ServerContext> server, size_t high_water)
    : client_context_(std::move(client)),
      server_context_(std::move(server)),
      high_water_(high_water) {}

Engine::~Engine() = default;

absl::StatusOr<std::unique_ptr<Engine>> Engine::CreateClient(
    std::shared_ptr<ClientContext> context, const EngineOptions& options) {
  if (context == nullptr) {
    return absl::InvalidArgumentError("tls client: no context");
  }
  if (options.high_water == 0) {
    return absl::InvalidArgumentError("tls client: high_water must be > 0");
  }
  absl::StatusOr<bssl::UniquePtr<SSL>> ssl =
      context->NewSsl(options.server_name, options.port);
  if (!ssl.ok()) return ssl.status();
  std::unique_ptr<Engine> engine(
      new Engine(std::move(context), nullptr, options.high_water));
  return Start(std::move(engine), std::move(*ssl));
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::CreateServer(
    std::shared_ptr<ServerContext> context, const EngineOptions& options) {
  if (context == nullptr) {
    return absl::InvalidArgumentError("tls server: no context");
  }
  if (options.high_water == 0) {
    return absl::InvalidArgumentError("tls server: high_water must be > 0");
  }
  absl::StatusOr<bssl::UniquePtr<SSL>> ssl = context->NewSsl();
  if (!ssl.ok()) return ssl.status();
  std::unique_ptr<Engine> engine(
      new Engine(nullptr, std::move(context), options.high_water));
  return Start(std::move(engine), std::move(*ssl));
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Start(
    std::unique_ptr<Engine> engine, bssl::UniquePtr<SSL> ssl) {
  const char* op = engine->is_client() ? "tls client" : "tls server";
  ERR_clear_error();
  BIO* bio = BIO_new(BioMethod());
  if (bio == nullptr) {
    return tls_internal::SslStatus(absl::StatusCode::kResourceExhausted, op,
                                   "BIO_new");
  }
  BIO_set_data(bio, engine.get());
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl.get(), bio, bio);  // one reference for both directions
  SSL_set_app_data(ssl.get(), engine.get());
  SSL_set_info_callback(ssl.get(), &Engine::InfoCallback);
  // Free the certificates, ALPN list and verify parameters once the
  // handshake is done (pitfall 15).
  SSL_set_shed_handshake_config(ssl.get(), 1);
  engine->ssl_ = std::move(ssl);
  engine->Advance();  // a client writes its ClientHello
  return engine;
}

// The BIO under the SSL: reads from in_chunks_, appends to out_.

const BIO_METHOD* Engine::BioMethod() {
  static const BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_TYPE_SOURCE_SINK | BIO_get_new_index(),
                                 "evergreen tls engine");
    BIO_meth_set_read(m, &Engine::BioRead);
    BIO_meth_set_write(m, &Engine::BioWrite);
    BIO_meth_set_ctrl(m, &Engine::BioCtrl);
    return m;
  }();
  return method;
}

int Engine::BioRead(BIO* bio, char* out, int len) {
  auto* self = static_cast<Engine*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (len <= 0) return 0;
  if (self->in_size_ == 0) {
    if (self->eof_) return 0;  // EOF: BoringSSL tells close_notify from not
    BIO_set_retry_read(bio);
    return -1;
  }
  size_t want = std::min(static_cast<size_t>(len), self->in_size_);
  size_t done = 0;
  while (done < want) {
    if (self->in_chunks_.empty()) {
      // The caller's bytes, inside FeedCiphertext.
      size_t n = std::min(want - done, self->in_borrowed_.size());
      std::memcpy(out + done, self->in_borrowed_.data(), n);
      self->in_borrowed_.remove_prefix(n);
      done += n;
      continue;
    }
    std::string& front = self->in_chunks_.front();
    size_t n = std::min(want - done, front.size() - self->in_offset_);
    std::memcpy(out + done, front.data() + self->in_offset_, n);
    done += n;
    self->in_offset_ += n;
    if (self->in_offset_ == front.size()) {
      self->in_chunks_.pop_front();
      self->in_offset_ = 0;
    }
  }
  self->in_size_ -= done;
  return static_cast<int>(done);
}

int Engine::BioWrite(BIO* bio, const char* in, int len) {
  auto* self = static_cast<Engine*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (len <= 0) return 0;
  self->out_.append(in, static_cast<size_t>(len));
  return len;
}

long Engine::BioCtrl(BIO* bio, int cmd, long /*larg*/, void* /*parg*/) {
  auto* self = static_cast<Engine*>(BIO_get_data(bio));
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_PENDING:
      return static_cast<long>(self->in_size_);
    case BIO_CTRL_WPENDING:
      return static_cast<long>(self->out_.size());
    case BIO_CTRL_EOF:
      return self->in_size_ == 0 && self->eof_;
    default:
      return 0;
  }
}

void Engine::InfoCallback(const SSL* ssl, int where, int value) {
  if ((where & SSL_CB_ALERT) == 0) return;
  auto* self = static_cast<Engine*>(SSL_get_app_data(ssl));
  int description = value & 0xff;
  if (description == SSL_AD_CLOSE_NOTIFY) return;
  if (where & SSL_CB_READ) {
    self->alert_received_ = description;
  } else {
    self->alert_sent_ = description;
  }
}

// The pump.

void Engine::Advance() {
  if (ended_badly()) return;
  if (!handshake_done_) {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_.get());
    if (rc != 1) {
      OnSslError("tls handshake", rc);
      return;
    }
    OnHandshakeDone();
  }
  // Data often rides the handshake's last flight: read right away, and
  // after every feed until BoringSSL wants more (pitfall 2).
  if (!read_closed_) ReadRecords();
  FlushHandshakeMessages();
}

void Engine::ReadRecords() {
  char* scratch = ReadScratch();
  // Room for what the buffered ciphertext will decrypt to (at most that
  // much, up to the mark): one allocation instead of regrowing record by
  // record. A small message gets a small buffer.
  const size_t expected =
      plaintext_.size() +
      std::min(in_size_ + static_cast<size_t>(SSL_pending(ssl_.get())),
               high_water_ + kMaxRecord);
  if (plaintext_.capacity() < expected) plaintext_.reserve(expected);
  while (plaintext_.size() < high_water_ && !read_closed_ && !ended_badly()) {
    ERR_clear_error();
    int n = SSL_read(ssl_.get(), scratch, static_cast<int>(kMaxRecord));
    if (n <= 0) {
      OnSslError("tls read", n);
      return;
    }
    plaintext_.append(scratch, static_cast<size_t>(n));
  }
}

void Engine::FlushHandshakeMessages() {
  // A TLS 1.3 server queues its session tickets, and either side its
  // KeyUpdate reply, until the next write: a zero-length SSL_write sends
  // them. Queued plaintext would do the same on the next TakeCiphertext.
  if (!handshake_done_ || ended_badly() || close_notify_sent_ ||
      write_offset_ < write_pending_.size()) {
    return;
  }
  ERR_clear_error();
  int rc = SSL_write(ssl_.get(), "", 0);
  if (rc < 0) OnSslError("tls write", rc);
}

void Engine::OnHandshakeDone() {
  handshake_done_ = true;
  events_.handshake_done = true;
  SSL* ssl = ssl_.get();
  info_.version = static_cast<uint16_t>(SSL_version(ssl));
  info_.version_name = SSL_get_version(ssl);
  if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl)) {
    info_.cipher = SSL_CIPHER_standard_name(cipher);
  }
  if (uint16_t group = SSL_get_curve_id(ssl)) {
    if (const char* name = SSL_get_curve_name(group)) info_.group = name;
  }
  const uint8_t* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  if (alpn != nullptr) {
    info_.alpn_protocol.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  }
  if (const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
    info_.server_name = name;
  }
  if (const STACK_OF(CRYPTO_BUFFER)* chain = SSL_get0_peer_certificates(ssl)) {
    for (size_t i = 0; i < sk_CRYPTO_BUFFER_num(chain); ++i) {
      const CRYPTO_BUFFER* cert = sk_CRYPTO_BUFFER_value(chain, i);
      info_.peer_chain_der.emplace_back(
          reinterpret_cast<const char*>(CRYPTO_BUFFER_data(cert)),
          CRYPTO_BUFFER_len(cert));
    }
  }
  info_.resumed = SSL_session_reused(ssl) != 0;
  info_.early_data_accepted = SSL_early_data_accepted(ssl) != 0;
}

bool Engine::OnSslError(const char* operation, int rc) {
  // Capture everything now: the next SSL call clears the error queue.
  int error = SSL_get_error(ssl_.get(), rc);
  uint32_t packed = 0;
  std::string ssl_error = tls_internal::TakeSslError(&packed);
  switch (error) {
    case SSL_ERROR_WANT_READ:
      return false;
    case SSL_ERROR_ZERO_RETURN:
      read_closed_ = true;
      End(Outcome::kCleanClose, operation, "close_notify received", "", 0);
      return true;
    case SSL_ERROR_SYSCALL:
      if (packed == 0) {
        // Our BIO only reports EOF after FeedEof (pitfall 10).
        End(Outcome::kTruncated, operation,
            handshake_done_ ? "EOF without close_notify"
                            : "EOF during handshake",
            "", 0);
        return true;
      }
      break;
    default:
      break;
  }
  if (ERR_GET_LIB(packed) == ERR_LIB_SSL &&
      ERR_GET_REASON(packed) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    long verify = SSL_get_verify_result(ssl_.get());
    End(Outcome::kVerifyFailed, operation,
        X509_verify_cert_error_string(verify), std::move(ssl_error), verify);
    return true;
  }
  if (ERR_GET_LIB(packed) == ERR_LIB_SSL &&
      ERR_GET_REASON(packed) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
    End(Outcome::kVerifyFailed, operation, "peer did not return a certificate",
        std::move(ssl_error), SSL_get_verify_result(ssl_.get()));
    return true;
  }
  std::string reason;
  if (packed != 0 && ERR_reason_error_string(packed) != nullptr) {
    reason = ERR_reason_error_string(packed);
  } else {
    reason = absl::StrCat("SSL_get_error ", error);
  }
  End(Outcome::kProtocolError, operation, std::move(reason),
      std::move(ssl_error), 0);
  return true;
}

void Engine::End(Outcome outcome, const char* operation, std::string reason,
                 std::string ssl_error, long verify_result) {
  if (close_info_.outcome != Outcome::kOpen) {
    // Only a failure may follow a clean close (while we still write).
    if (outcome == Outcome::kCleanClose || ended_badly()) return;
  } else {
    events_.closed = true;
  }
  close_info_.outcome = outcome;
  close_info_.operation = operation;
  close_info_.reason = std::move(reason);
  close_info_.ssl_error = std::move(ssl_error);
  close_info_.alert_sent = alert_sent_;
  close_info_.alert_received = alert_received_;
  close_info_.verify_result = verify_result;
}

size_t Engine::EncryptFrom(absl::string_view data, bool whole_records_only) {
  if (data.empty() || out_.size() >= high_water_) return 0;
  // Room for the records this call makes (header, tag and content type:
  // at most kRecordOverhead each): one allocation instead of regrowing.
  constexpr size_t kRecordOverhead = 64;
  const size_t plain = std::min(data.size(), high_water_ + kMaxRecord);
  const size_t expected =
      out_.size() + plain + (plain / kMaxRecord + 1) * kRecordOverhead;
  if (out_.capacity() < expected) out_.reserve(expected);
  size_t done = 0;
  while (done < data.size() && out_.size() < high_water_ && !ended_badly()) {
    size_t n = std::min(kMaxRecord, data.size() - done);
    if (whole_records_only && n < kMaxRecord) break;
    ERR_clear_error();
    int rc = SSL_write(ssl_.get(), data.data() + done, static_cast<int>(n));
    if (rc <= 0) {
      OnSslError("tls write", rc);
      break;
    }
    done += static_cast<size_t>(rc);
    plaintext_encrypted_ += static_cast<uint64_t>(rc);
  }
  return done;
}

void Engine::Encrypt() {
  if (write_offset_ < write_pending_.size()) {
    write_offset_ += EncryptFrom(
        absl::string_view(write_pending_).substr(write_offset_), false);
  }
  if (write_offset_ == write_pending_.size()) {
    write_pending_.clear();
    write_offset_ = 0;
    if (shutdown_requested_ && !close_notify_sent_) SendCloseNotify();
  } else if (write_offset_ > write_pending_.size() / 2) {
    // Amortized: each byte moves at most once more.
    write_pending_.erase(0, write_offset_);
    write_offset_ = 0;
  }
}

void Engine::SendCloseNotify() {
  if (ended_badly()) return;
  ERR_clear_error();
  int rc = SSL_shutdown(ssl_.get());
  if (rc < 0) {
    OnSslError("tls shutdown", rc);
    return;
  }
  close_notify_sent_ = true;
}

// Public entry points.

absl::Status Engine::FeedCiphertext(absl::string_view data) {
  if (ended_badly()) {
    return absl::FailedPreconditionError(
        absl::StrCat("tls feed: the connection ended: ", status().message()));
  }
  if (read_closed_) {
    return absl::FailedPreconditionError(
        "tls feed: the peer already sent close_notify");
  }
  if (eof_) {
    return absl::FailedPreconditionError("tls feed: after EOF");
  }
  if (!data.empty() && in_chunks_.empty()) {
    // Nothing queued: BoringSSL reads `data` in place; keep a copy of what
    // it did not consume (the plaintext queue filled up, or a partial
    // record).
    in_borrowed_ = data;
    in_size_ += data.size();
    Advance();
    if (!in_borrowed_.empty()) {
      in_chunks_.emplace_back(in_borrowed_.data(), in_borrowed_.size());
      in_borrowed_ = absl::string_view();
    }
    return status();
  }
  if (!data.empty()) {
    // Small pieces join the last chunk; big ones stay as received.
    if (data.size() < 4096 &&
        in_chunks_.back().size() + data.size() <= kMaxRecord) {
      in_chunks_.back().append(data.data(), data.size());
    } else {
      in_chunks_.emplace_back(data.data(), data.size());
    }
    in_size_ += data.size();
  }
  Advance();
  return status();
}

void Engine::FeedEof() {
  if (eof_ || read_closed_ || ended_badly()) return;
  eof_ = true;
  Advance();
}

bool Engine::WantsCiphertext() const {
  return !ended_badly() && !read_closed_ && !eof_ && in_size_ < high_water_ &&
         plaintext_.size() < high_water_;
}

size_t Engine::PendingCiphertext() const {
  size_t pending = out_.size();
  if (handshake_done_ && !ended_badly() && !close_notify_sent_) {
    pending += write_pending_.size() - write_offset_;
  }
  return pending;
}

std::string Engine::TakeCiphertext() {
  if (handshake_done_ && !close_notify_sent_) Encrypt();
  plaintext_taken_ = plaintext_encrypted_;
  std::string out;
  out.swap(out_);
  return out;
}

absl::Status Engine::WritePlaintext(absl::string_view data) {
  if (ended_badly()) {
    return absl::FailedPreconditionError(
        absl::StrCat("tls write: the connection ended: ", status().message()));
  }
  if (shutdown_requested_) {
    return absl::FailedPreconditionError("tls write: after Shutdown");
  }
  if (write_offset_ == write_pending_.size() && handshake_done_ &&
      !close_notify_sent_ && data.size() >= kMaxRecord) {
    // Nothing queued ahead: full records go straight from `data` into
    // ciphertext (what small writes would coalesce into anyway) while
    // there is room below high_water; the rest is queued. A failure shows
    // in status() as it would on the next TakeCiphertext.
    data.remove_prefix(EncryptFrom(data, true));
  }
  write_pending_.append(data.data(), data.size());
  return absl::OkStatus();
}

size_t Engine::write_queue_size() const {
  return write_pending_.size() - write_offset_ + out_.size();
}

std::string Engine::ReadPlaintext() {
  std::string out;
  out.swap(plaintext_);
  Advance();
  return out;
}

absl::Status Engine::Shutdown() {
  if (ended_badly()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tls shutdown: the connection ended: ", status().message()));
  }
  if (!handshake_done_) {
    return absl::FailedPreconditionError(
        "tls shutdown: the handshake is not finished");
  }
  if (shutdown_requested_) return absl::OkStatus();
  shutdown_requested_ = true;
  if (write_offset_ == write_pending_.size()) SendCloseNotify();
  return status();
}

absl::Status Engine::KeyUpdate() {
  if (ended_badly() || !handshake_done_ || shutdown_requested_) {
    return absl::FailedPreconditionError(
        "tls key update: needs an open connection after the handshake");
  }
  if (info_.version != TLS1_3_VERSION) {
    return absl::FailedPreconditionError("tls key update: needs TLS 1.3");
  }
  ERR_clear_error();
  if (!SSL_key_update(ssl_.get(), SSL_KEY_UPDATE_REQUESTED)) {
    return tls_internal::SslStatus(absl::StatusCode::kInternal,
                                   "tls key update", "SSL_key_update");
  }
  int rc = SSL_write(ssl_.get(), "", 0);  // sends it now
  if (rc < 0) OnSslError("tls key update", rc);
  return status();
}

Engine::Events Engine::TakeEvents() {
  Events events = events_;
  events_ = Events();
  return events;
}

absl::Status Engine::status() const {
  const CloseInfo& c = close_info_;
  absl::StatusCode code;
  switch (c.outcome) {
    case Outcome::kOpen:
    case Outcome::kCleanClose:
      return absl::OkStatus();
    case Outcome::kTruncated:
      code = absl::StatusCode::kDataLoss;
      break;
    case Outcome::kVerifyFailed:
      code = absl::StatusCode::kUnauthenticated;
      break;
    case Outcome::kProtocolError:
    default:
      code = absl::StatusCode::kUnavailable;
      break;
  }
  std::string message =
      absl::StrCat(c.operation, ": ", OutcomeName(c.outcome), ": ", c.reason);
  if (c.alert_sent >= 0) {
    absl::StrAppend(&message, "; alert sent: ", AlertName(c.alert_sent));
  }
  if (c.alert_received >= 0) {
    absl::StrAppend(&message,
                    "; alert received: ", AlertName(c.alert_received));
  }
  if (!c.ssl_error.empty()) absl::StrAppend(&message, "; ", c.ssl_error);
  return absl::Status(code, message);
}

absl::StatusOr<std::string> CertificatePem(absl::string_view der) {
  ERR_clear_error();
  const uint8_t* p = reinterpret_cast<const uint8_t*>(der.data());
  bssl::UniquePtr<X509> cert(
      d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (cert == nullptr ||
      p != reinterpret_cast<const uint8_t*>(der.data()) + der.size()) {
    return tls_internal::SslStatus(absl::StatusCode::kInvalidArgument,
                                   "tls certificate pem",
                                   "not one DER certificate");
  }
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || !PEM_write_bio_X509(bio.get(), cert.get())) {
    return tls_internal::SslStatus(absl::StatusCode::kInternal,
                                   "tls certificate pem", "PEM_write_bio_X509");
  }
  const uint8_t* data = nullptr;
  size_t len = 0;
  BIO_mem_contents(bio.get(), &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

}  // namespace tls
}  // namespace evergreen
