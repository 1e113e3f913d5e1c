import { useState, type FormEvent } from 'react';
import type { ChatPoll } from '../chat/types';
import { formatTime } from './format';

interface Props {
  polls: readonly ChatPoll[];
  /** Older (finished) polls exist on the server: offer to show them. */
  hasOlder: boolean;
  onLoadOlder: () => Promise<unknown>;
  canModerate: boolean;
  disabled: boolean;
  onCreate: (question: string, options: string[], publishAt?: Date) => Promise<unknown>;
  onVote: (poll: ChatPoll, option: number) => Promise<unknown>;
  onFinish: (poll: ChatPoll) => Promise<unknown>;
}

const MAX_OPTIONS = 10;
const when = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'short' });

const ORDER: Record<ChatPoll['status'], number> = { open: 0, scheduled: 1, finished: 2 };

/** When a poll opens (or opened), for sorting: any number, NaN and Infinity sort as 0. */
function sortTime(poll: ChatPoll): number {
  const t = poll.publishAt ?? poll.createdAt ?? 0;
  return Number.isFinite(t) ? t : 0;
}

export function PollsPanel({
  polls,
  hasOlder,
  onLoadOlder,
  canModerate,
  disabled,
  onCreate,
  onVote,
  onFinish,
}: Props) {
  const [creating, setCreating] = useState(false);
  const sorted = [...polls].sort(
    (a, b) => ORDER[a.status] - ORDER[b.status] || sortTime(b) - sortTime(a),
  );

  return (
    <section className="panel polls" data-testid="polls-panel" aria-labelledby="polls-title">
      <header className="panel-header">
        <h2 id="polls-title">Polls</h2>
        {canModerate && !creating && (
          <button
            type="button"
            className="secondary small"
            onClick={() => setCreating(true)}
            disabled={disabled}
            data-testid="poll-new"
          >
            + New poll
          </button>
        )}
      </header>
      {canModerate && creating && (
        <PollForm
          onCancel={() => setCreating(false)}
          onCreate={async (q, o, d) => {
            await onCreate(q, o, d);
            setCreating(false);
          }}
          disabled={disabled}
        />
      )}
      {sorted.length === 0 && !creating && (
        <p className="muted empty" data-testid="polls-empty">
          No polls yet.{canModerate ? ' Start one to ask the room.' : ''}
        </p>
      )}
      <ul className="poll-list">
        {sorted.map((poll) => (
          <PollCard
            key={poll.id}
            poll={poll}
            canModerate={canModerate}
            disabled={disabled}
            onVote={onVote}
            onFinish={onFinish}
          />
        ))}
      </ul>
      {hasOlder && (
        <button
          type="button"
          className="secondary small"
          onClick={() => void onLoadOlder()}
          disabled={disabled}
          data-testid="polls-older"
        >
          Show older polls
        </button>
      )}
    </section>
  );
}

interface CardProps {
  poll: ChatPoll;
  canModerate: boolean;
  disabled: boolean;
  onVote: Props['onVote'];
  onFinish: Props['onFinish'];
}

function PollCard({ poll, canModerate, disabled, onVote, onFinish }: CardProps) {
  const [busy, setBusy] = useState(false);
  const canVote = poll.status === 'open' && poll.myVote === null && !disabled && !busy;
  const total = poll.totalVotes;

  async function run(action: () => Promise<unknown>) {
    setBusy(true);
    try {
      await action();
    } catch {
      // shown as a notice by the chat controller
    } finally {
      setBusy(false);
    }
  }

  return (
    <li
      className={`poll poll-${poll.status}`}
      data-testid="poll"
      data-poll-id={poll.id}
      data-status={poll.status}
    >
      <div className="poll-top">
        <span className={`chip chip-${poll.status}`} data-testid="poll-status">
          {poll.status === 'open' ? 'live' : poll.status}
        </span>
        {poll.status === 'scheduled' && poll.publishAt !== null && (
          <span className="muted small" data-testid="poll-opens">
            opens {formatTime(when, poll.publishAt)}
          </span>
        )}
        {poll.status !== 'scheduled' && (
          <span className="muted small poll-total" data-testid="poll-total" data-total={total}>
            {total} {total === 1 ? 'vote' : 'votes'}
          </span>
        )}
      </div>
      <h3 className="poll-question" data-testid="poll-question">
        {poll.question}
      </h3>
      <ol className="poll-options">
        {poll.options.map((option, index) => {
          const share = total > 0 ? Math.round((option.votes / total) * 100) : 0;
          const mine = poll.myVote === index;
          return (
            <li key={index}>
              <button
                type="button"
                className={mine ? 'poll-option mine' : 'poll-option'}
                disabled={!canVote}
                onClick={() => run(() => onVote(poll, index))}
                data-testid="poll-option"
                data-votes={option.votes}
                data-mine={mine ? 'true' : 'false'}
                aria-pressed={mine}
              >
                <span className="fill" style={{ width: `${share}%` }} aria-hidden="true" />
                <span className="option-text">{option.text}</span>
                {mine && (
                  <span className="my-vote" data-testid="poll-my-vote">
                    ✓ your vote
                  </span>
                )}
                <span className="option-count">
                  {share}% · {option.votes}
                </span>
              </button>
            </li>
          );
        })}
      </ol>
      {canModerate && poll.status === 'open' && (
        <div className="poll-actions">
          <button
            type="button"
            className="secondary small"
            disabled={disabled || busy}
            onClick={() => run(() => onFinish(poll))}
            data-testid="poll-finish"
          >
            Finish poll
          </button>
        </div>
      )}
    </li>
  );
}

