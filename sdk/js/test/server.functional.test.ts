// Functional tests: SDK clients against the REAL Python server (`pchat serve`), started as a
// child process on a free port with a temporary data directory ($PCHAT_BIN picks the binary).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';

import {
  ConflictError,
  Events,
  ForbiddenError,
  InvalidRequestError,
  PChatSDK,
  States,
  TokenError,
  type DisconnectEvent,
  type Message,
  type PChatError,
  type PChatSDKOptions,
} from '../src/index.js';
import { next, record, sleep, stored, until } from './helpers.js';
import { RealServer } from './realServer.js';

let server: RealServer;
const clients: PChatSDK[] = [];

function client(options: PChatSDKOptions = {}): PChatSDK {
  const sdk = new PChatSDK({ url: server.url, WebSocket, backoffBase: 50, backoffMax: 500, ...options });
  clients.push(sdk);
  return sdk;
}

async function join(room: string, sub: string, name: string, role?: string): Promise<PChatSDK> {
  const sdk = client();
  await sdk.connect(room, name, await server.token(sub, role), role ? { role } : {});
  return sdk;
}

beforeAll(async () => {
  server = await RealServer.start();
});

afterAll(async () => {
  for (const sdk of clients.splice(0)) await sdk.disconnect();
  await server?.stop();
});

