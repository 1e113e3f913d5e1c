import { useEffect, useState, type FormEvent } from 'react';
import type {
  ChatBan,
  ChatModAction,
  ChatModLogPage,
  ChatRoomSettings,
  RoomMode,
} from '../chat/types';
import { formatCountdown, formatSeconds, formatTime, isoTime } from './format';
import { useNow } from './useNow';

interface Props {
  settings: ChatRoomSettings;
  disabled: boolean;
  /** Display names by user id (from the messages held), for bans and the log. */
  names: ReadonlyMap<string, string>;
  /** Grows with each moderation action of this client: the bans and the log refresh. */
  version: number;
  maxAnnouncementChars: number;
  onSetMode: (changes: Partial<ChatRoomSettings>) => Promise<unknown>;
  onPinAnnouncement: (text: string) => Promise<unknown>;
  onUnban: (userId: string) => Promise<unknown>;
  getBans: () => Promise<ChatBan[]>;
  getModLog: (before?: number) => Promise<ChatModLogPage>;
}

const SLOW_CHOICES: readonly number[] = [0, 10, 30, 60];

const MODES: readonly { mode: RoomMode; label: string }[] = [
  { mode: 'open', label: 'Open' },
  { mode: 'moderators_only', label: 'Moderators only' },
  { mode: 'reactions_only', label: 'Reactions only' },
];

const when = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });

/**
 * The moderators' panel: the room's modes (shown as they are and changed at once), an
 * announcement to pin, the bans in force (each can be lifted) and the moderation log.
 */
export function ModerationPanel(props: Props) {
  const { settings } = props;
  // Folded, the panel leaves the column to the polls (the tools keep their state).
  const [shown, setShown] = useState(true);
  return (
    <section
      className="panel moderation"
      data-testid="moderation-panel"
      aria-labelledby="moderation-title"
    >
      <header className="panel-header">
        <h2 id="moderation-title">Moderation</h2>
        <button
          type="button"
          className="link-button small"
          onClick={() => setShown((v) => !v)}
          aria-expanded={shown}
          aria-controls="moderation-body"
          data-testid="moderation-fold"
        >
          {shown ? 'Hide' : 'Show'}
        </button>
      </header>
      {!shown && (
        <p className="mod-summary folded" data-testid="room-settings-folded">
          {settingsSummary(settings)}
        </p>
      )}
      <div id="moderation-body" hidden={!shown}>
        <ModerationBody {...props} />
      </div>
    </section>
  );
}

function ModerationBody(props: Props) {
  const { settings, disabled } = props;
  return (
    <>
      <RoomModes settings={settings} disabled={disabled} onSetMode={props.onSetMode} />
      <AnnouncementForm
        disabled={disabled}
        maxLength={props.maxAnnouncementChars}
        onPin={props.onPinAnnouncement}
      />
      <BanList
        names={props.names}
        version={props.version}
        disabled={disabled}
        getBans={props.getBans}
        onUnban={props.onUnban}
      />
      <ModLog names={props.names} version={props.version} getModLog={props.getModLog} />
    </>
  );
}

// -- room modes -------------------------------------------------------------------------

function settingsSummary(settings: ChatRoomSettings): string {
  const parts = [MODES.find((m) => m.mode === settings.mode)?.label ?? 'Open'];
  parts.push(
    settings.slowMode > 0 ? `slow mode ${formatSeconds(settings.slowMode)}` : 'no slow mode',
  );
  if (settings.uniqueChat) parts.push('unique chat');
  if (settings.maxMessageChars > 0) parts.push(`at most ${settings.maxMessageChars} characters`);
  return parts.join(' · ');
}

interface ModesProps {
  settings: ChatRoomSettings;
  disabled: boolean;
  onSetMode: Props['onSetMode'];
}

