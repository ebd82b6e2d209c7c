// tls/engine_fuzzer.cc: a libFuzzer target for tls::Engine (clang only).
//
// The input drives one engine as the peer would: the first byte picks the
// engine (a server fed a ClientHello, a client fed the server's flight, or
// an established server fed records after an honest handshake), and the
// rest is a sequence of feeds, each one length byte then that many bytes; a
// zero length is the socket's EOF. After each feed the engine is drained the
// way an adapter would, and sometimes asked to write or shut down.
// BoringSSL itself is not instrumented: the coverage is the engine's.
//
//   ./bazelw build --config=fuzz //tls:engine_fuzzer  # see tls/README.md
//   TLS_TESTDATA=tls/testdata bazel-bin/tls/engine_fuzzer \
//       -max_total_time=60 corpus_dir
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "tls/context.h"
#include "tls/engine.h"

namespace evergreen {
namespace tls {
namespace {

std::string TestData(const char* name) {
  const char* root = std::getenv("TLS_TESTDATA");
  return absl::StrCat(root != nullptr ? root : "tls/testdata", "/", name);
}

struct Contexts {
  std::shared_ptr<ServerContext> server;
  std::shared_ptr<ClientContext> client;
};

const Contexts& GetContexts() {
  static const Contexts* contexts = [] {
    ServerContextOptions server_options;
    server_options.identities.push_back(
        Identity{Pem::File(TestData("server.pem")),
                 Pem::File(TestData("server.key")),
                 {}});
    server_options.alpn_protocols = {"h2", "http/1.1"};
    ClientContextOptions client_options;
    client_options.trust = Trust::CaFile(TestData("ca.pem"));
    client_options.alpn_protocols = {"h2"};
    auto server = ServerContext::Create(server_options);
    auto client = ClientContext::Create(client_options);
    if (!server.ok() || !client.ok()) {
      std::fprintf(stderr, "engine_fuzzer: %s %s (set TLS_TESTDATA)\n",
                   server.status().ToString().c_str(),
                   client.status().ToString().c_str());
      std::abort();
    }
    return new Contexts{*server, *client};
  }();
  return *contexts;
}

// Drain does what an adapter does after a feed.
void Drain(Engine& engine, uint8_t flags) {
  (void)engine.TakeEvents();
  (void)engine.ReadPlaintext();
  if (flags & 1) (void)engine.WritePlaintext("fuzz");
  if (flags & 2) (void)engine.Shutdown();
  if (flags & 4) (void)engine.KeyUpdate();
  while (engine.PendingCiphertext() > 0) (void)engine.TakeCiphertext();
  (void)engine.status();
  (void)engine.WantsCiphertext();
}

void Pump(Engine& a, Engine& b) {
  for (int i = 0; i < 20; ++i) {
    std::string x = a.TakeCiphertext();
    std::string y = b.TakeCiphertext();
    if (x.empty() && y.empty()) return;
    if (!x.empty()) (void)b.FeedCiphertext(x);
    if (!y.empty()) (void)a.FeedCiphertext(y);
  }
}

}  // namespace
}  // namespace tls
}  // namespace evergreen

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace evergreen::tls;
  if (size < 1) return 0;
  const Contexts& contexts = GetContexts();
  EngineOptions options;
  options.server_name = "localhost";
  options.high_water = 1024 + data[0] * 64;  // small marks: flow control
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Engine> peer;  // keeps the established pair alive
  switch (data[0] % 3) {
    case 0:
      engine = *Engine::CreateServer(contexts.server, options);
      break;
    case 1:
      engine = *Engine::CreateClient(contexts.client, options);
      (void)engine->TakeCiphertext();  // the ClientHello goes nowhere
      break;
    default:
      engine = *Engine::CreateServer(contexts.server, options);
      peer = *Engine::CreateClient(contexts.client, options);
      Pump(*peer, *engine);
      break;
  }
  size_t at = 1;
  while (at < size) {
    size_t len = data[at++];
    uint8_t flags = static_cast<uint8_t>(len >> 5);
    if (len == 0) {
      engine->FeedEof();
    } else {
      len = len < size - at ? len : size - at;
      (void)engine->FeedCiphertext(
          absl::string_view(reinterpret_cast<const char*>(data + at), len));
      at += len;
    }
    Drain(*engine, flags);
  }
  return 0;
}
