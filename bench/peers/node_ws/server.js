'use strict';
// Benchmark peer: a one-room chat on the `ws` package.
//
// Every client that connects is in the room. Each text message a client sends
// is broadcast to every open client, the sender included, with the plain loop
// ws's README shows for broadcasting. permessage-deflate is off so that no
// peer pays (or skips) per-connection compression.
//
// With BENCH_HELLO_SECRET set, a client is in the room only after its first
// message, a hello carrying an HS256 JWT and the room (bench/lib/hello.py has
// the contract): the token's shape, its HMAC-SHA-256 under the secret (Node's
// crypto, compared in constant time) and its `exp` are checked, the client gets
// one `welcome` frame, and anything else is closed with 1008. That makes joins
// comparable with pchat's token-checked connect.
//
// Usage: node server.js --port P [--host 127.0.0.1] [--room bench]

const crypto = require('crypto');
const { WebSocketServer, WebSocket } = require('ws');

function parseArgs(argv) {
  const opts = { host: '127.0.0.1', port: 8080, room: 'bench' };
  for (let i = 2; i < argv.length; i += 1) {
    if (argv[i] === '--port') opts.port = Number(argv[++i]);
    else if (argv[i] === '--host') opts.host = argv[++i];
    else if (argv[i] === '--room') opts.room = argv[++i];
    else throw new Error(`unknown argument: ${argv[i]}`);
  }
  return opts;
}

const JWT = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/;

// The token's `sub` if `data` is a valid hello for `room`, else null.
function checkHello(data, secret, room) {
  let hello;
  try {
    hello = JSON.parse(data.toString());
  } catch {
    return null;
  }
  if (hello === null || hello.type !== 'hello' || hello.room !== room) return null;
  if (typeof hello.token !== 'string') return null;
  const parts = JWT.exec(hello.token);
  if (parts === null) return null;
  let header;
  try {
    header = JSON.parse(Buffer.from(parts[1], 'base64url').toString());
  } catch {
    return null;
  }
  if (header === null || header.alg !== 'HS256') return null;
  const expected = crypto.createHmac('sha256', secret).update(`${parts[1]}.${parts[2]}`).digest();
  const given = Buffer.from(parts[3], 'base64url');
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return null;
  let claims;
  try {
    claims = JSON.parse(Buffer.from(parts[2], 'base64url').toString());
  } catch {
    return null;
  }
  if (claims === null || typeof claims.exp !== 'number' || claims.exp <= Date.now() / 1000) {
    return null;
  }
  return typeof claims.sub === 'string' ? claims.sub : null;
}

const { host, port, room } = parseArgs(process.argv);
const secret = process.env.BENCH_HELLO_SECRET || null;
// The clients in the room: all of them, or with a hello those that sent a valid one.
const members = new Set();
// backlog: the same accept queue for every peer, so that a join storm is not
// decided by SYN retries.
const wss = new WebSocketServer({
  host,
  port,
  backlog: 4096,
  perMessageDeflate: false,
  clientTracking: secret === null,
});
const roomClients = secret === null ? wss.clients : members;

function broadcast(data, isBinary) {
  for (const c of roomClients) {
    if (c.readyState === WebSocket.OPEN) c.send(data, { binary: isBinary });
  }
}

wss.on('connection', (ws) => {
  ws.on('error', () => ws.terminate());
  if (secret === null) {
    ws.on('message', broadcast);
    return;
  }
  ws.once('message', (data) => {
    const user = checkHello(data, secret, room);
    if (user === null) {
      ws.close(1008, 'bad hello');
      return;
    }
    ws.send(JSON.stringify({ type: 'welcome', user }));
    members.add(ws);
    ws.on('close', () => members.delete(ws));
    ws.on('message', broadcast);
  });
});

wss.on('listening', () => {
  console.log(`node_ws listening on ${host}:${port}${secret === null ? '' : ' (hello)'}`);
});

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
