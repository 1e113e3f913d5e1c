import type { ChatMessage } from '../chat/types';

/**
 * What only moderators see on a message: that it comes from a shadow-banned user (nobody
 * but its author and the staff sees it), or that reports hid it from viewers until a
 * moderator decides (the report queue).
 */
export function StaffMarks({ message }: { message: ChatMessage }) {
  if (!message.shadow && !message.hidden) return null;
  return (
    <p className="staff-marks" data-testid="staff-marks">
      {message.shadow && (
        <span
          className="staff-mark shadow"
          data-testid="mark-shadow"
          title="Shadow-banned: only the author and moderators see this message"
        >
          shadow-banned
        </span>
      )}
      {message.hidden && (
        <span
          className="staff-mark hidden-mark"
          data-testid="mark-hidden"
          title="Hidden from viewers by reports until a moderator decides"
        >
          hidden by reports
        </span>
      )}
    </p>
  );
}
