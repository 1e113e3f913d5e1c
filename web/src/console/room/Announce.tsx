import { useState, type FormEvent } from 'react';

/** Post a message to the room as the system user (the server API's publish). */
export function Announce({ onPost }: { onPost: (text: string) => Promise<unknown> }) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  async function submit(event: FormEvent) {
    event.preventDefault();
    const value = text.trim();
    if (!value) return;
    setBusy(true);
    try {
      await onPost(value);
      setText('');
    } catch {
      // reported by the room page; the text stays
    } finally {
      setBusy(false);
    }
  }
  return (
    <form className="console-inline" onSubmit={submit}>
      <input
        placeholder="Post to the room as System"
        value={text}
        maxLength={2000}
        onChange={(e) => setText(e.target.value)}
        data-testid="announce-input"
      />
      <button
        className="secondary"
        type="submit"
        disabled={busy || !text.trim()}
        data-testid="announce-post"
      >
        Post
      </button>
    </form>
  );
}
