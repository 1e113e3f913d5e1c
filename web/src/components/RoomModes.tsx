import { useState } from 'react';
import type { ChatRoomSettings, RoomMode } from '../chat/types';
import { formatSeconds } from './format';

const SLOW_CHOICES: readonly number[] = [0, 10, 30, 60];

/** Chat delay choices in seconds (the protocol allows 0–60). */
const DELAY_CHOICES: readonly number[] = [0, 5, 10, 30, 60];

export const MODES: readonly { mode: RoomMode; label: string }[] = [
  { mode: 'open', label: 'Open' },
  { mode: 'moderators_only', label: 'Moderators only' },
  { mode: 'reactions_only', label: 'Reactions only' },
];

/** The room's modes in one line: `Open · slow mode 30 s · hold mode · chat delay 10 s`. */
export function settingsSummary(settings: ChatRoomSettings): string {
  const parts = [MODES.find((m) => m.mode === settings.mode)?.label ?? 'Open'];
  parts.push(
    settings.slowMode > 0 ? `slow mode ${formatSeconds(settings.slowMode)}` : 'no slow mode',
  );
  if (settings.uniqueChat) parts.push('unique chat');
  if (settings.maxMessageChars > 0) parts.push(`at most ${settings.maxMessageChars} characters`);
  if (settings.hold) parts.push('hold mode');
  if (settings.delay > 0) parts.push(`chat delay ${formatSeconds(settings.delay)}`);
  return parts.join(' · ');
}

/** `choices`, plus `value` when it is not one of them (set elsewhere: another client, the API). */
function withValue(choices: readonly number[], value: number): readonly number[] {
  return choices.includes(value) ? choices : [...choices, value].sort((a, b) => a - b);
}

interface Props {
  settings: ChatRoomSettings;
  disabled: boolean;
  onSetMode: (changes: Partial<ChatRoomSettings>) => Promise<unknown>;
}

/**
 * The room's modes, shown as the room has them and changed at once: slow mode, who may
 * write, unique chat, hold mode (every viewer message waits for a moderator) and the chat
 * delay (viewers' messages reach other viewers that late).
 */
export function RoomModes({ settings, disabled, onSetMode }: Props) {
  const [busy, setBusy] = useState(false);
  const off = disabled || busy;

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
        data-hold={settings.hold ? 'true' : 'false'}
        data-delay={settings.delay}
        aria-live="polite"
      >
        {settingsSummary(settings)}
      </p>
      <SecondsChoice
        legend="Slow mode"
        name="slow-mode"
        choices={withValue(SLOW_CHOICES, settings.slowMode)}
        value={settings.slowMode}
        disabled={off}
        onChange={(slowMode) => void change({ slowMode })}
      />
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
      <SecondsChoice
        legend="Chat delay"
        name="chat-delay"
        choices={withValue(DELAY_CHOICES, settings.delay)}
        value={settings.delay}
        disabled={off}
        onChange={(delay) => void change({ delay })}
      />
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
      <label className="check">
        <input
          type="checkbox"
          checked={settings.hold}
          disabled={off}
          onChange={(e) => void change({ hold: e.target.checked })}
          data-testid="hold-mode"
        />
        Hold mode (every viewer message waits for a moderator’s approval)
      </label>
    </div>
  );
}

interface ChoiceProps {
  legend: string;
  /** The radio group's name, and the prefix of each choice's test id. */
  name: string;
  choices: readonly number[];
  value: number;
  disabled: boolean;
  onChange: (seconds: number) => void;
}

function SecondsChoice({ legend, name, choices, value, disabled, onChange }: ChoiceProps) {
  return (
    <fieldset className="choices" disabled={disabled}>
      <legend>{legend}</legend>
      {choices.map((seconds) => (
        <label key={seconds} className={value === seconds ? 'on' : ''}>
          <input
            type="radio"
            name={name}
            checked={value === seconds}
            onChange={() => onChange(seconds)}
            data-testid={`${name}-${seconds}`}
          />
          {seconds === 0 ? 'Off' : formatSeconds(seconds)}
        </label>
      ))}
    </fieldset>
  );
}
