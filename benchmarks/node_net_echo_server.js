// node_net_echo_server.js [MAX_SECONDS]: a TCP echo server on Node's `net`
// module, the Node peer of //examples:echo_server in io_echo_compare.sh and
// io_idle_compare.sh (issue 7).
//
//   node benchmarks/node_net_echo_server.js 60
//   listening on 127.0.0.1:40123
//
// Listens on 127.0.0.1, port 0, and prints "listening on 127.0.0.1:PORT".
// Each connection (TCP_NODELAY) echoes what it reads through
// socket.pipe(socket): Node's own backpressure (reading pauses while the
// write side is above its high-water mark), and end() of the write side at
// the client's EOF. Exits 0 after MAX_SECONDS (default 20), on SIGTERM or on
// SIGINT.
'use strict';
const net = require('net');

const maxSeconds = Number(process.argv[2] || 20);
const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  socket.pipe(socket);
});
server.listen({port: 0, host: '127.0.0.1', backlog: 511}, () => {
  console.log('listening on 127.0.0.1:' + server.address().port);
});
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, 1000 * maxSeconds).unref();