describe('the real server', () => {
  it('serves the token service as documented', async () => {
    const { key, secret } = server.credentials;
    const ok = await server.tokenResponse('sub=ann', { 'auth-api-key': key, 'auth-api-secret': secret });
    expect(ok.status).toBe(200);
    const { token } = (await ok.json()) as { token: string };
    const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as Record<string, unknown>;
    expect(Object.keys(header)).toEqual(['typ', 'alg', 'kid']);
    expect(header).toMatchObject({ typ: 'JWT', alg: 'HS256' });
    const wrong = await server.tokenResponse('sub=ann', { 'auth-api-key': key, 'auth-api-secret': 'nope' });
    expect(wrong.status).toBe(401);
    const bad = await server.tokenResponse('sub=', { 'auth-api-key': key, 'auth-api-secret': secret });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: number } }).error.code).toBe(104);
  });

  it('two clients chat both ways', async () => {
    const ann = await join('chat', 'ann', 'Ann');
    const bob = await join('chat', 'bob', 'Bob');
    expect(ann.state).toBe(States.CONNECTED);
    expect(bob.user).toEqual({ id: 'bob', username: 'Bob', role: 'viewer' });
    const annSeen: Message[] = [];
    const bobSeen: Message[] = [];
    ann.on(Events.MESSAGE, (m) => annSeen.push(m));
    bob.on(Events.MESSAGE, (m) => bobSeen.push(m));

    const hi = await ann.sendMessage('hi Bob');
    const hello = await bob.sendMessage('hello Ann');
    const again = await ann.sendMessage('how are you?');
    await until(() => annSeen.length === 3 && bobSeen.length === 3, 5_000, 'three messages each');
    const ids = [hi.id, hello.id, again.id];
    expect(annSeen.map((m) => m.id)).toEqual(ids);
    expect(bobSeen.map((m) => m.id)).toEqual(ids);
    expect(bob.messages.map((m) => m.text)).toEqual(['hi Bob', 'hello Ann', 'how are you?']);
    expect(bob.messages.map((m) => m.user.id)).toEqual(['ann', 'bob', 'ann']);
    expect(ann.messages).toEqual(bob.messages);
    await until(() => ann.online === 2, 3_000, 'online 2');
  });

  it('loads history page by page', async () => {
    const ann = await join('history', 'ann', 'Ann');
    const sent: Message[] = [];
    for (let i = 1; i <= 7; i++) sent.push(await stored(ann.sendMessage(`message ${i}`)));
    const cid = await join('history', 'cid', 'Cid');
    expect(cid.messages).toEqual([]);
    const pages: string[][] = [];
    cid.on(Events.HISTORY_LOAD, (page) => pages.push(page.map((m) => m.text)));
    const [first, second, third] = await Promise.all([
      cid.loadHistory(null, { limit: 3 }),
      cid.loadHistory(null, { limit: 3 }),
      cid.loadHistory(null, { limit: 3 }),
    ]);
    expect(first?.map((m) => m.text)).toEqual(['message 5', 'message 6', 'message 7']);
    expect(second?.map((m) => m.text)).toEqual(['message 2', 'message 3', 'message 4']);
    expect(third?.map((m) => m.text)).toEqual(['message 1']);
    expect(pages).toHaveLength(3);
    expect(cid.hasMoreHistory).toBe(false);
    expect(cid.messages.map((m) => m.id)).toEqual(sent.map((m) => m.id));

    const dan = await join('history', 'dan', 'Dan');
    const before = await dan.loadHistory((sent[3] as Message).ts, { limit: 100 });
    expect(before.every((m) => m.ts < (sent[3] as Message).ts)).toBe(true);
    expect(before.map((m) => m.text)).toContain('message 1');
  });

  it('deletes messages softly, with permissions', async () => {
    const mia = await join('delete', 'mia', 'Mia', 'moderator');
    const bob = await join('delete', 'bob', 'Bob');
    const own = await bob.sendMessage('oops');
    const other = await mia.sendMessage('from the moderator');
    const bad = await bob.sendMessage('rude');
    await until(() => mia.lastSeq === bob.lastSeq && mia.messages.length === 3);

    const miaDeletes = record(mia, [Events.MESSAGE_DELETE]);
    const deleted = await bob.deleteMessage(own.id);
    expect(deleted).toMatchObject({ id: own.id, deleted: true, text: '' });
    expect(deleted?.deletedBy?.id).toBe('bob');
    await expect(bob.deleteMessage(other.id)).rejects.toBeInstanceOf(ForbiddenError);
    await mia.deleteMessage(bad.id);
    await expect(mia.deleteMessage(bad.id)).rejects.toMatchObject({ code: 119, name: 'already_deleted' });
    await expect(mia.deleteMessage('no-such-id')).rejects.toMatchObject({ code: 112 });
    await until(() => miaDeletes.length === 2);
    expect(miaDeletes).toEqual([`message_delete:${own.id}`, `message_delete:${bad.id}`]);
    await until(() => bob.messages.filter((m) => m.deleted).length === 2);

    const late = await join('delete', 'cid', 'Cid');
    const page = await late.loadHistory();
    expect(page.map((m) => [m.id, m.deleted, m.text])).toEqual([
      [own.id, true, ''],
      [other.id, false, 'from the moderator'],
      [bad.id, true, ''],
    ]);
  });

  it('sends reactions and aggregates them', async () => {
    const ann = await join('react', 'ann', 'Ann');
    const bob = await join('react', 'bob', 'Bob');
    const reaction = next(ann, Events.REACTION);
    const stats = next(ann, Events.REACTIONS_STATS, (s) => (s.love ?? 0) >= 2);
    await bob.sendReaction('love');
    await bob.sendReaction('love');
    await ann.sendReaction('fire');
    expect(await reaction).toMatchObject({ reaction: 'love', user: { id: 'bob', username: 'Bob' } });
    expect((await stats).love).toBe(2);
    const totals = await bob.getReactionsStats();
    expect(totals).toMatchObject({ love: 2, fire: 1 });
    expect(bob.reactionTypes).toContain('like');
    await expect(bob.sendReaction('meh')).rejects.toMatchObject({ code: 118 });
    await expect(bob.sendReaction('meh')).rejects.toBeInstanceOf(InvalidRequestError);
  });

  it('runs polls from creation to finish', async () => {
    const mia = await join('polls', 'mia', 'Mia', 'moderator');
    const bob = await join('polls', 'bob', 'Bob');
    await expect(bob.createPoll('Mine?', ['a', 'b'])).rejects.toBeInstanceOf(ForbiddenError);

    const published = next(bob, Events.POLL);
    const poll = await mia.createPoll('Tea or coffee?', ['tea', 'coffee']);
    expect(poll).toMatchObject({ question: 'Tea or coffee?', status: 'open', totalVotes: 0 });
    expect((await published).id).toBe(poll.id);

    const tally = next(mia, Events.POLL, (p) => p.id === poll.id && p.totalVotes === 1);
    const voted = await bob.vote(poll.id, 1);
    expect(voted.myVote).toBe(1);
    expect(voted.options.map((o) => o.votes)).toEqual([0, 1]);
    expect((await tally).options.map((o) => o.votes)).toEqual([0, 1]);
    await expect(bob.vote(poll.id, 0)).rejects.toBeInstanceOf(ConflictError);
    await expect(bob.vote(poll.id, 0)).rejects.toMatchObject({ code: 113 });
    await expect(bob.finishPoll(poll.id)).rejects.toBeInstanceOf(ForbiddenError);

    const finished = next(bob, Events.POLL, (p) => p.id === poll.id && p.status === 'finished');
    await mia.finishPoll(poll.id);
    const final = await finished;
    expect(final.myVote).toBe(1);
    expect(final.finishedAt).not.toBeNull();
    await expect(bob.vote(poll.id, 0)).rejects.toMatchObject({ code: 114 });
    expect((await bob.getPolls()).map((p) => [p.id, p.status])).toEqual([[poll.id, 'finished']]);

    const opened = next(bob, Events.POLL, (p) => p.question === 'Later?' && p.status === 'open', 10_000);
    const scheduled = await mia.createPoll('Later?', ['yes', 'no'], new Date(Date.now() + 1_500));
    expect(scheduled.status).toBe('scheduled');
    expect(bob.polls.some((p) => p.id === scheduled.id)).toBe(false); // viewers see it once published
    expect((await opened).id).toBe(scheduled.id);
    expect(bob.polls.find((p) => p.id === scheduled.id)?.status).toBe('open');
  });

  it('refuses bad connects with the documented errors', async () => {
    const sdk = client();
    await expect(sdk.connect('errors', 'Ann', 'not-a-jwt')).rejects.toMatchObject({ code: 200 });
    await expect(sdk.connect('errors', 'Ann', 'not-a-jwt')).rejects.toBeInstanceOf(TokenError);
    expect(sdk.state).toBe(States.DISCONNECTED);
    const token = await server.token('ann');
    await expect(sdk.connect('errors', 'Ann', token, { role: 'admin' })).rejects.toMatchObject({
      code: 117,
      name: 'role_not_granted',
    });
    await expect(sdk.connect('bad room!', 'Ann', token)).rejects.toMatchObject({ code: 115 });
    await expect(sdk.connect('errors', ' Ann', token)).rejects.toMatchObject({ code: 116 });
    await expect(sdk.sendMessage('x')).rejects.toMatchObject({ name: 'StateError' });
    await sdk.connect('errors', 'Ann', token);
    await expect(sdk.sendMessage('   ')).rejects.toMatchObject({ code: 110 });
    await expect(sdk.sendMessage('x'.repeat(2001))).rejects.toMatchObject({ code: 109 });
    expect(sdk.state).toBe(States.CONNECTED);
  });

  it('pings and keeps the connection', async () => {
    const sdk = client({ pingInterval: 100 });
    await sdk.connect('ping', 'Ann', await server.token('ann'));
    const disconnects = record(sdk, [Events.DISCONNECT]);
    await sleep(600);
    expect(disconnects).toEqual([]);
    expect(sdk.state).toBe(States.CONNECTED);
  });

  it('reconnects by itself across a server restart, keeping history', async () => {
    const ann = await join('restart', 'ann', 'Ann');
    const first = await stored(ann.sendMessage('before the restart'));
    const disconnected = next(ann, Events.DISCONNECT);
    const reconnected = next(ann, Events.CONNECT, () => true, 20_000);
    server = await server.restart();
    const lost: DisconnectEvent = await disconnected;
    expect(lost.reconnect).toBe(true);
    const event = await reconnected;
    expect(ann.state).toBe(States.CONNECTED);
    expect(event.recovered).not.toBeNull();
    await until(() => ann.messages.some((m) => m.id === first.id), 5_000, 'the old message held');
    const second = await stored(ann.sendMessage('after the restart'));
    expect(second.seq).toBeGreaterThan(first.seq);
    const bob = await join('restart', 'bob', 'Bob');
    expect((await bob.loadHistory()).map((m) => m.text)).toEqual(['before the restart', 'after the restart']);
  });
});

