/**
 * The webhook event types an endpoint can subscribe to, in the order docs/server-api.md
 * ("Webhooks", "Event types") lists them — the server's `pchat.protocol.webhooks.EVENT_TYPES`.
 * (`webhook.test` is not one: it is sent only by "Send test", whatever the types.)
 */
export const EVENT_TYPES: readonly { readonly type: string; readonly when: string }[] = [
  { type: 'message.posted', when: 'a message is stored (sent, published, or approved)' },
  { type: 'message.deleted', when: 'a message is deleted' },
  { type: 'messages.purged', when: "a user's messages are purged" },
  { type: 'user.banned', when: 'a ban, timeout or shadow ban is set' },
  { type: 'user.unbanned', when: 'a ban is lifted' },
  { type: 'poll.published', when: 'a poll opens' },
  { type: 'poll.finished', when: 'a poll is finished' },
  { type: 'room.live', when: 'a room gets its first user online' },
  { type: 'room.empty', when: 'a room has nobody online any more' },
];

/** Every type, those added later too. */
export const ALL_TYPES = '*';

/** A choice of types as the API takes it: `["*"]`, or the types checked, in the docs' order. */
export function typesBody(all: boolean, chosen: ReadonlySet<string>): string[] {
  if (all) return [ALL_TYPES];
  return EVENT_TYPES.map((e) => e.type).filter((type) => chosen.has(type));
}
