// node_echo_server.js CERT KEY [MAX_SECONDS]: a TLS echo server on Node's
// `tls` module for //tls's interop tests. Listens on 127.0.0.1, port 0, and
// prints "listening on 127.0.0.1:PORT"; echoes what each connection sends,
// ends (close_notify) when the client ends. Exits after MAX_SECONDS (default
// 20) or on SIGTERM.
'use strict';
const fs = require('fs');
const tls = require('tls');

const [cert, key, maxSeconds] = process.argv.slice(2);
const server = tls.createServer(
    {cert: fs.readFileSync(cert), key: fs.readFileSync(key),
     ALPNProtocols: ['echo', 'http/1.1']},
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