interface FormProps {
  disabled: boolean;
  onCreate: (question: string, options: string[], publishAt?: Date) => Promise<void>;
  onCancel: () => void;
}

/** `datetime-local` wants local time without a zone: `2025-01-31T18:30`. */
function localInputValue(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

function PollForm({ disabled, onCreate, onCancel }: FormProps) {
  const [question, setQuestion] = useState('');
  const [options, setOptions] = useState<string[]>(['', '']);
  const [scheduled, setScheduled] = useState(false);
  const [publishAt, setPublishAt] = useState(() =>
    localInputValue(new Date(Date.now() + 5 * 60 * 1000)),
  );
  const [busy, setBusy] = useState(false);

  const cleaned = options.map((o) => o.trim()).filter(Boolean);
  const distinct = new Set(cleaned).size === cleaned.length;
  const date = scheduled ? new Date(publishAt) : undefined;
  const dateValid = !scheduled || (date !== undefined && !Number.isNaN(date.getTime()));
  const valid = question.trim().length > 0 && cleaned.length >= 2 && distinct && dateValid;

  function setOption(index: number, value: string) {
    setOptions((prev) => prev.map((o, i) => (i === index ? value : o)));
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!valid || busy) return;
    setBusy(true);
    try {
      await onCreate(question.trim(), cleaned, date);
    } catch {
      // shown as a notice; keep the form
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="poll-form" onSubmit={submit} noValidate data-testid="poll-form">
      <label className="field">
        <span>Question</span>
        <input
          value={question}
          onChange={(e) => setQuestion(e.target.value)}
          placeholder="What should we play next?"
          data-testid="poll-form-question"
          autoFocus
        />
      </label>
      <div className="field">
        <span>Options</span>
        {options.map((option, index) => (
          <div className="option-row" key={index}>
            <input
              value={option}
              onChange={(e) => setOption(index, e.target.value)}
              placeholder={`Option ${index + 1}`}
              data-testid="poll-form-option"
            />
            {options.length > 2 && (
              <button
                type="button"
                className="icon-button"
                aria-label={`Remove option ${index + 1}`}
                onClick={() => setOptions((prev) => prev.filter((_, i) => i !== index))}
              >
                ×
              </button>
            )}
          </div>
        ))}
        {options.length < MAX_OPTIONS && (
          <button
            type="button"
            className="link-button"
            onClick={() => setOptions((prev) => [...prev, ''])}
            data-testid="poll-form-add-option"
          >
            + Add option
          </button>
        )}
        {!distinct && <small className="field-error">Options must differ</small>}
      </div>
      <label className="check">
        <input
          type="checkbox"
          checked={scheduled}
          onChange={(e) => setScheduled(e.target.checked)}
          data-testid="poll-form-schedule"
        />
        Publish later
      </label>
      {scheduled && (
        <input
          type="datetime-local"
          value={publishAt}
          onChange={(e) => setPublishAt(e.target.value)}
          data-testid="poll-form-publish-at"
          aria-label="Publish at"
        />
      )}
      <div className="form-actions">
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
        <button
          type="submit"
          className="primary"
          disabled={!valid || busy || disabled}
          data-testid="poll-form-submit"
        >
          {scheduled ? 'Schedule poll' : 'Start poll'}
        </button>
      </div>
    </form>
  );
}
