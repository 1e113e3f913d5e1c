import { useState } from 'react';
import type { ChatReport } from '../chat/types';
import { formatTime, isoTime } from './format';

interface Props {
  reports: readonly ChatReport[];
  disabled: boolean;
  onDismiss: (messageId: string) => Promise<unknown>;
  onDelete: (messageId: string) => Promise<unknown>;
}

const when = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });

/**
 * The reported messages waiting for a decision, the most recently reported first: how many
 * users reported each, their reasons, and whether reports hid it from viewers. Dismiss
 * drops the reports (a hidden message is shown again); Delete deletes the message.
 */
export function ReportQueue({ reports, disabled, onDismiss, onDelete }: Props) {
  return (
    <div className="mod-section queue" data-testid="report-queue" data-count={reports.length}>
      <h3>
        Reports <span className="queue-count">{reports.length}</span>
      </h3>
      {reports.length === 0 ? (
        <p className="muted small" data-testid="reports-empty">
          No open reports.
        </p>
      ) : (
        <ol className="mod-list">
          {reports.map((report) => (
            <ReportItem
              key={report.message.id}
              report={report}
              disabled={disabled}
              onDismiss={onDismiss}
              onDelete={onDelete}
            />
          ))}
        </ol>
      )}
    </div>
  );
}

interface ItemProps {
  report: ChatReport;
  disabled: boolean;
  onDismiss: Props['onDismiss'];
  onDelete: Props['onDelete'];
}

function ReportItem({ report, disabled, onDismiss, onDelete }: ItemProps) {
  const [busy, setBusy] = useState(false);
  const { message } = report;
  const off = disabled || busy;

  async function run(action: (messageId: string) => Promise<unknown>) {
    setBusy(true);
    try {
      await action(message.id);
    } catch {
      // shown as a notice; the item goes if its reports were decided meanwhile
    } finally {
      setBusy(false);
    }
  }

  return (
    <li
      className={`mod-item queue-item${report.hidden ? ' is-hidden' : ''}`}
      data-testid="report-item"
      data-message-id={message.id}
      data-count={report.count}
      data-hidden={report.hidden ? 'true' : 'false'}
    >
      <div className="queue-meta">
        <strong>{message.user.username}</strong>{' '}
        <span className="queue-tag" data-testid="report-count">
          reported {report.count === 1 ? 'once' : `${report.count} times`}
        </span>{' '}
        {report.hidden && (
          <span className="queue-tag hidden-tag" data-testid="report-hidden">
            hidden from viewers
          </span>
        )}{' '}
        <time dateTime={isoTime(report.lastTs)} className="muted small">
          {formatTime(when, report.lastTs)}
        </time>
      </div>
      <p className="queue-text" data-testid="report-text">
        {message.deleted ? <em className="muted">message deleted</em> : message.text}
      </p>
      {report.reasons.length > 0 && (
        <ul className="report-reasons" data-testid="report-reasons" aria-label="Reasons">
          {report.reasons.map((reason) => (
            <li key={reason}>{reason}</li>
          ))}
        </ul>
      )}
      <div className="queue-actions">
        <button
          type="button"
          className="secondary small"
          disabled={off}
          onClick={() => void run(onDismiss)}
          data-testid="report-dismiss"
          title={report.hidden ? 'Drop the reports and show the message again' : 'Drop the reports'}
        >
          {report.hidden ? 'Dismiss and show' : 'Dismiss'}
        </button>
        <button
          type="button"
          className="danger small"
          disabled={off}
          onClick={() => void run(onDelete)}
          data-testid="report-delete"
        >
          Delete message
        </button>
      </div>
    </li>
  );
}
