// tls/engine.h: Engine, one TLS connection as a sans-IO state machine.
//
// The engine never touches a socket: the caller moves bytes. Ciphertext from
// the socket goes in with FeedCiphertext and out with TakeCiphertext;
// plaintext goes in with WritePlaintext and out with ReadPlaintext. Nothing
// calls back into the caller: after each call, poll TakeEvents(), outcome()
// and the queue sizes.
//
//   using namespace evergreen::tls;
//   EngineOptions options;
//   options.server_name = "localhost";  // SNI and the certificate name check
//   options.port = 443;                 // session cache key "localhost:443"
//   auto engine = Engine::CreateClient(client_context, options);
//   if (!engine.ok()) return engine.status();
//   Engine& tls = **engine;
//   socket.Send(tls.TakeCiphertext());          // the ClientHello
//   (void)tls.WritePlaintext("GET / HTTP/1.0\r\n\r\n");  // queued
//   // On each socket read:
//   absl::Status s = tls.FeedCiphertext(bytes);  // not OK: the TLS failed
//   if (tls.TakeEvents().handshake_done) Log(tls.info().alpn_protocol);
//   Consume(tls.ReadPlaintext());
//   while (tls.PendingCiphertext() > 0) socket.Send(tls.TakeCiphertext());
//   // On socket EOF:
//   tls.FeedEof();  // outcome(): kCleanClose or kTruncated
//
// Flow control: the engine stops decrypting once high_water bytes of
// plaintext wait to be read (WantsCiphertext() turns false: stop reading the
// socket), and TakeCiphertext encrypts at most about high_water bytes per
// call. Writes are queued without limit: keep write_queue_size() below
// high_water() (plus what the socket holds) as with a stream's write queue.
// Small writes queued between two TakeCiphertext calls are coalesced into
// records of up to 16 KiB.
//
// Not thread-safe: one engine is used from one thread at a time.
#ifndef EVERGREEN_TLS_ENGINE_H_
#define EVERGREEN_TLS_ENGINE_H_

#include <openssl/base.h>
#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tls/context.h"

namespace evergreen {
namespace tls {

// Outcome is how a connection stands or ended.
enum class Outcome {
  kOpen,           // handshaking or established
  kCleanClose,     // the peer sent close_notify (we may still write)
  kTruncated,      // the transport ended without close_notify
  kProtocolError,  // a TLS failure: BoringSSL's reason and any alert
  kVerifyFailed,   // our verification of the peer's certificate failed
};

// OutcomeName returns "open", "clean close", "truncated", "protocol error" or
// "verify failed".
absl::string_view OutcomeName(Outcome outcome);

// HandshakeInfo describes an established connection.
struct HandshakeInfo {
  uint16_t version = 0;       // TLS1_2_VERSION or TLS1_3_VERSION
  std::string version_name;   // "TLSv1.2", "TLSv1.3"
  std::string cipher;         // IETF name, "TLS_AES_128_GCM_SHA256"
  std::string group;          // key exchange group, "X25519"; may be empty
  std::string alpn_protocol;  // empty when none was negotiated
  std::string server_name;    // SNI: sent (client) or received (server)
  // The peer's certificates, leaf first, DER (CertificatePem converts); a
  // server sees the client's chain only when the client sent one.
  std::vector<std::string> peer_chain_der;
  bool resumed = false;              // an abbreviated handshake from a session
  bool early_data_accepted = false;  // always false: 0-RTT is off
};

// CloseInfo says why a connection left kOpen.
struct CloseInfo {
  Outcome outcome = Outcome::kOpen;
  // What was running: "tls handshake", "tls read", "tls write",
  // "tls shutdown", "tls key update".
  std::string operation;
  // A short reason: "close_notify received", "EOF without close_notify",
  // "EOF during handshake", the verify reason ("Hostname mismatch",
  // "certificate has expired", "unable to get local issuer certificate",
  // "peer did not return a certificate") or BoringSSL's reason code
  // ("WRONG_VERSION_NUMBER", "TLSV1_ALERT_UNKNOWN_CA").
  std::string reason;
  // The full BoringSSL error (ERR_error_string_n), empty if none.
  std::string ssl_error;
  // Alert descriptions (SSL_AD_*) sent and received, -1 for none.
  int alert_sent = -1;
  int alert_received = -1;
  // X509_V_OK, or the X509_V_ERR_* code of a failed verification.
  long verify_result = 0;
};

// EngineOptions configures one connection.
struct EngineOptions {
  // Clients: the server's DNS name or IP literal ("::1" or "[::1]"). A name
  // is sent as SNI; either is checked against the certificate when the
  // context verifies the peer (then it is required). Servers: unused.
  std::string server_name;
  // Clients: the server's port, used only to key the session cache
  // ("localhost:443"); 0 keys it by name alone.
  uint16_t port = 0;
  // Flow-control mark for the plaintext and ciphertext queues, bytes (> 0).
  size_t high_water = 64 * 1024;
};

// Engine is one TLS connection (client or server) over memory. Made by
// CreateClient or CreateServer; neither copyable nor movable.
class Engine {
 public:
  // Events are what happened since the last TakeEvents.
  struct Events {
    bool handshake_done = false;  // reported once per engine
    bool closed = false;          // outcome() left kOpen; once per engine
  };

