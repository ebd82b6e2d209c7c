// node_echo_server.js CERT KEY [MAX_SECONDS [CIPHERS]]: a TLS echo server on
// Node's `tls` module for //tls's interop tests and benchmarks/tls_compare.sh.
// Listens on 127.0.0.1, port 0, and prints "listening on 127.0.0.1:PORT";
// echoes what each connection sends, ends (close_notify) when the client
// ends. Exits after MAX_SECONDS (default 20) or on SIGTERM. CIPHERS, when
// given, is Node's `ciphers` option (an OpenSSL cipher string; TLS 1.3 suite
// names allowed), e.g. "TLS_AES_128_GCM_SHA256" to pick the suite the other
// servers negotiate with a BoringSSL client (Node 20's own order puts
// TLS_AES_256_GCM_SHA384 first).
'use strict';
const fs = require('fs');
const tls = require('tls');

const [cert, key, maxSeconds, ciphers] = process.argv.slice(2);
const options = {cert: fs.readFileSync(cert), key: fs.readFileSync(key),
                 ALPNProtocols: ['echo', 'http/1.1']};
if (ciphers) options.ciphers = ciphers;
const server = tls.createServer(
    options,
    (socket) => {
      socket.on('error', (e) => console.error('connection error: ' + e));
      socket.pipe(socket);  // echo, with backpressure; end() at the end
    });
server.listen(0, '127.0.0.1', () => {
  console.log('listening on 127.0.0.1:' + server.address().port);
});
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
setTimeout(stop, 1000 * Number(maxSeconds || 20)).unref();
