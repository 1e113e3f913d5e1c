// The public surface the two SDKs share (tests/vectors/sdk_surface.json, read by
// tests/sdk/test_surface.py too): object and payload fields (listed per language), client
// properties, methods and options, and the error class of every error code. Other names in
// the vectors are the Python SDK's snake_case.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import * as pchatsdk from '../src/index.js';
import { Events, errorFromWire, type StateChangeEvent } from '../src/index.js';
import { fakeToken } from './fakeServer.js';
import { next, useFakeServer } from './helpers.js';
import { shapeProblems, surface, watchShapes } from './shapes.js';

// The options are declared with the connection lifecycle, which reads them.
const OPTIONS = fileURLToPath(new URL('../src/lifecycle.ts', import.meta.url));

const camel = (name: string) => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const fields = (payload: object) => Object.keys(payload).sort();
const expected = (name: string) => [...(surface.payloads[name]?.typescript ?? [])].sort();

const fake = useFakeServer();

describe('sdk_surface.json', () => {
  it('event payloads have the same fields', async () => {
    const sdk = fake.client();
    const changes: StateChangeEvent[] = [];
    sdk.on(Events.STATE_CHANGE, (change) => changes.push(change));
    const connected = await sdk.connect('lobby', 'Ann', fakeToken('u-ann'));
    expect(fields(connected)).toEqual(expected('ConnectEvent'));
    expect(fields(changes[0] ?? {})).toEqual(expected('StateChangeEvent'));
    const reaction = next(sdk, Events.REACTION);
    await sdk.sendReaction('like');
    expect(fields(await reaction)).toEqual(expected('ReactionEvent'));
    const disconnected = next(sdk, Events.DISCONNECT);
    await sdk.disconnect();
    expect(fields(await disconnected)).toEqual(expected('DisconnectEvent'));
  });

  it('objects have the TypeScript fields, camelCase, and nothing snake_case reaches the application', async () => {
    const mia = fake.client();
    const shapes = watchShapes(mia);
    await mia.connect('lobby', 'Mia', fakeToken('u-mia', 'moderator'), { role: 'moderator' });
    const bob = fake.client();
    await bob.connect('lobby', 'Bob', fakeToken('u-bob'));
    const first = await mia.sendMessage('first');
    const sent = await mia.sendMessage('hello @Bob', { cid: 'c-1', replyTo: first.id });
    shapes.returned('Message', sent);
    const deleted = await mia.deleteMessage(sent.id);
    expect(deleted).not.toBeNull();
    shapes.returned('Message', deleted);
    await bob.disconnect();
    // Every field of a Message (a deleted reply with a cid and a mention) and of a Poll (with myVote).
    expect(fields(deleted ?? {})).toEqual([...(surface.objects.Message?.typescript ?? [])].sort());
    const poll = await mia.createPoll('Tea or coffee?', ['tea', 'coffee'], Date.now() + 60_000);
    shapes.returned('Poll', poll);
    const open = await mia.createPoll('Now?', ['yes', 'no']);
    const voted = await mia.vote(open.id, 1);
    shapes.returned('Poll', voted);
    expect(fields(voted)).toEqual([...(surface.objects.Poll?.typescript ?? [])].sort());
    shapes.returned('Poll', await mia.finishPoll(open.id));
    shapes.returned('Poll', await mia.getPolls());
    await mia.sendReaction('like');
    await mia.getReactionsStats();
    shapes.returned('Message', await mia.loadHistory());
    await mia.disconnect();
    expect(shapes.check()).toEqual([]);
    expect([...shapes.seen].sort()).toEqual(
      ['connect', 'disconnect', 'history_load', 'message', 'message_delete', 'poll', 'reaction', 'reactions_stats', 'state_change'],
    );
  });

  it('the shape check finds a snake_case field', () => {
    const user = { id: 'u', username: 'U', role: 'viewer' };
    const message = { id: 'm', seq: 1, ts: 1, user, text: '', deleted: true, shadow: false, hidden: false, deleted_by: user };
    expect(shapeProblems('Message', message)).toEqual(['Message.deleted_by: not a field of Message']);
  });

  it('Events has the same members and values', () => {
    const { description: _, ...events } = surface.events;
    expect({ ...Events }).toEqual(events);
  });

  it('the client has the same properties, methods and options', () => {
    const sdk = fake.client() as unknown as Record<string, unknown>;
    for (const name of surface.client_properties.map(camel)) {
      expect(name in sdk, name).toBe(true);
      expect(typeof sdk[name], name).not.toBe('function');
    }
    for (const name of surface.client_methods.map(camel)) {
      expect(typeof sdk[name], name).toBe('function');
    }
    const source = readFileSync(OPTIONS, 'utf8');
    const options = /export interface PChatSDKOptions \{([^}]*)\}/.exec(source)?.[1] ?? '';
    for (const name of surface.client_options.map(camel)) {
      expect(options, name).toMatch(new RegExp(`^\\s+${name}\\?:`, 'm'));
    }
  });

  it("the SDK's own errors are exported, each under its parent class", () => {
    const exported = pchatsdk as unknown as Record<string, new (...args: never[]) => Error>;
    for (const [name, parent] of Object.entries(surface.sdk_errors)) {
      if (name === 'description') continue;
      const cls = exported[name];
      expect(cls, name).toBeTypeOf('function');
      expect(Object.getPrototypeOf(cls), name).toBe(exported[parent]);
    }
  });

  it('every error code maps to the same class', () => {
    for (const { code, class: cls, name, temporary } of surface.errors) {
      const error = errorFromWire({ code });
      expect([error.constructor.name, error.name, error.temporary], String(code)).toEqual([
        cls,
        name,
        temporary,
      ]);
    }
  });
});
