import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';

interface Props {
  disabled: boolean;
  maxLength: number;
  /** Shown in the empty field; by default it says whether the connection is up. */
  placeholder?: string;
  /** Resolves when the server stored the message; rejects with its error. */
  onSend: (text: string) => Promise<unknown>;
  /** The field takes the focus whenever this changes to a value (a reply was started). */
  focusKey?: string | null;
  /** Escape in the field (cancels a reply). */
  onEscape?: () => void;
}

export function Composer(props: Props) {
  const { disabled, maxLength, placeholder, onSend, focusKey, onEscape } = props;
  const [text, setText] = useState('');
  const field = useRef<HTMLTextAreaElement>(null);
  const [sending, setSending] = useState(false);
  const trimmed = text.trim();
  const tooLong = text.length > maxLength;
  const canSend = !disabled && !sending && trimmed.length > 0 && !tooLong;

  useEffect(() => {
    if (focusKey) field.current?.focus();
  }, [focusKey]);

  async function send(event?: FormEvent) {
    event?.preventDefault();
    if (!canSend) return;
    setSending(true);
    try {
      await onSend(trimmed);
      setText('');
    } catch {
      // The error is shown as a notice; keep the text so it can be sent again.
    } finally {
      setSending(false);
    }
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key === 'Escape' && onEscape) {
      event.preventDefault();
      onEscape();
    } else if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      void send();
    }
  }

  return (
    <form className="composer" onSubmit={send} data-testid="composer">
      <textarea
        ref={field}
        data-testid="composer-input"
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
        placeholder={
          placeholder ?? (disabled ? 'Waiting for the connection…' : 'Write a message…')
        }
        rows={1}
        aria-label="Message"
      />
      {text.length > maxLength * 0.8 && (
        <span className={tooLong ? 'counter over' : 'counter'}>
          {text.length}/{maxLength}
        </span>
      )}
      <button className="primary" type="submit" disabled={!canSend} data-testid="composer-send">
        Send
      </button>
    </form>
  );
}