describe('the real server with short-lived tokens', () => {
  let shortLived: RealServer;

  beforeAll(async () => {
    shortLived = await RealServer.start({
      PCHAT_TOKEN_TTL: '2',
      PCHAT_TOKEN_LEEWAY: '1',
      PCHAT_END_CONNECTIONS_AT_TOKEN_EXP: 'true',
    });
  });

  afterAll(async () => {
    await shortLived?.stop();
  });

  it('keeps a session alive with the token refresher; without one it ends with 4002', async () => {
    let refreshed = 0;
    const kept = new PChatSDK({
      url: shortLived.url,
      WebSocket,
      tokenRefresher: async () => {
        refreshed += 1;
        return shortLived.token('ann');
      },
    });
    const dropped = new PChatSDK({ url: shortLived.url, WebSocket });
    clients.push(kept, dropped);
    const errors: PChatError[] = [];
    kept.on(Events.ERROR, (e) => errors.push(e));
    const keptLog = record(kept, [Events.DISCONNECT]);
    await kept.connect('ttl', 'Ann', await shortLived.token('ann'));
    const ended = next(dropped, Events.DISCONNECT, () => true, 10_000);
    await dropped.connect('ttl', 'Bob', await shortLived.token('bob'));

    expect(await ended).toMatchObject({ code: 4002, reconnect: false });
    expect(dropped.state).toBe(States.DISCONNECTED);
    await sleep(1_500);
    expect(kept.state).toBe(States.CONNECTED);
    expect(keptLog).toEqual([]);
    expect(errors).toEqual([]);
    expect(refreshed).toBeGreaterThanOrEqual(2);
    await kept.sendMessage('still here');
  });
});

