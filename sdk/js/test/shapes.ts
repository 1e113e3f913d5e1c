// What the SDK hands the application, checked against tests/vectors/sdk_surface.json: every
// object and event payload has exactly the TypeScript fields listed there (an optional one
// only when set), and no key anywhere in it is snake_case.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { Events, type EventMap, type PChatSDK } from '../src/index.js';

/** A list of names per language. */
export interface PerLanguage {
  python: string[];
  typescript: string[];
}

/** tests/vectors/sdk_surface.json. */
export interface Surface {
  objects: Record<string, PerLanguage>;
  payloads: Record<string, PerLanguage>;
  client_properties: string[];
  client_methods: string[];
  client_options: string[];
  /** Every member of Events and its value; and a description. */
  events: Record<string, string>;
  errors: { code: number; class: string; name: string; temporary: boolean }[];
  /** The SDK's own errors (no error frame) and each one's parent class; and a description. */
  sdk_errors: Record<string, string>;
}

const FILE = fileURLToPath(new URL('../../../tests/vectors/sdk_surface.json', import.meta.url));
export const surface = JSON.parse(readFileSync(FILE, 'utf8')) as Surface;

/** Fields a TypeScript object carries only when set (the vectors' description says so). */
const OPTIONAL = new Set(['cid', 'deletedBy', 'deletedAt', 'replyTo', 'mentions', 'myVote']);

/** The fields of each kind that hold another kind (or an array of it). */
const NESTED: Record<string, Record<string, string>> = {
  Message: { user: 'User', deletedBy: 'User' },
  Poll: { options: 'PollOption', createdBy: 'User' },
  ConnectEvent: { user: 'User' },
  ReactionEvent: { user: 'User' },
  Ban: { by: 'User' },
  Pin: { by: 'User', message: 'Message' },
  Held: { user: 'User' },
  Report: { message: 'Message' },
  ReportRemovedEvent: { by: 'User' },
  ReviewRemovedEvent: { by: 'User' },
  ModAction: { by: 'User' },
  ModLogPage: { entries: 'ModAction' },
  PurgeEvent: { deletedBy: 'User' },
};

/** The kind of each event's payload; `[kind]` for an array of it. */
const EVENT_KINDS: Partial<Record<keyof EventMap, string | [string]>> = {
  connect: 'ConnectEvent',
  disconnect: 'DisconnectEvent',
  message: 'Message',
  message_delete: 'Message',
  reaction: 'ReactionEvent',
  poll: 'Poll',
  history_load: ['Message'],
  state_change: 'StateChangeEvent',
  room_settings: 'RoomSettings',
  pin: 'Pin',
  banned: 'BannedEvent',
  purge: 'PurgeEvent',
  mention: 'Message',
  message_hidden: 'Message',
  message_restored: 'Message',
  report_added: 'Report',
  report_removed: 'ReportRemovedEvent',
  review_added: 'Held',
  review_removed: 'ReviewRemovedEvent',
  message_rejected: 'MessageRejectedEvent',
  sampled: 'SampledEvent',
};

const CAMEL = /^[a-z][A-Za-z0-9]*$/;

/** The paths of the keys in `value` (and in every object and array inside it) that are not camelCase. */
export function nonCamelKeys(value: unknown, path = '$'): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => nonCamelKeys(v, `${path}[${i}]`));
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, v]) => [
    ...(CAMEL.test(key) ? [] : [`${path}.${key}`]),
    ...nonCamelKeys(v, `${path}.${key}`),
  ]);
}

