/**
 * The poll calls of {@link PChatSDK}, as the Python SDK's `polls.py`: create (now or
 * scheduled), vote, finish, and page through the room's polls. Each is one protocol request
 * (docs/protocol.md §2); the poll it returns is applied to the client's room state, and POLL
 * fires when it changed.
 * @module
 */
import { ReviewCalls } from './reviews.js';
import { timestampMs, type Timestamp } from './timestamps.js';
import type { Poll } from './types.js';

/** The poll methods; the client provides the request, its room state and events. */
export abstract class PollCalls extends ReviewCalls {
  /**
   * Create a poll (moderators and admins), published now or at `scheduledDate` (a timestamp
   * as {@link loadHistory} takes).
   */
  async createPoll(
    question: string,
    options: readonly string[],
    scheduledDate?: Timestamp | null,
  ): Promise<Poll> {
    const publishAt =
      scheduledDate === undefined || scheduledDate === null
        ? undefined
        : timestampMs(scheduledDate, 'scheduledDate');
    const result = await this.request('poll_create', {
      question,
      options: [...options],
      publish_at: publishAt,
    });
    return this.applyPoll(result.poll);
  }

  /** Vote for option `optionIndex` (from 0) of a poll; a vote cannot be changed. */
  async vote(pollId: string, optionIndex: number): Promise<Poll> {
    const result = await this.request('poll_vote', { poll_id: pollId, option: optionIndex });
    return this.applyPoll(result.poll);
  }

  /** Finish a poll (moderators and admins). */
  async finishPoll(pollId: string): Promise<Poll> {
    const result = await this.request('poll_finish', { poll_id: pollId });
    return this.applyPoll(result.poll);
  }

  /**
   * A page of the room's polls, fetched anew, oldest first: the newest `limit` (default and
   * at most 50) created before the poll `before` (default: the newest). POLL fires for each
   * that changed; `hasMorePolls` tells whether older ones exist.
   */
  async getPolls(options: { before?: string; limit?: number } = {}): Promise<Poll[]> {
    const args: Record<string, unknown> = {};
    if (options.before !== undefined) args.before = options.before;
    if (options.limit !== undefined) args.limit = options.limit;
    const result = await this.request('polls', args);
    const { polls, outcome } = this.roomState.applyPolls(result);
    this.fire(outcome);
    return polls;
  }

  private applyPoll(data: unknown): Poll {
    const { poll, outcome } = this.roomState.applyPoll(data);
    this.fire(outcome);
    return poll;
  }
}
