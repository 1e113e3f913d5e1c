import { useEffect, useRef, useState } from 'react';
import { ChatRoom } from './components/ChatRoom';
import { JoinScreen } from './components/JoinScreen';
import type { ChatSession } from './chat/useChat';
import { loadJoinForm, saveJoinForm, setJoined, userId, wasJoined, type JoinForm } from './identity';
import { fetchDemoToken } from './token';

export function App() {
  const [id] = useState(userId);
  const [form, setForm] = useState(loadJoinForm);
  const [session, setSession] = useState<ChatSession | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function join(values: JoinForm) {
    setBusy(true);
    setError(null);
    setForm(values);
    saveJoinForm(values);
    try {
      const token = await fetchDemoToken(id, values.role);
      setJoined(true);
      setSession({ ...values, userId: id, token });
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  // A reload while in a room goes back into it (once, even when StrictMode runs effects twice).
  const rejoined = useRef(false);
  useEffect(() => {
    if (rejoined.current) return;
    rejoined.current = true;
    const saved = loadJoinForm();
    if (wasJoined() && saved.username) void join(saved);
  }, []);

  function leave(message: string | null) {
    setJoined(false);
    setSession(null);
    setError(message);
  }

  if (session) {
    return (
      <ChatRoom
        key={`${session.room}/${session.username}/${session.role}/${session.token}`}
        session={session}
        onLeave={() => leave(null)}
        onRejoin={() => void join(form)}
        onFatal={(message) => leave(message)}
      />
    );
  }
  return <JoinScreen initial={form} userId={id} busy={busy} error={error} onJoin={join} />;
}
