// Functional: against the REAL server, every object and event payload the SDK hands the
// application (events, what calls resolve with, what the client holds) has the TypeScript
// fields of tests/vectors/sdk_surface.json and no snake_case key anywhere.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WebSocket } from 'ws';

import { Events, PChatSDK } from '../src/index.js';
import { next, until } from './helpers.js';
import { RealServer } from './realServer.js';
import { watchShapes } from './shapes.js';

let server: RealServer;
const clients: PChatSDK[] = [];

async function join(sub: string, name: string, role?: string): Promise<PChatSDK> {
  const sdk = new PChatSDK({ url: server.url, WebSocket, backoffBase: 50, backoffMax: 500 });
  clients.push(sdk);
  await sdk.connect('shapes', name, await server.token(sub, role), role ? { role } : {});
  return sdk;
}

beforeAll(async () => {
  server = await RealServer.start();
});

afterAll(async () => {
  for (const sdk of clients.splice(0)) await sdk.disconnect();
  await server?.stop();
});

it('hands the application camelCase objects only', async () => {
  const mia = await join('mia', 'Mia', 'moderator');
  const bob = await join('bob', 'Bob');
  const miaShapes = watchShapes(mia);
  const bobShapes = watchShapes(bob);

  const hello = await bob.sendMessage('hello', { cid: 'c-hello' });
  bobShapes.returned('Message', hello);
  const second = await bob.sendMessage('second');
  bobShapes.returned('Message', second);
  // A reply that mentions Bob: replyTo and mentions on the wire, MENTION on Bob's client.
  const mention = next(bob, Events.MENTION);
  const reply = await mia.sendMessage('@Bob thanks', { replyTo: second.id });
  miaShapes.returned('Message', reply);
  expect(await mention).toMatchObject({ id: reply.id, replyTo: second.id, mentions: ['bob'] });
  const deleted = next(bob, Events.MESSAGE_DELETE);
  miaShapes.returned('Message', await mia.deleteMessage(hello.id));
  expect((await deleted).deletedBy?.id).toBe('mia');

  const reacted = next(bob, Events.REACTION);
  await mia.sendReaction('like');
  await reacted;
  await bob.getReactionsStats();

  const published = next(bob, Events.POLL);
  const poll = await mia.createPoll('Tea or coffee?', ['tea', 'coffee']);
  miaShapes.returned('Poll', poll);
  await published;
  miaShapes.returned('Poll', await mia.createPoll('Later?', ['yes', 'no'], Date.now() + 3_600_000));
  const voted = await bob.vote(poll.id, 0);
  expect(voted.myVote).toBe(0);
  bobShapes.returned('Poll', voted);
  const finished = next(bob, Events.POLL, (p) => p.status === 'finished');
  miaShapes.returned('Poll', await mia.finishPoll(poll.id));
  expect((await finished).finishedAt).toEqual(expect.any(Number));
  bobShapes.returned('Poll', await bob.getPolls());
  miaShapes.returned('Poll', await mia.getPolls());

  // A newcomer: the connect reply's polls and a history page with a deleted message.
  const ann = await join('ann', 'Ann');
  const annShapes = watchShapes(ann);
  const page = await ann.loadHistory();
  expect(page.find((m) => m.id === hello.id)).toMatchObject({ deleted: true, deletedBy: { id: 'mia' } });
  annShapes.returned('Message', page);
  await until(() => ann.polls.length > 0, 5_000, 'the polls held');

  await ann.disconnect();
  for (const shapes of [miaShapes, bobShapes, annShapes]) expect(shapes.check()).toEqual([]);
  expect([...bobShapes.seen].sort()).toEqual(
    ['mention', 'message', 'message_delete', 'poll', 'reaction', 'reactions_stats'].sort(),
  );
  expect(annShapes.seen).toEqual(new Set(['history_load', 'disconnect', 'state_change']));
});
