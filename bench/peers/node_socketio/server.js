'use strict';
// Benchmark peer: a one-room chat on socket.io.
//
// Every client that connects to the default namespace is in the room. Each
// `msg` event a client emits is broadcast with `io.emit('msg', data)` to every
// connected client, the sender included. The websocket transport only
// (clients connect straight to /socket.io/?EIO=4&transport=websocket), and
// permessage-deflate off (socket.io's default, set here explicitly) so that no
// peer pays (or skips) per-connection compression.
//
// Usage: node server.js --port P [--host 127.0.0.1]

const { createServer } = require('node:http');
const { Server } = require('socket.io');

function parseArgs(argv) {
  const opts = { host: '127.0.0.1', port: 8080 };
  for (let i = 2; i < argv.length; i += 1) {
    if (argv[i] === '--port') opts.port = Number(argv[++i]);
    else if (argv[i] === '--host') opts.host = argv[++i];
    else throw new Error(`unknown argument: ${argv[i]}`);
  }
  return opts;
}

const { host, port } = parseArgs(process.argv);
const httpServer = createServer();
const io = new Server(httpServer, {
  transports: ['websocket'],
  perMessageDeflate: false,
  serveClient: false,
});

io.on('connection', (socket) => {
  socket.on('msg', (data) => {
    io.emit('msg', data);
  });
});

// backlog: the same accept queue for every peer, so that a join storm is not
// decided by SYN retries.
httpServer.listen({ port, host, backlog: 4096 }, () => {
  console.log(`node_socketio listening on ${host}:${port}`);
});

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
