'use strict';
// Benchmark peer: a one-room chat on the `ws` package.
//
// Every client that connects is in the room. Each text message a client sends
// is broadcast to every open client, the sender included, with the plain loop
// ws's README shows for broadcasting. permessage-deflate is off so that no
// peer pays (or skips) per-connection compression.
//
// Usage: node server.js --port P [--host 127.0.0.1]

const { WebSocketServer, WebSocket } = require('ws');

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
// backlog: the same accept queue for every peer, so that a join storm is not
// decided by SYN retries.
const wss = new WebSocketServer({ host, port, backlog: 4096, perMessageDeflate: false });

wss.on('connection', (ws) => {
  ws.on('error', () => ws.terminate());
  ws.on('message', (data, isBinary) => {
    for (const c of wss.clients) {
      if (c.readyState === WebSocket.OPEN) c.send(data, { binary: isBinary });
    }
  });
});

wss.on('listening', () => {
  console.log(`node_ws listening on ${host}:${port}`);
});

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
