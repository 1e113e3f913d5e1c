/**
 * Reports and the review queue of {@link PChatSDK}, as the Python SDK's `reviews.py`
 * (docs/protocol.md §2, docs/moderation.md).
 *
 * Any user reports a message ({@link ReviewCalls.report}); enough reports hide it until a
 * moderator decides: every client applies the `message_hide` stream event (MESSAGE_HIDDEN; a
 * viewer's client drops the message, a moderator's keeps it marked `hidden`) and, when the
 * reports are dismissed, `message_restore` (MESSAGE_RESTORED). Moderators and admins page the
 * open reports and decide them, and work through the messages held for review (the word
 * filter's `hold` entries, the room's hold mode) or by the chat delay: approved or released,
 * a held message enters the stream with the id its sender's `sendMessage` resolved with;
 * rejected, its sender's clients fire MESSAGE_REJECTED. Moderators' clients are told of both
 * queues as they change (REPORT_ADDED, REPORT_REMOVED, REVIEW_ADDED, REVIEW_REMOVED); these
 * pushes are not part of the stream, so a moderator's application reloads the queues after
 * each CONNECT.
 * @module
 */
import { heldFromWire, messageFromWire, reportFromWire } from './models.js';
import { MuteCalls } from './mutes.js';
import type { Held, Message, Report, ReportAction } from './types.js';

/** Whether what {@link PChatSDK.sendMessage} resolved with is a {@link Held} message. */
export function isHeld(sent: Message | Held): sent is Held {
  return !('seq' in sent);
}

/** The report and review methods; the client provides the request and its room state. */
export abstract class ReviewCalls extends MuteCalls {
  /**
   * Report a message of the room to its moderators, with an optional `reason` (at most 200
   * characters). Once per user and message: reporting again changes nothing. Your own
   * message: InvalidRequestError; a deleted one: ConflictError.
   */
  async report(messageId: string, options: { reason?: string } = {}): Promise<void> {
    await this.request('report', { message_id: messageId, reason: options.reason });
  }

  /**
   * The reported messages not decided yet, most recently reported first: `limit` (1–100,
   * default 50) of them (moderators and admins).
   */
  async getReports(options: { limit?: number } = {}): Promise<Report[]> {
    const result = await this.request('reports', { limit: options.limit });
    return (Array.isArray(result.reports) ? result.reports : []).map(reportFromWire);
  }

  /**
   * Decide the open reports of a message (moderators and admins): `dismiss` drops them and
   * shows a hidden message again (MESSAGE_RESTORED on every client), `delete` deletes the
   * message (MESSAGE_DELETE). NotFoundError if it has no open reports.
   */
  async resolveReport(messageId: string, action: ReportAction): Promise<void> {
    await this.request('report_resolve', { message_id: messageId, action });
  }

  /**
   * The held messages, oldest first: `limit` (1–100, default 50) of them (moderators and
   * admins).
   */
  async getReviewQueue(options: { limit?: number } = {}): Promise<Held[]> {
    const result = await this.request('review_queue', { limit: options.limit });
    return (Array.isArray(result.items) ? result.items : []).map(heldFromWire);
  }

  /**
   * Publish a held message into the stream now, with its held id (moderators and admins);
   * NotFoundError if it is no longer held. Waits (up to `requestTimeout`) until this client
   * has applied its `message` push (MESSAGE fired); resolves with it as held.
   */
  async approve(heldId: string): Promise<Message> {
    const result = await this.request('review_approve', { message_id: heldId });
    const message = messageFromWire(result.message);
    await this.waitSeq(message.seq);
    return this.roomState.get(message.id) ?? message;
  }

  /**
   * Reject a held message (moderators and admins), with an optional `reason` (at most 200
   * characters) its sender's clients get with MESSAGE_REJECTED; NotFoundError if it is no
   * longer held.
   */
  async reject(heldId: string, options: { reason?: string } = {}): Promise<void> {
    await this.request('review_reject', { message_id: heldId, reason: options.reason });
  }
}
