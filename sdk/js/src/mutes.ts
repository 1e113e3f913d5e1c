/**
 * The personal mutes of {@link PChatSDK}, as the Python SDK's `mutes.py`: any user mutes
 * another for themselves (docs/protocol.md §2, docs/moderation.md).
 *
 * The server keeps the mutes (they follow the user to every device and room) and withholds a
 * muted user's messages: live, replayed by a recovery and in history. The client holds the
 * list in `mutes` (from the connect reply, the replies below and the `muted`/`unmuted` pushes
 * to this user's other connections) and fires MUTED and UNMUTED when it changes; muting a
 * user also drops their messages held until then.
 * @module
 */
import { ModerationCalls } from './moderation.js';

/** The mute methods; the client provides the request, its room state and events. */
export abstract class MuteCalls extends ModerationCalls {
  /**
   * Stop receiving `userId`'s messages, on every device (not yourself: InvalidRequestError;
   * at most 1000 mutes: 121 `limit_reached`). Their held messages are dropped from
   * `messages`, then MUTED fires (once, also when the push that follows arrives).
   */
  async mute(userId: string): Promise<void> {
    const result = await this.request('mute', { user_id: userId });
    this.fire(this.roomState.applyMute(String(result.user_id ?? userId), true));
  }

  /**
   * Receive `userId`'s messages again (NotFoundError if not muted); UNMUTED fires. Their
   * earlier messages come back only with history loaded anew.
   */
  async unmute(userId: string): Promise<void> {
    const result = await this.request('unmute', { user_id: userId });
    this.fire(this.roomState.applyMute(String(result.user_id ?? userId), false));
  }

  /**
   * The ids of the users this user muted, fetched anew; MUTED and UNMUTED fire for what
   * changed since `mutes` was last known.
   */
  async getMutes(): Promise<string[]> {
    const result = await this.request('mutes');
    this.fire(this.roomState.applyMutes(Array.isArray(result.user_ids) ? result.user_ids : []));
    return [...this.roomState.mutes];
  }
}
