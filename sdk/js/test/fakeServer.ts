// An in-process fake pchat server: a `ws` WebSocketServer on port 0 that speaks the protocol
// of docs/protocol.md minimally (one room, an in-memory stream), with hooks that let a test
// drop connections, refuse tokens, stay silent or delay replies.
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

type Json = Record<string, unknown>;

export interface FakeUser {
  id: string;
  username: string;
  role: string;
}

export interface FakeClient {
  ws: WebSocket;
  user: FakeUser | null;
  token: string | null;
}

/** Returning true from a hook means the hook handled the request itself. */
export type RequestHook = (client: FakeClient, frame: Json) => boolean | Promise<boolean>;

const ROLES = ['viewer', 'moderator', 'admin'];

/** `tok:<sub>[:<role>]` is a valid token; `expired…` is expired; anything else is refused. */
export function fakeToken(sub: string, role = 'viewer'): string {
  return `tok:${sub}:${role}`;
}

export class FakeServer {
  readonly url: string;
  /** Every request frame received, in order. */
  readonly received: Json[] = [];
  readonly clients = new Set<FakeClient>();
  /** How many WebSocket connections were accepted so far. */
  connections = 0;
  epoch = 'e1';
  seq = 0;
  /** The stream: the push of each event, by position (index seq - 1). */
  readonly stream: Json[] = [];
  readonly messages = new Map<string, Json>();
  readonly polls = new Map<string, Json>();
  readonly votes = new Map<string, Map<string, number>>();
  stats: Record<string, number> = {};
  /** Recovery is refused when more events than this were missed. */
  maxRecover = 1000;
  /** `token_exp` (seconds) sent in connect replies. */
  tokenExp = Math.floor(Date.now() / 1000) + 3600;
  answerPings = true;
  /** Tokens refused as unavailable (120, temporary) with close 1013: the SDK retries. */
  readonly busyTokens = new Set<string>();
  /** Tokens refused for good (202, close 4500). */
  readonly badTokens = new Set<string>();
  hook: RequestHook | null = null;
  private nextPoll = 1;
  private sentCids = new Map<string, string>(); // `${userId}/${cid}` → message id

  private constructor(private readonly wss: WebSocketServer) {
    const { port } = wss.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    wss.on('connection', (ws) => this.accept(ws));
  }

