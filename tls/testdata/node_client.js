// node_client.js PORT CA BYTES: a client on Node's `tls` module for //tls's
// interop tests. Connects to 127.0.0.1:PORT verifying the server as
// "localhost" against CA, sends BYTES pattern bytes, checks that the same
// bytes come back, ends (close_notify) and prints
// "ok BYTES PROTOCOL ALPN" once the server ended too. Exits 1 on any error or
// mismatch, and after 20 s.
'use strict';
const fs = require('fs');
const tls = require('tls');

const [port, ca, bytesArg] = process.argv.slice(2);
const total = Number(bytesArg);
const data = Buffer.alloc(total);
for (let i = 0; i < total; i++) data[i] = (i * 131 + (i >> 13)) & 0xff;

const fail = (why) => {
  console.error('node_client: ' + why);
  process.exit(1);
};
setTimeout(() => fail('timed out'), 20000).unref();

const chunks = [];
let received = 0;
const socket = tls.connect(
    {host: '127.0.0.1', port: Number(port), ca: fs.readFileSync(ca),
     servername: 'localhost', ALPNProtocols: ['echo']},
    () => {
      if (!socket.authorized) fail('not authorized: ' + socket.authorizationError);
      socket.write(data);
    });
socket.on('data', (chunk) => {
  chunks.push(chunk);
  received += chunk.length;
  if (received > total) fail('received ' + received + ' > ' + total);
  if (received === total) {
    if (!Buffer.concat(chunks).equals(data)) fail('echo differs');
    socket.end();  // close_notify, then FIN
  }
});
socket.on('end', () => {
  if (received !== total) fail('ended after ' + received + ' of ' + total);
  console.log('ok ' + total + ' ' + socket.getProtocol() + ' ' +
              (socket.alpnProtocol || 'none'));
  process.exit(0);
});
socket.on('error', (e) => fail(String(e)));