describe('the real server with many polls', () => {
  let many: RealServer;

  beforeAll(async () => {
    many = await RealServer.start({ PCHAT_RATE_POLLS: 'none', PCHAT_POLLS_IN_CONNECT: '2' });
  });

  afterAll(async () => {
    await many?.stop();
  });

  it('pages finished polls that the connect reply leaves out', async () => {
    const join = async (sub: string, role?: string): Promise<PChatSDK> => {
      const sdk = new PChatSDK({ url: many.url, WebSocket });
      clients.push(sdk);
      await sdk.connect('pages', sub, await many.token(sub, role), role ? { role } : {});
      return sdk;
    };
    const mia = await join('mia', 'moderator');
    const made: string[] = [];
    for (let i = 0; i < 6; i += 1) {
      const poll = await mia.createPoll(`Q${i}`, ['a', 'b']);
      await mia.finishPoll(poll.id);
      made.push(poll.id);
      await sleep(3); // one creation time each: polls are ordered by time, then id
    }
    const bob = await join('bob');
    expect(bob.polls.map((p) => p.id)).toEqual(made.slice(4));
    expect(bob.hasMorePolls).toBe(true);
    const page = await bob.getPolls({ before: made[4], limit: 3 });
    expect(page.map((p) => p.id)).toEqual(made.slice(1, 4));
    expect(bob.hasMorePolls).toBe(true);
    await bob.getPolls({ before: made[1] });
    expect(bob.hasMorePolls).toBe(false);
    expect(new Set(bob.polls.map((p) => p.id))).toEqual(new Set(made));
    await expect(mia.createPoll('one', ['a', 'b'])).resolves.toMatchObject({ status: 'open' });
  });
});
