/**
 * What viewers and moderators do about unwanted messages, as calls of {@link PChatSDK}:
 * personal mutes (everyone), reports (everyone reports, moderators decide) and the review
 * queue of held messages (moderators). Each is one protocol request (docs/protocol.md §2,
 * docs/moderation.md); what it changes reaches the clients as pushes: MUTED/UNMUTED to the
 * muting user's own clients, REPORT_ADDED/REPORT_REMOVED and REVIEW_ADDED/REVIEW_REMOVED to
 * the moderators, MESSAGE_HIDDEN/MESSAGE_RESTORED to the room, MESSAGE_REJECTED to the
 * author of a rejected message.
 * @module
 */
import { heldFromWire, messageFromWire, reportFromWire } from './models.js';
import { ModerationCalls } from './moderation.js';
import type { Held, Message, Report, ReportAction } from './types.js';

/** The mute, report and review methods; the client provides the request and its room state. */
export abstract class SafetyCalls extends ModerationCalls {
  // -- personal mutes (everyone) ----------------------------------------------------------

  /**
   * Stop receiving `userId`'s messages, live, replayed and in history, in every room and on
   * every device (the server keeps the list; at most 1000). The user's held messages are
   * dropped and MUTED fires. Muting yourself: InvalidRequestError.
   */
  async mute(userId: string): Promise<void> {
    await this.request('mute', { user_id: userId });
    this.fire(this.roomState.applyMute(userId, true));
  }

  /**
   * Receive `userId`'s messages again (from now on: those sent meanwhile come with the next
   * history page); UNMUTED fires. NotFoundError if the user was not muted.
   */
  async unmute(userId: string): Promise<void> {
    await this.request('unmute', { user_id: userId });
    this.fire(this.roomState.applyMute(userId, false));
  }

  /** The ids of the users this user muted, fetched anew; MUTED/UNMUTED fire for changes. */
  async getMutes(): Promise<string[]> {
    const result = await this.request('mutes');
    this.fire(this.roomState.applyMutes(Array.isArray(result.user_ids) ? result.user_ids : []));
    return [...this.roomState.mutes];
  }

  // -- reports ----------------------------------------------------------------------------

  /**
   * Report a message of the room to its moderators, with an optional `reason` (at most 200
   * characters). Once per user and message: reporting it again changes nothing. Your own
   * message: InvalidRequestError; a deleted one: ConflictError.
   */
  async report(messageId: string, options: { reason?: string } = {}): Promise<void> {
    await this.request('report', { message_id: messageId, reason: options.reason });
  }

  /**
   * Moderators: the reported messages not decided yet, most recently reported first (at most
   * `limit`, 1–100, default 50).
   */
  async getReports(options: { limit?: number } = {}): Promise<Report[]> {
    const result = await this.request('reports', { limit: options.limit });
    return (Array.isArray(result.reports) ? result.reports : []).map(reportFromWire);
  }

  /**
   * Moderators: decide a message's open reports: `dismiss` drops them (a hidden message is
   * shown again: MESSAGE_RESTORED), `delete` deletes the message (MESSAGE_DELETE).
   * NotFoundError if it has no open reports.
   */
  async resolveReport(messageId: string, action: ReportAction): Promise<void> {
    await this.request('report_resolve', { message_id: messageId, action });
  }

  // -- the review queue (moderators) ------------------------------------------------------

  /**
   * Moderators: the messages held for review or by the chat delay, oldest first (at most
   * `limit`, 1–100, default 50).
   */
  async getReviewQueue(options: { limit?: number } = {}): Promise<Held[]> {
    const result = await this.request('review_queue', { limit: options.limit });
    return (Array.isArray(result.items) ? result.items : []).map(heldFromWire);
  }

  /**
   * Moderators: publish a held message into the room's stream now, with the held message's
   * id. Resolves with the message once this client has applied its push (at most
   * `requestTimeout` later). NotFoundError if it is no longer held.
   */
  async approve(heldId: string): Promise<Message> {
    const result = await this.request('review_approve', { id: heldId });
    const message = messageFromWire(result.message);
    await this.waitSeq(message.seq);
    return this.roomState.get(message.id) ?? message;
  }

  /**
   * Moderators: reject a held message, with an optional `reason` (at most 200 characters)
   * that its author's clients get with MESSAGE_REJECTED. NotFoundError if it is no longer
   * held.
   */
  async reject(heldId: string, options: { reason?: string } = {}): Promise<void> {
    await this.request('review_reject', { id: heldId, reason: options.reason });
  }
}

/** Whether what {@link PChatSDK.sendMessage} resolved with is a {@link Held} message. */
export function isHeld(sent: Message | Held): sent is Held {
  return !('seq' in sent);
}
