import type { ChatHeld } from '../chat/types';
import { formatCountdown } from './format';
import { useNow } from './useNow';

/**
 * This user's own messages the room holds, at the end of the message list (items of its
 * `<ol>`): "Waiting for a moderator" for one held for review, "Delayed" with a countdown for
 * one held by the chat delay. Each leaves when it enters the room or is rejected.
 */
export function PendingMessages({ pending }: { pending: readonly ChatHeld[] }) {
  return (
    <>
      {pending.map((held) => (
        <PendingItem key={held.id} held={held} />
      ))}
    </>
  );
}

function PendingItem({ held }: { held: ChatHeld }) {
  const now = useNow(held.releaseAt);
  const delayed = held.reason === 'delay';
  const left = held.releaseAt === null ? 0 : held.releaseAt - now;
  return (
    <li
      className="message mine pending"
      data-testid="pending-message"
      data-held-id={held.id}
      data-reason={held.reason}
      data-state={delayed ? 'delayed' : 'review'}
    >
      <div className="bubble-wrap">
        <div className="bubble">
          <span className="text" data-testid="pending-text">
            {held.text}
          </span>
        </div>
        <p className="pending-status" data-testid="pending-status" role="status">
          {delayed
            ? left > 0
              ? `Delayed: others see it in ${formatCountdown(left)}`
              : 'Delayed: arriving…'
            : 'Pending review: only you see it until a moderator approves it'}
        </p>
      </div>
    </li>
  );
}
