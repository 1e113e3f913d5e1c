import type { ReactNode } from 'react';
import type { ChatBan, ChatMessage, ChatRoomSettings } from '../chat/types';
import { Composer } from './Composer';
import { formatCountdown, formatSeconds } from './format';
import { ReplyBar } from './Replies';
import { useNow } from './useNow';

interface Props {
  connected: boolean;
  /** Moderators and admins: room modes do not act on them. */
  exempt: boolean;
  settings: ChatRoomSettings;
  myBan: ChatBan | null;
  /** Until when (ms) slow mode or a rate limit holds the next message. */
  heldUntil: number | null;
  /** A moderator closed this user's connection (close 4506). */
  removed: boolean;
  maxLength: number;
  onSend: (text: string) => Promise<unknown>;
  /** The message the next one answers (the Reply action); null: not a reply. */
  replyingTo: ChatMessage | null;
  onCancelReply: () => void;
}

/** Whether the composer is shown (see {@link WriteArea}): the user may write now. */
export function mayWrite(props: {
  exempt: boolean;
  settings: ChatRoomSettings;
  myBan: ChatBan | null;
  removed: boolean;
}): boolean {
  if (props.removed || props.myBan) return false;
  return props.exempt || props.settings.mode === 'open';
}

/**
 * Where a user writes: the composer, or, when the user may not write, a notice saying why
 * and until when (removed by a moderator, timed out or banned, moderators-only or
 * reactions-only mode); in slow mode a hint and, after a message, a countdown to the next;
 * in hold mode or with a chat delay a hint that others see the messages later (the messages
 * themselves wait in the list as pending: PendingMessages);
 * while a reply is being written, the "Replying to" bar above the composer.
 */
export function WriteArea(props: Props) {
  const { connected, exempt, settings, myBan, heldUntil, removed, maxLength, onSend } = props;
  const { replyingTo, onCancelReply } = props;

  if (removed) {
    return (
      <WriteNotice testId="removed-notice" kind="removed">
        A moderator removed you from this room. You can still read it after rejoining, but
        you cannot write.
      </WriteNotice>
    );
  }
  if (myBan) return <BanNotice ban={myBan} />;
  if (!exempt && settings.mode === 'moderators_only') {
    return (
      <WriteNotice testId="mode-notice" kind="moderators_only">
        Only moderators can write now.
      </WriteNotice>
    );
  }
  if (!exempt && settings.mode === 'reactions_only') {
    return (
      <WriteNotice testId="mode-notice" kind="reactions_only">
        Reactions only: the chat is paused, but you can still react above.
      </WriteNotice>
    );
  }
  return (
    <SlowComposer
      connected={connected}
      slowMode={exempt ? 0 : settings.slowMode}
      heldUntil={heldUntil}
      maxLength={maxLength}
      onSend={onSend}
      modeStatus={exempt ? modeStatus(settings) : null}
      holdHint={exempt ? null : holdHint(settings)}
      replyingTo={replyingTo}
      onCancelReply={onCancelReply}
    />
  );
}

/** What the room's modes do to viewers, for a moderator (who is exempt); null: nothing. */
function modeStatus(settings: ChatRoomSettings): string | null {
  const parts: string[] = [];
  if (settings.mode === 'moderators_only') parts.push('only moderators can write');
  if (settings.mode === 'reactions_only') parts.push('viewers can only react');
  if (settings.slowMode > 0) parts.push(`slow mode ${formatSeconds(settings.slowMode)}`);
  if (settings.uniqueChat) parts.push('unique chat');
  if (settings.hold) parts.push('hold mode');
  if (settings.delay > 0) parts.push(`chat delay ${formatSeconds(settings.delay)}`);
  if (parts.length === 0) return null;
  return `For viewers: ${parts.join(' · ')} (moderators are exempt).`;
}

/** What hold mode and the chat delay do to this viewer's messages; null: neither is on. */
function holdHint(settings: ChatRoomSettings): string | null {
  if (settings.hold) return 'Hold mode: a moderator reviews each message before others see it.';
  if (settings.delay > 0) {
    return `Chat delay: others see your messages ${formatSeconds(settings.delay)} later.`;
  }
  return null;
}

interface SlowProps {
  connected: boolean;
  /** Seconds between two messages of this user; 0: no slow mode. */
  slowMode: number;
  heldUntil: number | null;
  maxLength: number;
  modeStatus: string | null;
  holdHint: string | null;
  onSend: (text: string) => Promise<unknown>;
  replyingTo: ChatMessage | null;
  onCancelReply: () => void;
}

function SlowComposer(props: SlowProps) {
  const { connected, slowMode, heldUntil, maxLength, modeStatus, holdHint, onSend } = props;
  const { replyingTo, onCancelReply } = props;
  const now = useNow(heldUntil);
  const left = heldUntil === null ? 0 : heldUntil - now;
  const held = left > 0;
  return (
    <div className="write-area">
      {(slowMode > 0 || held) && (
        <p className="write-hint" data-testid="slow-mode-hint" data-slow-mode={slowMode}>
          {slowMode > 0 && <span>Slow mode: one message every {formatSeconds(slowMode)}</span>}
          {held && (
            <span className="wait" data-testid="send-wait">
              You can write again in {formatCountdown(left)}
            </span>
          )}
        </p>
      )}
      {holdHint && (
        <p className="write-hint" data-testid="hold-hint">
          {holdHint}
        </p>
      )}
      {modeStatus && (
        <p className="write-hint" data-testid="mode-status">
          {modeStatus}
        </p>
      )}
      {replyingTo && <ReplyBar message={replyingTo} onCancel={onCancelReply} />}
      <Composer
        disabled={!connected || held}
        maxLength={maxLength}
        placeholder={held ? `Wait ${formatCountdown(left)} to send…` : undefined}
        onSend={onSend}
        focusKey={replyingTo?.id ?? null}
        onEscape={replyingTo ? onCancelReply : undefined}
      />
    </div>
  );
}

function BanNotice({ ban }: { ban: ChatBan }) {
  const now = useNow(ban.until);
  if (ban.until === null) {
    return (
      <WriteNotice testId="ban-notice" kind="ban" reason={ban.reason}>
        You are banned from writing in this room.
      </WriteNotice>
    );
  }
  return (
    <WriteNotice testId="ban-notice" kind="timeout" reason={ban.reason}>
      You are timed out for{' '}
      <span className="countdown" data-testid="ban-countdown" aria-live="off">
        {formatCountdown(ban.until - now)}
      </span>
    </WriteNotice>
  );
}

interface NoticeProps {
  testId: string;
  kind: string;
  reason?: string;
  children: ReactNode;
}

function WriteNotice({ testId, kind, reason, children }: NoticeProps) {
  return (
    <div className={`write-notice write-notice-${kind}`} data-testid={testId} data-kind={kind}>
      <p role="status">{children}</p>
      {reason ? (
        <p className="muted small" data-testid="ban-reason">
          Reason: {reason}
        </p>
      ) : null}
    </div>
  );
}