/** How `value`, an object of `kind` (a key of `objects` or `payloads`), differs from the vectors. */
export function shapeProblems(kind: string, value: unknown, path: string = kind): string[] {
  const spec = surface.objects[kind] ?? surface.payloads[kind];
  if (spec === undefined) throw new Error(`sdk_surface.json lists no ${kind}`);
  if (typeof value !== 'object' || value === null) return [`${path}: not an object`];
  const object = value as Record<string, unknown>;
  const fields = new Set(spec.typescript);
  const problems = [
    ...Object.keys(object)
      .filter((key) => !fields.has(key))
      .map((key) => `${path}.${key}: not a field of ${kind}`),
    ...spec.typescript
      .filter((field) => !OPTIONAL.has(field) && !(field in object))
      .map((field) => `${path}.${field}: missing`),
  ];
  for (const [field, nested] of Object.entries(NESTED[kind] ?? {})) {
    const v = object[field];
    if (Array.isArray(v)) {
      v.forEach((item, i) => problems.push(...shapeProblems(nested, item, `${path}.${field}[${i}]`)));
    } else if (v !== null && v !== undefined) {
      problems.push(...shapeProblems(nested, v, `${path}.${field}`));
    }
  }
  return problems;
}

/** The problems of one event payload: its shape, and any snake_case key in it. */
export function payloadProblems(event: keyof EventMap, payload: unknown): string[] {
  const path = `${event}`;
  if (event === 'reactions_stats') {
    // A map from reaction type (data, not field names) to a count.
    const bad = Object.values(payload as object).some((v) => typeof v !== 'number');
    return bad ? [`${path}: not a map of counts`] : [];
  }
  const kind = EVENT_KINDS[event];
  const problems = nonCamelKeys(payload, path);
  if (event === 'unbanned') return payload === null ? [] : [`${path}: not null`];
  if (event === 'muted' || event === 'unmuted') {
    return typeof payload === 'string' ? [] : [`${path}: not a user id`];
  }
  if (event === 'pin' && payload === null) return []; // unpinned
  if (Array.isArray(kind)) {
    if (!Array.isArray(payload)) return [...problems, `${path}: not an array`];
    payload.forEach((item, i) => problems.push(...shapeProblems(kind[0], item, `${path}[${i}]`)));
  } else if (kind !== undefined) {
    problems.push(...shapeProblems(kind, payload, path));
  }
  return problems;
}

/** The problems of what a client holds: `user`, `messages`, `polls`, `roomSettings`, `pin`, `myBan`. */
export function clientProblems(sdk: PChatSDK): string[] {
  const { user, messages, polls, roomSettings, pin, myBan } = sdk;
  return [
    ...(user === null ? [] : shapeProblems('User', user, 'sdk.user')),
    ...messages.flatMap((m, i) => shapeProblems('Message', m, `sdk.messages[${i}]`)),
    ...polls.flatMap((p, i) => shapeProblems('Poll', p, `sdk.polls[${i}]`)),
    ...shapeProblems('RoomSettings', roomSettings, 'sdk.roomSettings'),
    ...(pin === null ? [] : shapeProblems('Pin', pin, 'sdk.pin')),
    ...(myBan === null ? [] : shapeProblems('Ban', myBan, 'sdk.myBan')),
    ...nonCamelKeys({ user, messages, polls, roomSettings, pin, myBan }, 'sdk'),
  ];
}

/**
 * Record every event payload `sdk` fires; `check()` returns the problems of each, of what
 * the client holds now, and of every value passed to `returned` (what calls resolved with).
 */
export function watchShapes(sdk: PChatSDK): {
  seen: Set<keyof EventMap>;
  returned: (kind: string, value: unknown) => void;
  check: () => string[];
} {
  const problems: string[] = [];
  const seen = new Set<keyof EventMap>();
  for (const event of Object.values(Events)) {
    sdk.on(event, (payload: unknown) => {
      seen.add(event);
      problems.push(...payloadProblems(event, payload));
    });
  }
  return {
    seen,
    returned(kind, value) {
      const values = Array.isArray(value) ? value : [value];
      values.forEach((v, i) => {
        problems.push(...shapeProblems(kind, v, `${kind} returned[${i}]`));
        problems.push(...nonCamelKeys(v, `${kind} returned[${i}]`));
      });
    },
    check: () => [...problems, ...clientProblems(sdk)],
  };
}
