import { useEffect, useState } from 'react';
import type { ChatModAction, ChatModLogPage } from '../chat/types';
import { formatSeconds, formatTime, isoTime } from './format';
import { MODES } from './RoomModes';

const when = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** One log entry as a sentence (the actor is shown apart). */
export function describeAction(entry: ChatModAction, names: ReadonlyMap<string, string>): string {
  const target = entry.targetUserId ? (names.get(entry.targetUserId) ?? entry.targetUserId) : '';
  const d = entry.details;
  const kick = d.kick === true ? ' and removed them' : '';
  switch (entry.action) {
    case 'ban':
      return `banned ${target}${kick}`;
    case 'shadow_ban': {
      const until = num(d.until);
      const span =
        until === null ? '' : ` for ${formatSeconds(Math.round((until - entry.ts) / 1000))}`;
      return `shadow-banned ${target}${span}`;
    }
    case 'timeout': {
      const until = num(d.until);
      const span =
        until === null ? '' : ` for ${formatSeconds(Math.round((until - entry.ts) / 1000))}`;
      return `timed out ${target}${span}${kick}`;
    }
    case 'unban':
      return `lifted the ban on ${target}`;
    case 'purge': {
      const count = num(d.count);
      return `purged ${count === null ? 'the messages' : plural(count, 'message')} of ${target}`;
    }
    case 'room_mode': {
      const changes: string[] = [];
      const slow = num(d.slowMode);
      if (slow !== null) {
        changes.push(slow > 0 ? `slow mode ${formatSeconds(slow)}` : 'slow mode off');
      }
      if (typeof d.uniqueChat === 'boolean') {
        changes.push(`unique chat ${d.uniqueChat ? 'on' : 'off'}`);
      }
      const max = num(d.maxMessageChars);
      if (max !== null) {
        changes.push(max > 0 ? `at most ${max} characters` : 'the server’s length limit');
      }
      if (typeof d.mode === 'string') {
        changes.push(MODES.find((m) => m.mode === d.mode)?.label.toLowerCase() ?? d.mode);
      }
      if (typeof d.hold === 'boolean') changes.push(`hold mode ${d.hold ? 'on' : 'off'}`);
      const delay = num(d.delay);
      if (delay !== null) {
        changes.push(delay > 0 ? `chat delay ${formatSeconds(delay)}` : 'chat delay off');
      }
      return `set ${changes.join(', ') || 'the room modes'}`;
    }
    case 'pin':
      return typeof d.text === 'string'
        ? `pinned an announcement: “${d.text}”`
        : 'pinned a message';
    case 'unpin':
      return 'removed the pin';
    case 'review_approve':
      return `approved a held message of ${target}`;
    case 'review_reject':
      return `rejected a held message of ${target}`;
    case 'report_dismiss': {
      const count = num(d.count);
      const reports = count === null ? 'the reports' : plural(count, 'report');
      return `dismissed ${reports} of a message by ${target}`;
    }
    case 'report_delete': {
      const count = num(d.count);
      const reports = count === null ? '' : ` (${plural(count, 'report')})`;
      return `deleted a reported message by ${target}${reports}`;
    }
    default:
      return entry.action;
  }
}

interface LogProps {
  names: ReadonlyMap<string, string>;
  version: number;
  getModLog: (before?: number) => Promise<ChatModLogPage>;
}

/** The moderation log, newest first, a page at a time (fetched when opened). */
export function ModLog({ names, version, getModLog }: LogProps) {
  const [open, setOpen] = useState(false);
  const [entries, setEntries] = useState<ChatModAction[] | null>(null);
  const [hasMore, setHasMore] = useState(false);
  const [loading, setLoading] = useState(false);
  const [reload, setReload] = useState(0);

  // The newest page: when opened, after this client's actions, and on request.
  useEffect(() => {
    if (!open) return;
    let current = true;
    getModLog().then(
      (page) => {
        if (!current) return;
        setEntries([...page.entries]);
        setHasMore(page.hasMore);
      },
      () => undefined,
    );
    return () => {
      current = false;
    };
  }, [open, version, reload, getModLog]);

  async function older() {
    const last = entries?.[entries.length - 1];
    if (!last || loading) return;
    setLoading(true);
    try {
      const page = await getModLog(last.id);
      setEntries((list) => {
        const held = new Set((list ?? []).map((e) => e.id));
        return [...(list ?? []), ...page.entries.filter((e) => !held.has(e.id))];
      });
      setHasMore(page.hasMore);
    } catch {
      // shown as a notice
    } finally {
      setLoading(false);
    }
  }

  return (
    <details
      className="mod-section"
      onToggle={(e) => setOpen(e.currentTarget.open)}
      data-testid="mod-log"
    >
      <summary>Moderation log</summary>
      {entries === null ? (
        <p className="muted small">Loading…</p>
      ) : entries.length === 0 ? (
        <p className="muted small" data-testid="mod-log-empty">
          Nothing yet.
        </p>
      ) : (
        <ol className="mod-list">
          {entries.map((entry) => (
            <li
              key={entry.id}
              className="mod-item log"
              data-testid="mod-log-entry"
              data-action={entry.action}
              data-id={entry.id}
            >
              <time dateTime={isoTime(entry.ts)} className="muted small">
                {formatTime(when, entry.ts)}
              </time>{' '}
              <strong>{entry.by.username}</strong> {describeAction(entry, names)}
              {entry.reason && <span className="muted"> — {entry.reason}</span>}
            </li>
          ))}
        </ol>
      )}
      <div className="mod-log-actions">
        {hasMore && (
          <button
            type="button"
            className="link-button small"
            onClick={() => void older()}
            disabled={loading}
            data-testid="mod-log-older"
          >
            {loading ? 'Loading…' : 'Older'}
          </button>
        )}
        <button
          type="button"
          className="link-button small"
          onClick={() => setReload((n) => n + 1)}
          data-testid="mod-log-refresh"
        >
          Refresh
        </button>
      </div>
    </details>
  );
}