function RoomModes({ settings, disabled, onSetMode }: ModesProps) {
  const [busy, setBusy] = useState(false);
  const off = disabled || busy;
  // A value set elsewhere (another client, the API) is shown as a choice of its own.
  const slowChoices = SLOW_CHOICES.includes(settings.slowMode)
    ? SLOW_CHOICES
    : [...SLOW_CHOICES, settings.slowMode];

  async function change(changes: Partial<ChatRoomSettings>) {
    setBusy(true);
    try {
      await onSetMode(changes);
    } catch {
      // shown as a notice by the chat controller; the controls show the room's settings
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="mod-section" data-testid="room-modes">
      <p
        className="mod-summary"
        data-testid="room-settings"
        data-slow-mode={settings.slowMode}
        data-unique-chat={settings.uniqueChat ? 'true' : 'false'}
        data-mode={settings.mode}
        aria-live="polite"
      >
        {settingsSummary(settings)}
      </p>
      <fieldset className="choices" disabled={off}>
        <legend>Slow mode</legend>
        {slowChoices.map((seconds) => (
          <label key={seconds} className={settings.slowMode === seconds ? 'on' : ''}>
            <input
              type="radio"
              name="slow-mode"
              checked={settings.slowMode === seconds}
              onChange={() => void change({ slowMode: seconds })}
              data-testid={`slow-mode-${seconds}`}
            />
            {seconds === 0 ? 'Off' : formatSeconds(seconds)}
          </label>
        ))}
      </fieldset>
      <fieldset className="choices" disabled={off}>
        <legend>Who may write</legend>
        {MODES.map(({ mode, label }) => (
          <label key={mode} className={settings.mode === mode ? 'on' : ''}>
            <input
              type="radio"
              name="room-mode"
              checked={settings.mode === mode}
              onChange={() => void change({ mode })}
              data-testid={`room-mode-${mode}`}
            />
            {label}
          </label>
        ))}
      </fieldset>
      <label className="check">
        <input
          type="checkbox"
          checked={settings.uniqueChat}
          disabled={off}
          onChange={(e) => void change({ uniqueChat: e.target.checked })}
          data-testid="unique-chat"
        />
        Unique chat (viewers cannot repeat a recent message)
      </label>
    </div>
  );
}

// -- announcement -------------------------------------------------------------------------

interface AnnouncementProps {
  disabled: boolean;
  maxLength: number;
  onPin: (text: string) => Promise<unknown>;
}

function AnnouncementForm({ disabled, maxLength, onPin }: AnnouncementProps) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const trimmed = text.trim();

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!trimmed || busy) return;
    setBusy(true);
    try {
      await onPin(trimmed);
      setText('');
    } catch {
      // shown as a notice; keep the text
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="mod-section announcement" onSubmit={submit} data-testid="announcement-form">
      <label className="field">
        <span>Pin an announcement</span>
        <span className="inline-form">
          <input
            value={text}
            onChange={(e) => setText(e.target.value)}
            maxLength={maxLength}
            placeholder="Doors open at 8 pm"
            data-testid="announcement-input"
          />
          <button
            type="submit"
            className="primary small"
            disabled={disabled || busy || !trimmed}
            data-testid="announcement-pin"
          >
            Pin
          </button>
        </span>
      </label>
    </form>
  );
}

// -- bans ------------------------------------------------------------------------------

interface BanListProps {
  names: ReadonlyMap<string, string>;
  version: number;
  disabled: boolean;
  getBans: () => Promise<ChatBan[]>;
  onUnban: (userId: string) => Promise<unknown>;
}

function BanList({ names, version, disabled, getBans, onUnban }: BanListProps) {
  const [open, setOpen] = useState(false);
  const [bans, setBans] = useState<ChatBan[] | null>(null);
  const [reload, setReload] = useState(0);

  // Fetched when opened, after each moderation action of this client, and on request
  // (the server pushes bans only to the banned user).
  useEffect(() => {
    if (!open) return;
    let current = true;
    getBans().then(
      (list) => current && setBans(list),
      () => undefined,
    );
    return () => {
      current = false;
    };
  }, [open, version, reload, getBans]);

  return (
    <details
      className="mod-section"
      onToggle={(e) => setOpen(e.currentTarget.open)}
      data-testid="bans"
    >
      <summary>Bans and timeouts{bans && open ? ` (${bans.length})` : ''}</summary>
      {bans === null ? (
        <p className="muted small">Loading…</p>
      ) : bans.length === 0 ? (
        <p className="muted small" data-testid="bans-empty">
          Nobody is banned.
        </p>
      ) : (
        <ul className="mod-list">
          {bans.map((ban) => (
            <BanRow
              key={ban.userId}
              ban={ban}
              name={names.get(ban.userId) ?? ban.userId}
              disabled={disabled}
              onUnban={onUnban}
            />
          ))}
        </ul>
      )}
      <button
        type="button"
        className="link-button small"
        onClick={() => setReload((n) => n + 1)}
        data-testid="bans-refresh"
      >
        Refresh
      </button>
    </details>
  );
}

interface BanRowProps {
  ban: ChatBan;
  name: string;
  disabled: boolean;
  onUnban: (userId: string) => Promise<unknown>;
}

function BanRow({ ban, name, disabled, onUnban }: BanRowProps) {
  const now = useNow(ban.until);
  const [busy, setBusy] = useState(false);
  const ended = ban.until !== null && ban.until <= now;

  async function lift() {
    setBusy(true);
    try {
      await onUnban(ban.userId);
    } catch {
      // shown as a notice
    } finally {
      setBusy(false);
    }
  }

  return (
    <li className="mod-item" data-testid="ban" data-user-id={ban.userId}>
      <span className="mod-item-main">
        <strong>{name}</strong>{' '}
        <span className="muted">
          {ban.until === null
            ? 'banned until lifted'
            : ended
              ? 'timeout over'
              : `timed out, ${formatCountdown(ban.until - now)} left`}
        </span>
        {ban.reason && <span className="muted small"> — {ban.reason}</span>}
      </span>
      {!ended && (
        <button
          type="button"
          className="secondary small"
          disabled={disabled || busy}
          onClick={() => void lift()}
          data-testid="ban-lift"
          aria-label={`Lift the ban on ${name}`}
        >
          Lift
        </button>
      )}
    </li>
  );
}

// -- moderation log ------------------------------------------------------------------------

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
      return `set ${changes.join(', ') || 'the room modes'}`;
    }
    case 'pin':
      return typeof d.text === 'string'
        ? `pinned an announcement: “${d.text}”`
        : 'pinned a message';
    case 'unpin':
      return 'removed the pin';
    default:
      return entry.action;
  }
}

interface LogProps {
  names: ReadonlyMap<string, string>;
  version: number;
  getModLog: (before?: number) => Promise<ChatModLogPage>;
}

function ModLog({ names, version, getModLog }: LogProps) {
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
