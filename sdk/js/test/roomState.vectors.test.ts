// The shared protocol vectors (tests/vectors/room_state.json, documented in
// tests/vectors/README.md) drive the pure room-state module, as they drive the Python SDK's.
// Every event payload and every object the state holds is checked against the TypeScript
// fields of tests/vectors/sdk_surface.json: camelCase, no snake_case key anywhere.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import type { Json } from '../src/models.js';
import { Outcome, RoomState, type RoomEvent } from '../src/roomState.js';
import { isHeld } from '../src/reviews.js';
import type { Held, Message } from '../src/types.js';
import { nonCamelKeys, payloadProblems, shapeProblems } from './shapes.js';

interface Step {
  kind:
    | 'connect'
    | 'recovery'
    | 'push'
    | 'history'
    | 'send'
    | 'poll_reply'
    | 'settings_reply'
    | 'pin_reply'
    | 'mute_reply'
    | 'unmute_reply'
    | 'mutes_reply';
  frame: Json;
}
interface Case {
  name: string;
  steps: Step[];
  expect: Record<string, unknown>;
}

const VECTORS = fileURLToPath(new URL('../../../tests/vectors/room_state.json', import.meta.url));
const cases = JSON.parse(readFileSync(VECTORS, 'utf8')) as Case[];

function eventString(e: RoomEvent): string {
  switch (e.event) {
    case 'message':
    case 'message_delete':
    case 'mention':
    case 'message_hidden':
    case 'message_restored':
      return `${e.event}:${e.payload.id}`;
    case 'muted':
    case 'unmuted':
      return `${e.event}:${e.payload}`;
    case 'message_rejected':
      return `message_rejected:${e.payload.id}:${e.payload.reason}`;
    case 'review_added':
      return `review_added:${e.payload.id}:${e.payload.reason}`;
    case 'review_removed':
      return `review_removed:${e.payload.id}:${e.payload.outcome}:${e.payload.by?.id ?? 'null'}`;
    case 'report_added':
      return `report_added:${e.payload.message.id}:${e.payload.count}`;
    case 'report_removed':
      return `report_removed:${e.payload.messageId}:${e.payload.outcome}:${e.payload.by.id}`;
    case 'history_load':
      return `history_load:${e.payload.map((m) => m.id).join(',')}`;
    case 'poll':
      return `poll:${e.payload.id}`;
    case 'reaction':
      return `reaction:${e.payload.reaction}`;
    case 'reactions_stats':
      return 'reactions_stats';
    case 'online':
      return `online:${e.payload}`;
    case 'pin':
      if (e.payload === null) return 'pin:none';
      return e.payload.message ? `pin:message:${e.payload.message.id}` : 'pin:text';
    case 'banned':
      return `banned:${e.payload.until === null ? 'null' : e.payload.until}`;
    case 'purge':
      return `purge:${e.payload.userId}:${e.payload.since}`;
    case 'sampled':
      return `sampled:${e.payload.every}`;
    default:
      return e.event;
  }
}

/** What the last `send` step returned: the message as held, or the Held. */
let sent: Message | Held | null = null;

function apply(state: RoomState, step: Step): Outcome {
  switch (step.kind) {
    case 'connect':
    case 'recovery':
      return state.applyConnect(step.frame);
    case 'push':
      return state.applyPush(step.frame);
    case 'history':
      return state.applyHistory(step.frame).outcome;
    case 'send': {
      const { message, outcome } = state.applySent(step.frame);
      sent = message;
      return outcome;
    }
    case 'poll_reply':
      return state.applyPoll(step.frame.poll).outcome;
    case 'settings_reply':
      return state.applyRoomSettings(step.frame.settings);
    case 'pin_reply':
      return state.applyPin(step.frame.pin);
    case 'mute_reply':
    case 'unmute_reply':
      return state.applyMute(String(step.frame.user_id), step.kind === 'mute_reply');
    case 'mutes_reply':
      return state.applyMutes(step.frame.user_ids as unknown[]);
  }
}

describe('room_state.json vectors', () => {
  it('has cases', () => {
    expect(cases.length).toBeGreaterThan(0);
  });

  for (const c of cases) {
    it(c.name, () => {
      const state = new RoomState();
      sent = null;
      const events: string[] = [];
      let gap = false;
      let reset = false;
      let recovered: boolean | null = null;
      const problems: string[] = [];
      for (const step of c.steps) {
        const out = apply(state, step);
        events.push(...out.events.map(eventString));
        for (const e of out.events) problems.push(...payloadProblems(e.event, e.payload));
        gap ||= out.gap;
        if (step.kind === 'connect' || step.kind === 'recovery') {
          reset = out.reset;
          recovered = out.recovered;
        }
      }
      const want = c.expect;
      expect(state.messages.map(({ id, seq, text, deleted }) => ({ id, seq, text, deleted }))).toEqual(
        want.messages,
      );
      expect(state.lastSeq).toBe(want.last_seq);
      expect(state.epoch).toBe(want.epoch);
      if ('gap' in want) expect(gap).toBe(want.gap);
      if ('reset' in want) expect(reset).toBe(want.reset);
      if ('recovered' in want) expect(recovered).toBe(want.recovered);
      if ('has_more' in want) expect(state.hasMore).toBe(want.has_more);
      if ('stats' in want) expect(state.stats).toEqual(want.stats);
      if ('online' in want) expect(state.online).toBe(want.online);
      if ('polls' in want) {
        const polls = Object.fromEntries(
          [...state.polls.values()].map((p) => [
            p.id,
            { status: p.status, votes: p.options.map((o) => o.votes), my_vote: p.myVote ?? null },
          ]),
        );
        expect(polls).toEqual(want.polls);
      }
      if ('events' in want) expect(events).toEqual(want.events);
      const held: Record<string, unknown> = {
        user: state.user,
        messages: state.messages,
        polls: [...state.polls.values()],
        limits: state.limits,
        roomSettings: state.roomSettings,
        pin: state.pin,
        myBan: state.myBan,
        mutes: state.mutes,
        sent,
      };
      if ('objects' in want) {
        // A case lists what it checks; the objects case lists everything a state holds.
        const wanted = (want.objects as { typescript: Record<string, unknown> }).typescript;
        const picked = Object.fromEntries(Object.keys(wanted).map((k) => [k, held[k]]));
        expect(picked).toStrictEqual(wanted);
      }
      problems.push(
        ...(state.user === null ? [] : shapeProblems('User', state.user, 'user')),
        ...state.messages.flatMap((m, i) => shapeProblems('Message', m, `messages[${i}]`)),
        ...[...state.polls.values()].flatMap((p, i) => shapeProblems('Poll', p, `polls[${i}]`)),
        ...shapeProblems('RoomSettings', state.roomSettings, 'roomSettings'),
        ...(state.pin === null ? [] : shapeProblems('Pin', state.pin, 'pin')),
        ...(state.myBan === null ? [] : shapeProblems('Ban', state.myBan, 'myBan')),
        ...(sent === null ? [] : shapeProblems(isHeld(sent) ? 'Held' : 'Message', sent, 'sent')),
        ...nonCamelKeys(held, 'state'),
      );
      expect(problems).toEqual([]);
    });
  }
});
