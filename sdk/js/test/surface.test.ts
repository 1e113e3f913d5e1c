// The public surface the two SDKs share (tests/vectors/sdk_surface.json, read by
// tests/sdk/test_surface.py too): payload fields, client properties, methods and options,
// and the error class of every error code. The vectors use the Python SDK's snake_case.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { Events, errorFromWire, type StateChangeEvent } from '../src/index.js';
import { fakeToken } from './fakeServer.js';
import { next, useFakeServer } from './helpers.js';

interface Surface {
  payloads: Record<string, string[]>;
  client_properties: string[];
  client_methods: string[];
  client_options: string[];
  errors: { code: number; class: string; name: string; temporary: boolean }[];
}

const FILE = fileURLToPath(new URL('../../../tests/vectors/sdk_surface.json', import.meta.url));
const surface = JSON.parse(readFileSync(FILE, 'utf8')) as Surface;
const CLIENT = fileURLToPath(new URL('../src/client.ts', import.meta.url));

const camel = (name: string) => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const fields = (payload: object) => Object.keys(payload).sort();
const expected = (name: string) => (surface.payloads[name] ?? []).map(camel).sort();

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

  it('the client has the same properties, methods and options', () => {
    const sdk = fake.client() as unknown as Record<string, unknown>;
    for (const name of surface.client_properties.map(camel)) {
      expect(name in sdk, name).toBe(true);
      expect(typeof sdk[name], name).not.toBe('function');
    }
    for (const name of surface.client_methods.map(camel)) {
      expect(typeof sdk[name], name).toBe('function');
    }
    const source = readFileSync(CLIENT, 'utf8');
    const options = /export interface PChatSDKOptions \{([^}]*)\}/.exec(source)?.[1] ?? '';
    for (const name of surface.client_options.map(camel)) {
      expect(options, name).toMatch(new RegExp(`^\\s+${name}\\?:`, 'm'));
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
