import { useState, type KeyboardEvent } from 'react';
import type { ChatMessage, ChatUser } from '../chat/types';

/** What a moderator can do from a message (the chat controller's calls). */
export interface MessageModeration {
  /** Whether this moderator may act on `user` (a lower role, not themselves). */
  canActOn: (user: ChatUser) => boolean;
  /** The id of the pinned message, if a message is pinned. */
  pinnedId: string | null;
  timeout: (user: ChatUser) => Promise<unknown>;
  ban: (user: ChatUser, options: { kick: boolean }) => Promise<unknown>;
  shadowBan: (user: ChatUser) => Promise<unknown>;
  purge: (user: ChatUser) => Promise<unknown>;
  pin: (message: ChatMessage) => Promise<unknown>;
}

/** The moderator's timeout: 10 minutes. */
export const TIMEOUT_SECONDS = 600;

type Destructive = 'timeout' | 'ban' | 'kick' | 'shadow' | 'purge';

const ACTIONS: Record<
  Destructive,
  { label: string; confirm: string; question: (name: string) => string }
> = {
  timeout: {
    label: 'Timeout 10 min',
    confirm: 'Time out',
    question: (name) => `Time out ${name} for 10 minutes? They can read but not write.`,
  },
  ban: {
    label: 'Ban',
    confirm: 'Ban',
    question: (name) => `Ban ${name} from writing in this room until the ban is lifted?`,
  },
  kick: {
    label: 'Ban and remove',
    confirm: 'Ban and remove',
    question: (name) => `Ban ${name} and close their connection to this room?`,
  },
  shadow: {
    label: 'Shadow ban',
    confirm: 'Shadow ban',
    question: (name) =>
      `Shadow-ban ${name}? They can go on writing, but only they and the moderators ` +
      'will see their new messages.',
  },
  purge: {
    label: 'Purge',
    confirm: 'Purge',
    question: (name) => `Delete every message ${name} posted in this room?`,
  },
};

const ORDER: readonly Destructive[] = ['timeout', 'ban', 'kick', 'shadow', 'purge'];

interface Props {
  id: string;
  message: ChatMessage;
  moderation: MessageModeration;
  onDone: () => void;
}

/**
 * A moderator's tools for one message: timeout, ban, ban and remove, shadow ban, purge (each
 * confirmed inline first) and pin. Shown under the message when its "Moderate" button is pressed.
 */
export function ModTools({ id, message, moderation, onDone }: Props) {
  const [confirming, setConfirming] = useState<Destructive | null>(null);
  const [busy, setBusy] = useState(false);
  const user = message.user;
  const actsOnUser = moderation.canActOn(user);
  const pinned = moderation.pinnedId === message.id;

  async function run(action: () => Promise<unknown>) {
    setBusy(true);
    try {
      await action();
      onDone();
    } catch {
      // shown as a notice by the chat controller; the tools stay open
      setConfirming(null);
    } finally {
      setBusy(false);
    }
  }

  function perform(which: Destructive) {
    switch (which) {
      case 'timeout':
        return run(() => moderation.timeout(user));
      case 'ban':
        return run(() => moderation.ban(user, { kick: false }));
      case 'kick':
        return run(() => moderation.ban(user, { kick: true }));
      case 'shadow':
        return run(() => moderation.shadowBan(user));
      case 'purge':
        return run(() => moderation.purge(user));
    }
  }

  function onKeyDown(event: KeyboardEvent<HTMLDivElement>) {
    if (event.key !== 'Escape') return;
    event.stopPropagation();
    if (confirming) setConfirming(null);
    else onDone();
  }

  if (confirming) {
    const action = ACTIONS[confirming];
    return (
      <div
        id={id}
        className="mod-tools confirming"
        role="group"
        aria-label={`Confirm: ${action.label}`}
        data-testid="mod-confirm-box"
        data-action={confirming}
        onKeyDown={onKeyDown}
      >
        <span className="mod-question" data-testid="mod-question">
          {action.question(user.username)}
        </span>
        <button
          type="button"
          className="danger small"
          disabled={busy}
          onClick={() => void perform(confirming)}
          data-testid="mod-confirm"
        >
          {action.confirm}
        </button>
        <button
          type="button"
          className="secondary small"
          disabled={busy}
          onClick={() => setConfirming(null)}
          autoFocus
          data-testid="mod-cancel"
        >
          Cancel
        </button>
      </div>
    );
  }

  return (
    <div
      id={id}
      className="mod-tools"
      role="group"
      aria-label={`Moderate ${user.username}'s message`}
      data-testid="mod-tools"
      onKeyDown={onKeyDown}
    >
      {actsOnUser &&
        ORDER.map((which) => (
          <button
            key={which}
            type="button"
            className={which === 'timeout' ? 'secondary small' : 'secondary small risky'}
            disabled={busy}
            onClick={() => setConfirming(which)}
            data-testid={`mod-${which}`}
          >
            {ACTIONS[which].label}
          </button>
        ))}
      <button
        type="button"
        className="secondary small"
        disabled={busy || pinned}
        onClick={() => void run(() => moderation.pin(message))}
        data-testid="mod-pin"
      >
        {pinned ? 'Pinned' : 'Pin'}
      </button>
    </div>
  );
}
