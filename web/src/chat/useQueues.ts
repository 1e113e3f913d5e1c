/**
 * The moderators' two queues (docs/moderation.md): the messages held for review or by the
 * chat delay, and the reported messages waiting for a decision. Each is loaded on every
 * connect (their pushes are not part of the stream, so a reconnect cannot replay them) and
 * kept current by the pushes: REVIEW_ADDED / REVIEW_REMOVED, REPORT_ADDED / REPORT_REMOVED,
 * and MESSAGE_HIDDEN / MESSAGE_RESTORED for a report's hidden state. Pushes that arrive
 * while a load is under way are applied again to what it returns.
 */

import { useCallback, useEffect, useMemo, useState } from 'react';
import {
  Events,
  NotFoundError,
  type Held,
  type Message,
  type PChatSDK,
  type Report,
  type ReportRemovedEvent,
  type ReviewRemovedEvent,
} from 'pchatsdk';
import { toHeld, toReport } from './adapt';
import type { ChatHeld, ChatReport } from './types';
import type { ChatController } from './useChat';

export interface QueuesController {
  /** Held messages, oldest first. */
  readonly held: readonly ChatHeld[];
  /** Reported messages, most recently reported first. */
  readonly reports: readonly ChatReport[];
  approve(id: string): Promise<unknown>;
  reject(id: string, reason?: string): Promise<unknown>;
  dismissReport(messageId: string): Promise<unknown>;
  deleteReported(messageId: string): Promise<unknown>;
}

/** How many items of each queue are loaded (the protocol's largest page). */
const QUEUE_PAGE = 100;

interface Queues {
  readonly held: readonly ChatHeld[];
  readonly reports: readonly ChatReport[];
}

type Change = (queues: Queues) => Queues;

const EMPTY: Queues = { held: [], reports: [] };

const addHeld =
  (item: ChatHeld): Change =>
  (q) =>
    q.held.some((h) => h.id === item.id) ? q : { ...q, held: [...q.held, item] };

const removeHeld =
  (id: string): Change =>
  (q) =>
    q.held.some((h) => h.id === id) ? { ...q, held: q.held.filter((h) => h.id !== id) } : q;

// A report pushed again (one more user) replaces the message's entry and goes first.
const addReport =
  (report: ChatReport): Change =>
  (q) => ({
    ...q,
    reports: [report, ...q.reports.filter((r) => r.message.id !== report.message.id)],
  });

const removeReport =
  (messageId: string): Change =>
  (q) =>
    q.reports.some((r) => r.message.id === messageId)
      ? { ...q, reports: q.reports.filter((r) => r.message.id !== messageId) }
      : q;

const markHidden =
  (message: Message, hidden: boolean): Change =>
  (q) =>
    q.reports.some((r) => r.message.id === message.id && r.hidden !== hidden)
      ? {
          ...q,
          reports: q.reports.map((r) =>
            r.message.id === message.id ? { ...r, hidden, message: { ...r.message, hidden } } : r,
          ),
        }
      : q;

/** The queues of a moderator's client; with `enabled` false (a viewer), nothing is loaded. */
export function useQueues(chat: ChatController, enabled: boolean): QueuesController {
  const { client, run } = chat;
  const [queues, setQueues] = useState<Queues>(EMPTY);

  useEffect(() => {
    if (!client || !enabled) return;
    let active = true;
    // The pushes since the newest load started, applied again to what it returns.
    let since: Change[] | null = null;
    const apply = (change: Change) => {
      since?.push(change);
      setQueues(change);
    };
    let loads = 0;
    const load = async (sdk: PChatSDK) => {
      const mine = ++loads;
      since = [];
      try {
        const [items, reports] = await Promise.all([
          sdk.getReviewQueue({ limit: QUEUE_PAGE }),
          sdk.getReports({ limit: QUEUE_PAGE }),
        ]);
        if (!active || mine !== loads) return;
        const replay = since;
        setQueues(
          replay.reduce<Queues>((q, change) => change(q), {
            held: items.map(toHeld),
            reports: reports.map(toReport),
          }),
        );
      } catch {
        // A failed load (the connection went away) is followed by the next CONNECT's.
      } finally {
        if (mine === loads) since = null;
      }
    };
    const onConnect = () => void load(client);
    const onReviewAdded = (item: Held) => apply(addHeld(toHeld(item)));
    const onReviewRemoved = (event: ReviewRemovedEvent) => apply(removeHeld(event.id));
    const onReportAdded = (report: Report) => apply(addReport(toReport(report)));
    const onReportRemoved = (event: ReportRemovedEvent) => apply(removeReport(event.messageId));
    const onHidden = (message: Message) => apply(markHidden(message, true));
    const onRestored = (message: Message) => apply(markHidden(message, false));
    client.on(Events.CONNECT, onConnect);
    client.on(Events.REVIEW_ADDED, onReviewAdded);
    client.on(Events.REVIEW_REMOVED, onReviewRemoved);
    client.on(Events.REPORT_ADDED, onReportAdded);
    client.on(Events.REPORT_REMOVED, onReportRemoved);
    client.on(Events.MESSAGE_HIDDEN, onHidden);
    client.on(Events.MESSAGE_RESTORED, onRestored);
    if (client.state === 'connected') onConnect();
    return () => {
      active = false;
      client.off(Events.CONNECT, onConnect);
      client.off(Events.REVIEW_ADDED, onReviewAdded);
      client.off(Events.REVIEW_REMOVED, onReviewRemoved);
      client.off(Events.REPORT_ADDED, onReportAdded);
      client.off(Events.REPORT_REMOVED, onReportRemoved);
      client.off(Events.MESSAGE_HIDDEN, onHidden);
      client.off(Events.MESSAGE_RESTORED, onRestored);
      setQueues(EMPTY);
    };
  }, [client, enabled]);

  // Each decision also takes the item out at once (its push, to every moderator, follows);
  // so does a 112 (another moderator decided first: its push may not have come yet).
  const decide = useCallback(
    async (change: Change, action: (sdk: PChatSDK) => Promise<unknown>) => {
      try {
        await run(action);
      } catch (error) {
        if (error instanceof NotFoundError) setQueues(change);
        throw error;
      }
      setQueues(change);
    },
    [run],
  );

  return useMemo(
    () => ({
      ...queues,
      approve: (id: string) => decide(removeHeld(id), (c) => c.approve(id)),
      reject: (id: string, reason?: string) =>
        decide(removeHeld(id), (c) => c.reject(id, reason ? { reason } : {})),
      dismissReport: (messageId: string) =>
        decide(removeReport(messageId), (c) => c.resolveReport(messageId, 'dismiss')),
      deleteReported: (messageId: string) =>
        decide(removeReport(messageId), (c) => c.resolveReport(messageId, 'delete')),
    }),
    [queues, decide],
  );
}