  // The largest TLS record payload.
  static constexpr size_t kMaxRecord = 16384;

  // CreateClient returns a client engine whose ClientHello is already
  // pending (PendingCiphertext() > 0). Returns InvalidArgument for a bad
  // server name, a missing one when the context verifies the peer, or
  // high_water == 0.
  static absl::StatusOr<std::unique_ptr<Engine>> CreateClient(
      std::shared_ptr<ClientContext> context, const EngineOptions& options);
  // CreateServer returns a server engine waiting for a ClientHello.
  // Returns InvalidArgument for high_water == 0.
  static absl::StatusOr<std::unique_ptr<Engine>> CreateServer(
      std::shared_ptr<ServerContext> context, const EngineOptions& options);

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  ~Engine();

  // FeedCiphertext queues bytes read from the socket and processes them:
  // handshake progress, decryption into the plaintext queue (up to
  // high_water), post-handshake messages, alerts. Returns status() after
  // processing: OK unless this or an earlier call failed the connection.
  // Returns FailedPrecondition without using the bytes when the engine
  // already ended (failure, close_notify received, or after FeedEof).
  absl::Status FeedCiphertext(absl::string_view data);
  // FeedEof tells the engine that the socket reached EOF. Buffered records
  // are still processed; if the peer's close_notify was not among them, the
  // outcome becomes kTruncated ("EOF without close_notify", or "EOF during
  // handshake"). Detection waits while the plaintext queue is full. No-op
  // once ended.
  void FeedEof();
  // WantsCiphertext returns whether the caller should keep reading the
  // socket: the connection is open for reading and neither the buffered
  // ciphertext nor the unread plaintext reached high_water.
  bool WantsCiphertext() const;
  // BufferedCiphertext returns fed bytes not yet consumed by BoringSSL.
  size_t BufferedCiphertext() const { return in_size_; }

  // PendingCiphertext returns the bytes waiting to go to the socket:
  // ciphertext ready plus plaintext that TakeCiphertext would encrypt now
  // (an estimate of the ciphertext: records add ~22-29 bytes each). Zero
  // exactly when there is nothing to send.
  size_t PendingCiphertext() const;
  // TakeCiphertext encrypts queued plaintext (records of up to 16 KiB, until
  // about high_water bytes of ciphertext are ready), adds close_notify once
  // all plaintext is out after Shutdown, and moves everything ready to the
  // caller, who owns the bytes. May return "" (nothing to send).
  std::string TakeCiphertext();
  // plaintext_bytes_taken returns how many plaintext bytes, counted from the
  // first WritePlaintext, are encrypted into ciphertext already returned by
  // TakeCiphertext: a write ending at that offset is complete once those
  // ciphertext bytes reached the socket.
  uint64_t plaintext_bytes_taken() const { return plaintext_taken_; }

  // WritePlaintext queues `data` for sending; before the handshake ends it
  // waits for it (no 0-RTT). After the handshake, when nothing is queued,
  // the full 16 KiB records at the start of a large `data` are encrypted at
  // once, straight from `data` (no copy), while less than high_water bytes
  // of ciphertext wait; the rest is queued as usual (so it still coalesces
  // with later small writes). Either way the bytes are sent in order and
  // count in write_queue_size() until taken. Returns FailedPrecondition
  // after Shutdown or a failure (with its reason).
  absl::Status WritePlaintext(absl::string_view data);
  // write_queue_size returns queued plaintext not yet encrypted plus
  // ciphertext not yet taken.
  size_t write_queue_size() const;

  // PendingPlaintext returns the decrypted bytes waiting to be read.
  size_t PendingPlaintext() const { return plaintext_.size(); }
  // ReadPlaintext moves out every decrypted byte, then resumes decryption of
  // buffered ciphertext (which may refill the queue, change the outcome, or
  // produce ciphertext such as a KeyUpdate reply).
  std::string ReadPlaintext();

  // Shutdown sends close_notify after the queued plaintext (on the next
  // TakeCiphertext, or now when nothing is queued); later writes fail.
  // Reading continues until the peer's close_notify (kCleanClose). Returns
  // OK if already requested, FailedPrecondition before the handshake ended
  // (just close the socket) or after a failure.
  absl::Status Shutdown();
  // KeyUpdate (TLS 1.3) sends a KeyUpdate asking the peer to update too.
  // Returns FailedPrecondition before the handshake, after Shutdown or a
  // failure, and on TLS 1.2.
  absl::Status KeyUpdate();

