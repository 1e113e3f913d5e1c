/**
 * This user's own messages that the room holds (docs/moderation.md, "Hold for review"): a
 * `send` the server answered with a Held message instead of a stored one — held for a
 * moderator's review (the word filter's `hold` entries, the room's hold mode) or by the
 * chat delay. Each is shown as pending on the sender's side until it enters the room with
 * its held id (approved, or released when the delay ends: MESSAGE, or a history page
 * holding it) or a moderator rejects it (MESSAGE_REJECTED: a notice tells the sender).
 */

import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Events, isHeld, type Message, type MessageRejectedEvent } from 'pchatsdk';
import { excerpt } from '../components/format';
import { toHeld } from './adapt';
import type { ChatHeld } from './types';
import type { ChatController } from './useChat';

export interface PendingController {
  /** This user's held messages, oldest first. */
  readonly pending: readonly ChatHeld[];
  /** Send as `ChatController.send` does, keeping a held result as pending. */
  send(text: string, replyTo?: string): Promise<unknown>;
}

/** The notice a rejected message gets: which one, and the moderator's reason if any. */
export function rejectedText(text: string | null, reason: string): string {
  const which = text === null ? 'Your message' : `Your message “${excerpt(text, 60)}”`;
  return `${which} was rejected by a moderator${reason ? `: ${reason}` : '.'}`;
}

export function usePending(chat: ChatController): PendingController {
  const { client, notify, send: sendRaw } = chat;
  const [pending, setPending] = useState<readonly ChatHeld[]>([]);
  // The list as last rendered, for the handlers (which must not act inside an updater).
  const current = useRef(pending);
  current.current = pending;

  const drop = useCallback((ids: ReadonlySet<string>) => {
    setPending((list) =>
      list.some((h) => ids.has(h.id)) ? list.filter((h) => !ids.has(h.id)) : list,
    );
  }, []);

  useEffect(() => {
    if (!client) return;
    const onMessage = (message: Message) => drop(new Set([message.id]));
    const onHistory = (page: Message[]) => drop(new Set(page.map((m) => m.id)));
    const onRejected = (event: MessageRejectedEvent) => {
      const held = current.current.find((h) => h.id === event.id);
      notify(rejectedText(held?.text ?? null, event.reason));
      drop(new Set([event.id]));
    };
    client.on(Events.MESSAGE, onMessage);
    client.on(Events.HISTORY_LOAD, onHistory);
    client.on(Events.MESSAGE_REJECTED, onRejected);
    return () => {
      client.off(Events.MESSAGE, onMessage);
      client.off(Events.HISTORY_LOAD, onHistory);
      client.off(Events.MESSAGE_REJECTED, onRejected);
      setPending([]);
    };
  }, [client, notify, drop]);

  const send = useCallback(
    async (text: string, replyTo?: string) => {
      const sent = await sendRaw(text, replyTo);
      if (isHeld(sent)) {
        const held = toHeld(sent);
        // A short delay may have ended already: its message arrived before this reply.
        const arrived = client?.messages.some((m) => m.id === held.id) ?? false;
        if (!arrived) {
          setPending((list) => (list.some((h) => h.id === held.id) ? list : [...list, held]));
        }
      }
      return sent;
    },
    [client, sendRaw],
  );

  return useMemo(() => ({ pending, send }), [pending, send]);
}
