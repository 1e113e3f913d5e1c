import { useEffect, useState, type FormEvent } from 'react';
import type { ChatBan, ChatModLogPage, ChatRoomSettings } from '../chat/types';
import { formatCountdown } from './format';
import { ModLog } from './ModLog';
import { RoomModes, settingsSummary } from './RoomModes';
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

/** What a ban in force does, as the bans list says it. */
function banText(ban: ChatBan, ended: boolean, now: number): string {
  const what = ban.shadow ? 'shadow-banned' : ban.until === null ? 'banned' : 'timed out';
  if (ban.until === null) return `${what} until lifted`;
  if (ended) return ban.shadow ? 'shadow ban over' : 'timeout over';
  return `${what}, ${formatCountdown(ban.until - now)} left`;
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
    <li
      className="mod-item"
      data-testid="ban"
      data-user-id={ban.userId}
      data-shadow={ban.shadow ? 'true' : 'false'}
    >
      <span className="mod-item-main">
        <strong>{name}</strong>{' '}
        <span className="muted">
          {banText(ban, ended, now)}
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
