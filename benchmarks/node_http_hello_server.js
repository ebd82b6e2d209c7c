// node_http_hello_server.js [MAX_SECONDS]: the Node peer of
// //examples/webapp's GET /hello in http_compare.sh (issue 9): Node's
// `http` module answering every request with the same plain-text hello
// (keep-alive, as Node does by default).
//
//   node benchmarks/node_http_hello_server.js 60
//   listening on 127.0.0.1:40123
//
// Listens on 127.0.0.1, port 0, and prints "listening on 127.0.0.1:PORT".
// Exits 0 after MAX_SECONDS (default 60), on SIGTERM or on SIGINT.
'use strict';
const http = require('http');

const maxSeconds = Number(process.argv[2] || 60);
const body = 'Hello, World!\n';
const server = http.createServer((req, res) => {
  res.writeHead(200, {
    'Content-Type': 'text/plain',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
});
server.keepAliveTimeout = 15000;
server.listen({port: 0, host: '127.0.0.1', backlog: 511}, () => {
  console.log('listening on 127.0.0.1:' + server.address().port);
});
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, 1000 * maxSeconds).unref();