  static start(): Promise<FakeServer> {
    return new Promise((resolve, reject) => {
      const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/public-chat/ws' });
      wss.once('listening', () => resolve(new FakeServer(wss)));
      wss.once('error', reject);
    });
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  /** Drop every connection without a close frame (the client sees 1006). */
  dropAll(): void {
    for (const c of this.clients) c.ws.terminate();
  }

  /** Close every connection with `code`. */
  closeAll(code: number, reason = ''): void {
    for (const c of this.clients) c.ws.close(code, reason);
  }

  /** Forget the stream: a new epoch (a reconnect cannot recover). */
  resetEpoch(epoch: string): void {
    this.epoch = epoch;
  }

  requestsOf(type: string): Json[] {
    return this.received.filter((f) => f.type === type);
  }

  /**
   * Add a message to the stream as if `user` had sent it; returns its push. `extra`: more
   * wire fields of the message (`reply_to`, `mentions`).
   */
  addMessage(
    text: string,
    user: FakeUser = { id: 'u-bob', username: 'Bob', role: 'viewer' },
    cid?: string,
    extra: Json = {},
  ): Json {
    this.seq += 1;
    const message: Json = { id: `m${this.seq}`, seq: this.seq, ts: 1_700_000_000_000 + this.seq, user, text, deleted: false };
    if (cid !== undefined) message.cid = cid;
    Object.assign(message, extra);
    this.messages.set(message.id as string, message);
    const push = { type: 'message', seq: this.seq, message };
    this.stream.push(push);
    this.broadcast(push);
    return push;
  }

  broadcast(frame: Json): void {
    for (const c of this.clients) if (c.user) this.send(c, frame);
  }

  send(client: FakeClient, frame: Json): void {
    if (client.ws.readyState === client.ws.OPEN) client.ws.send(JSON.stringify(frame));
  }

  reply(client: FakeClient, id: unknown, result: Json): void {
    this.send(client, { type: 'reply', id, result });
  }

  error(client: FakeClient, id: unknown, code: number, name: string, extra: Json = {}): void {
    const temporary = code === 100 || code === 108 || code === 120;
    this.send(client, { type: 'error', id, error: { code, name, message: name.replace(/_/g, ' '), temporary, ...extra } });
  }

  private accept(ws: WebSocket): void {
    this.connections += 1;
    const client: FakeClient = { ws, user: null, token: null };
    this.clients.add(client);
    ws.on('close', () => this.clients.delete(client));
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Json;
      this.received.push(frame);
      void this.handle(client, frame);
    });
  }

  private async handle(client: FakeClient, frame: Json): Promise<void> {
    if (this.hook && (await this.hook(client, frame))) return;
    const id = frame.id;
    if (frame.type === 'ping') {
      if (this.answerPings) this.reply(client, id, { ts: Date.now() });
      return;
    }
    if (frame.type === 'connect') return this.connect(client, frame);
    const user = client.user;
    if (user === null) return this.error(client, id, 106, 'not_connected');
    switch (frame.type) {
      case 'send': {
        const text = String(frame.text ?? '').trim();
        if (!text) return this.error(client, id, 110, 'message_empty');
        const key = `${user.id}/${String(frame.cid)}`;
        const known = frame.cid !== undefined ? this.sentCids.get(key) : undefined;
        if (known !== undefined) {
          return this.reply(client, id, { message: this.messages.get(known) as Json, duplicate: true });
        }
        const extra: Json = {};
        if (frame.reply_to !== undefined) {
          if (!this.messages.has(String(frame.reply_to))) return this.error(client, id, 112, 'not_found');
          extra.reply_to = frame.reply_to;
        }
        // Mentions, as the real server finds them but simpler: connected users named as @username.
        const mentions = [...this.clients]
          .map((c) => c.user)
          .filter((u): u is FakeUser => u !== null && u.id !== user.id)
          .filter((u) => text.toLowerCase().includes(`@${u.username.toLowerCase()}`))
          .map((u) => u.id);
        if (mentions.length > 0) extra.mentions = [...new Set(mentions)];
        const push = this.addMessage(text, user, frame.cid as string | undefined, extra);
        const message = push.message as Json;
        if (frame.cid !== undefined) this.sentCids.set(key, message.id as string);
        return this.reply(client, id, { message, duplicate: false });
      }
      case 'history': {
        let list = [...this.messages.values()].sort((a, b) => (a.seq as number) - (b.seq as number));
        if (typeof frame.before_seq === 'number') list = list.filter((m) => (m.seq as number) < (frame.before_seq as number));
        if (typeof frame.before_ts === 'number') list = list.filter((m) => (m.ts as number) < (frame.before_ts as number));
        const limit = typeof frame.limit === 'number' ? frame.limit : 50;
        const page = list.slice(Math.max(0, list.length - limit));
        return this.reply(client, id, { messages: page, has_more: list.length > page.length });
      }
      case 'delete': {
        const message = this.messages.get(String(frame.message_id));
        if (!message) return this.error(client, id, 112, 'not_found');
        if (message.deleted) return this.error(client, id, 119, 'already_deleted');
        const owner = (message.user as FakeUser).id;
        if (owner !== user.id && user.role === 'viewer') return this.error(client, id, 111, 'forbidden');
        this.seq += 1;
        const ts = Date.now();
        this.messages.set(message.id as string, { ...message, text: '', deleted: true, deleted_by: user, deleted_at: ts });
        const push = { type: 'message_delete', seq: this.seq, message_id: message.id, message_seq: message.seq, deleted_by: user, ts };
        this.stream.push(push);
        this.reply(client, id, { message_id: message.id, seq: this.seq });
        return this.broadcast(push);
      }
      case 'react': {
        const reaction = String(frame.reaction);
        if (!['like', 'love'].includes(reaction)) return this.error(client, id, 118, 'invalid_reaction');
        this.stats[reaction] = (this.stats[reaction] ?? 0) + 1;
        this.reply(client, id, {});
        this.broadcast({ type: 'reaction', reaction, user, ts: Date.now() });
        return this.broadcast({ type: 'reactions_stats', stats: { ...this.stats } });
      }
      case 'reactions_stats':
        return this.reply(client, id, { stats: { ...this.stats } });
      case 'poll_create': {
        if (user.role === 'viewer') return this.error(client, id, 111, 'forbidden');
        const options = (frame.options as string[]).map((text) => ({ text, votes: 0 }));
        const publishAt = typeof frame.publish_at === 'number' ? frame.publish_at : null;
        const poll: Json = {
          id: `p${this.nextPoll++}`, question: frame.question, options, status: publishAt ? 'scheduled' : 'open',
          total_votes: 0, created_by: user, created_at: Date.now(), publish_at: publishAt,
          published_at: publishAt ? null : Date.now(), finished_at: null,
        };
        this.polls.set(poll.id as string, poll);
        this.votes.set(poll.id as string, new Map());
        this.reply(client, id, { poll });
        return this.broadcast({ type: 'poll', poll });
      }
      case 'poll_vote': {
        const poll = this.polls.get(String(frame.poll_id));
        if (!poll) return this.error(client, id, 112, 'not_found');
        if (poll.status !== 'open') return this.error(client, id, 114, 'poll_not_open');
        const votes = this.votes.get(poll.id as string) as Map<string, number>;
        if (votes.has(user.id)) return this.error(client, id, 113, 'already_voted');
        const option = frame.option as number;
        votes.set(user.id, option);
        const options = (poll.options as { text: string; votes: number }[]).map((o, i) => ({ ...o, votes: o.votes + (i === option ? 1 : 0) }));
        const updated = { ...poll, options, total_votes: (poll.total_votes as number) + 1 };
        this.polls.set(poll.id as string, updated);
        this.reply(client, id, { poll: { ...updated, my_vote: option } });
        return this.broadcast({ type: 'poll', poll: updated });
      }
      case 'poll_finish': {
        if (user.role === 'viewer') return this.error(client, id, 111, 'forbidden');
        const poll = this.polls.get(String(frame.poll_id));
        if (!poll) return this.error(client, id, 112, 'not_found');
        const updated = { ...poll, status: 'finished', finished_at: Date.now() };
        this.polls.set(poll.id as string, updated);
        this.reply(client, id, { poll: updated });
        return this.broadcast({ type: 'poll', poll: updated });
      }
      case 'polls':
        return this.reply(client, id, { polls: [...this.polls.values()] });
      case 'refresh': {
        client.token = String(frame.token);
        return this.reply(client, id, { exp: this.tokenExp });
      }
      default:
        return this.error(client, id, 102, 'unknown_type');
    }
  }

  private connect(client: FakeClient, frame: Json): void {
    const id = frame.id;
    if (client.user) return this.error(client, id, 107, 'already_connected');
    const token = String(frame.token);
    if (this.busyTokens.has(token)) {
      this.error(client, id, 120, 'unavailable');
      client.ws.close(1013, 'try again later');
      return;
    }
    if (this.badTokens.has(token)) {
      this.error(client, id, 202, 'token_bad_signature');
      client.ws.close(4500, 'bad token');
      return;
    }
    if (token.startsWith('expired')) {
      this.error(client, id, 203, 'token_expired');
      client.ws.close(4002, 'token expired');
      return;
    }
    const parts = token.split(':');
    if (parts[0] !== 'tok' || !parts[1]) {
      this.error(client, id, 202, 'token_bad_signature');
      client.ws.close(4500, 'bad token');
      return;
    }
    const granted = parts[2] ?? 'viewer';
    const role = typeof frame.role === 'string' ? frame.role : 'viewer';
    if (ROLES.indexOf(role) > ROLES.indexOf(granted)) {
      this.error(client, id, 117, 'role_not_granted');
      client.ws.close(4501, 'forbidden');
      return;
    }
    client.user = { id: parts[1], username: String(frame.username), role };
    client.token = token;
    const result: Json = {
      user: client.user,
      session: `s${this.connections}`,
      room: {
        id: frame.room, epoch: this.epoch, seq: this.seq, online: [...this.clients].filter((c) => c.user).length,
        reactions: { types: ['like', 'love'], stats: { ...this.stats } }, polls: [...this.polls.values()],
      },
      token_exp: this.tokenExp,
      limits: { max_message_chars: 2000, max_frame_bytes: 16384, history_page_max: 100 },
    };
    const recover = frame.recover as { epoch: string; seq: number } | undefined;
    if (recover) {
      if (recover.epoch !== this.epoch) result.recovery = { recovered: false, reason: 'epoch_changed' };
      else if (this.seq - recover.seq > this.maxRecover) result.recovery = { recovered: false, reason: 'gap_too_large' };
      else result.recovery = { recovered: true, events: this.stream.slice(recover.seq) };
    }
    this.reply(client, id, result);
  }
}
