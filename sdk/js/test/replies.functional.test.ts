// Functional: replies and mentions against the REAL server (issue 11, item 8):
// `sendMessage(text, { replyTo })`, `Message.replyTo` / `mentions`, and MENTION on the
// mentioned user's client only. Everything handed to the application is checked for camelCase.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WebSocket } from 'ws';

import { Events, NotFoundError, PChatSDK, type Message } from '../src/index.js';
import { next, until } from './helpers.js';
import { RealServer } from './realServer.js';
import { watchShapes } from './shapes.js';

let server: RealServer;
const clients: PChatSDK[] = [];
const shapes: ReturnType<typeof watchShapes>[] = [];

async function join(room: string, name: string): Promise<PChatSDK> {
  const sdk = new PChatSDK({ url: server.url, WebSocket, backoffBase: 50, backoffMax: 500 });
  clients.push(sdk);
  shapes.push(watchShapes(sdk));
  await sdk.connect(room, name, await server.token(name.toLowerCase()));
  return sdk;
}

beforeAll(async () => {
  server = await RealServer.start();
});

afterAll(async () => {
  for (const sdk of clients.splice(0)) await sdk.disconnect();
  await server?.stop();
});

/** Nothing any client fired, returned or holds has a field outside sdk_surface.json. */
function checkShapes(): void {
  for (const s of shapes.splice(0)) expect(s.check()).toEqual([]);
}

it('a reply names the message it answers: sent, received and in history', async () => {
  const ann = await join('replies', 'Ann');
  const bob = await join('replies', 'Bob');
  const question = await ann.sendMessage('anyone here?');
  expect('replyTo' in question).toBe(false);
  expect('mentions' in question).toBe(false);

  const received = next(ann, Events.MESSAGE, (m) => m.text === 'yes!');
  const answer = await bob.sendMessage('yes!', { replyTo: question.id, cid: 'c-answer' });
  expect(answer).toMatchObject({ replyTo: question.id, cid: 'c-answer' });
  expect((await received).replyTo).toBe(question.id);

  await expect(bob.sendMessage('to what?', { replyTo: 'no-such-message' })).rejects.toBeInstanceOf(
    NotFoundError,
  );

  const cat = await join('replies', 'Cat');
  const page = new Map((await cat.loadHistory()).map((m) => [m.id, m]));
  expect(page.get(answer.id)?.replyTo).toBe(question.id);
  expect(page.get(question.id)?.replyTo).toBeUndefined();
  checkShapes();
});

it("a mention fires MENTION on the mentioned user's client only, after its MESSAGE", async () => {
  const ann = await join('mentions', 'Ann');
  const bob = await join('mentions', 'Bob');
  const cat = await join('mentions', 'Cat');
  const mentioned: Record<string, string[]> = { ann: [], bob: [], cat: [] };
  const order: string[] = [];
  for (const [name, sdk] of [['ann', ann], ['bob', bob], ['cat', cat]] as const) {
    sdk.on(Events.MENTION, (m: Message) => mentioned[name]?.push(m.id));
  }
  bob.on(Events.MESSAGE, (m) => order.push(`message:${m.id}`));
  bob.on(Events.MENTION, (m) => order.push(`mention:${m.id}`));

  const hello = await ann.sendMessage('hi @Bob, how are you?');
  expect(hello.mentions).toEqual(['bob']);
  const plain = await ann.sendMessage('hi everyone');
  expect('mentions' in plain).toBe(false);
  const held = (sdk: PChatSDK) => sdk.messages.some((m) => m.id === plain.id);
  await until(() => held(bob) && held(cat), 5_000, 'the plain message held');
  expect(mentioned).toEqual({ ann: [], bob: [hello.id], cat: [] });
  expect(order).toEqual([`message:${hello.id}`, `mention:${hello.id}`, `message:${plain.id}`]);
  expect(cat.messages.find((m) => m.id === hello.id)?.mentions).toEqual(['bob']);

  // The user's own message naming themselves fires nothing.
  await bob.sendMessage('note to self, @Bob');
  // A history page fires nothing: Dan is mentioned live, then opens a second client.
  const dan = await join('mentions', 'Dan');
  const live = next(dan, Events.MENTION);
  const welcome = await ann.sendMessage('welcome @Dan');
  expect((await live).id).toBe(welcome.id);
  const again = await join('mentions', 'Dan');
  const fromHistory: string[] = [];
  again.on(Events.MENTION, (m) => fromHistory.push(m.id));
  const page = await again.loadHistory();
  expect(page.find((m) => m.id === welcome.id)?.mentions).toEqual(['dan']);
  expect(fromHistory).toEqual([]);
  expect(mentioned.bob).toEqual([hello.id]);
  checkShapes();
});
