import type { QueuesController } from '../chat/useQueues';
import { HeldQueue } from './HeldQueue';
import { ReportQueue } from './ReportQueue';

interface Props {
  queues: QueuesController;
  disabled: boolean;
}

/** The moderators' review panel: the held messages and the reported ones, kept live. */
export function ReviewPanel({ queues, disabled }: Props) {
  const waiting = queues.held.length + queues.reports.length;
  return (
    <section
      className="panel moderation review"
      data-testid="review-panel"
      aria-labelledby="review-title"
    >
      <header className="panel-header">
        <h2 id="review-title">Review</h2>
        <span
          className={waiting ? 'queue-count busy' : 'queue-count'}
          data-testid="review-waiting"
          aria-label={`${waiting} waiting`}
        >
          {waiting}
        </span>
      </header>
      <HeldQueue
        held={queues.held}
        disabled={disabled}
        onApprove={queues.approve}
        onReject={queues.reject}
      />
      <ReportQueue
        reports={queues.reports}
        disabled={disabled}
        onDismiss={queues.dismissReport}
        onDelete={queues.deleteReported}
      />
    </section>
  );
}
