import type { ChatSampled } from '../chat/types';

interface Props {
  sampled: ChatSampled;
  /** Moderators and admins get every message; they are told what viewers get. */
  staff: boolean;
}

/**
 * A busy room's notice: the server sends each viewer one message in `every` (and always
 * their own, their mentions and the staff's), because nobody reads faster than that.
 */
export function SampledNotice({ sampled, staff }: Props) {
  const rate = sampled.rate === null ? '' : ` (${Math.round(sampled.rate)} messages/s)`;
  return (
    <div
      className="sampled-notice"
      role="status"
      data-testid="sampled-notice"
      data-every={sampled.every}
    >
      {staff
        ? `Busy room${rate}: viewers see 1 in ${sampled.every} messages; you see them all`
        : `Busy room${rate}: showing 1 in ${sampled.every} messages, and all of yours and your mentions`}
    </div>
  );
}