  // TakeEvents returns and clears the events since the last call.
  Events TakeEvents();
  // handshake_done returns whether the handshake completed.
  bool handshake_done() const { return handshake_done_; }
  // info describes the connection; empty before handshake_done().
  const HandshakeInfo& info() const { return info_; }
  // outcome returns how the connection stands.
  Outcome outcome() const { return close_info_.outcome; }
  // close_info says why the connection left kOpen.
  const CloseInfo& close_info() const { return close_info_; }
  // status returns OK while open or after a clean close; otherwise
  // DataLoss (truncated), Unavailable (protocol error) or Unauthenticated
  // (verify failed) with "<operation>: <outcome>: <reason>", the alerts and
  // BoringSSL's error, e.g. "tls handshake: verify failed: Hostname
  // mismatch; alert sent: bad certificate; error:1000007d:SSL
  // routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED".
  absl::Status status() const;
  // close_notify_sent returns whether our close_notify is in the ciphertext.
  bool close_notify_sent() const { return close_notify_sent_; }
  // is_client returns whether this is a client engine.
  bool is_client() const { return client_context_ != nullptr; }
  // high_water returns the flow-control mark.
  size_t high_water() const { return high_water_; }
  // native_handle returns the SSL, owned by the engine, for inspection
  // only: reading or writing through it breaks the engine.
  SSL* native_handle() const { return ssl_.get(); }

 private:
  Engine(std::shared_ptr<ClientContext> client,
         std::shared_ptr<ServerContext> server, size_t high_water);
  static absl::StatusOr<std::unique_ptr<Engine>> Start(
      std::unique_ptr<Engine> engine, bssl::UniquePtr<SSL> ssl);

  bool ended_badly() const {
    return close_info_.outcome != Outcome::kOpen &&
           close_info_.outcome != Outcome::kCleanClose;
  }
  void Advance();
  void ReadRecords();
  void Encrypt();
  // EncryptFrom encrypts the start of `data` in records of up to
  // kMaxRecord (only full ones if `whole_records_only`) until high_water
  // bytes of ciphertext wait; returns the bytes encrypted.
  size_t EncryptFrom(absl::string_view data, bool whole_records_only);
  void SendCloseNotify();
  void FlushHandshakeMessages();
  void OnHandshakeDone();
  // OnSslError handles a failed SSL call's return value; false for
  // "wants more input" (not an error).
  bool OnSslError(const char* operation, int rc);
  void End(Outcome outcome, const char* operation, std::string reason,
           std::string ssl_error, long verify_result);

  static int BioRead(BIO* bio, char* out, int len);
  static int BioWrite(BIO* bio, const char* in, int len);
  static long BioCtrl(BIO* bio, int cmd, long larg, void* parg);
  static const BIO_METHOD* BioMethod();
  static void InfoCallback(const SSL* ssl, int where, int value);

  // Contexts outlive ssl_ (their callbacks run inside SSL calls).
  std::shared_ptr<ClientContext> client_context_;
  std::shared_ptr<ServerContext> server_context_;
  const size_t high_water_;

  // Ciphertext fed and not yet read by BoringSSL, as received (no copy or
  // memmove of a backlog: pitfall 3). While FeedCiphertext runs with
  // nothing queued, BoringSSL reads the caller's bytes in place
  // (in_borrowed_); only what it left is copied into in_chunks_.
  std::deque<std::string> in_chunks_;
  size_t in_offset_ = 0;           // consumed bytes of in_chunks_.front()
  absl::string_view in_borrowed_;  // after in_chunks_; empty between calls
  size_t in_size_ = 0;             // in_chunks_ (unconsumed) + in_borrowed_
  bool eof_ = false;
  // Ciphertext written by BoringSSL, not yet taken.
  std::string out_;
  // Plaintext queued by WritePlaintext; write_offset_ bytes are encrypted.
  std::string write_pending_;
  size_t write_offset_ = 0;
  uint64_t plaintext_encrypted_ = 0;
  uint64_t plaintext_taken_ = 0;
  // Decrypted plaintext not yet read.
  std::string plaintext_;

  bool handshake_done_ = false;
  bool read_closed_ = false;  // close_notify received
  bool shutdown_requested_ = false;
  bool close_notify_sent_ = false;
  int alert_sent_ = -1;
  int alert_received_ = -1;
  Events events_;
  HandshakeInfo info_;
  CloseInfo close_info_;

  bssl::UniquePtr<SSL> ssl_;  // last: freed first
};

// CertificatePem returns `der` (one certificate) as PEM text. Returns
// InvalidArgument when `der` is not a certificate.
absl::StatusOr<std::string> CertificatePem(absl::string_view der);

}  // namespace tls
}  // namespace evergreen

#endif  // EVERGREEN_TLS_ENGINE_H_
