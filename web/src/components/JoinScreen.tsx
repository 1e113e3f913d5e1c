import { useState, type FormEvent } from 'react';
import { ROLES, type JoinForm, type Role } from '../identity';

interface Props {
  initial: JoinForm;
  userId: string;
  busy: boolean;
  error: string | null;
  onJoin: (form: JoinForm) => void;
}

const ROLE_HINTS: Record<Role, string> = {
  viewer: 'Chat, react and vote',
  moderator: 'Also delete any message and run polls',
  admin: 'Everything a moderator can do',
};

// The server's rules (docs/protocol.md §3), checked here only to help; the server decides.
const ROOM_PATTERN = /^[A-Za-z0-9_\-:.]{1,64}$/;

export function JoinScreen({ initial, userId, busy, error, onJoin }: Props) {
  const [room, setRoom] = useState(initial.room);
  const [username, setUsername] = useState(initial.username);
  const [role, setRole] = useState<Role>(initial.role);

  const roomValid = ROOM_PATTERN.test(room);
  const name = username.trim().replace(/\s+/g, ' ');
  const canJoin = !busy && roomValid && name.length > 0 && name.length <= 32;

  function submit(event: FormEvent) {
    event.preventDefault();
    if (canJoin) onJoin({ room, username: name, role });
  }

  return (
    <main className="join">
      <form className="join-card" onSubmit={submit} data-testid="join-form">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true" />
          <div>
            <h1>pchat</h1>
            <p className="muted">Public chat for live events</p>
          </div>
        </div>

        <label className="field">
          <span>Room</span>
          <input
            data-testid="join-room"
            value={room}
            onChange={(e) => setRoom(e.target.value)}
            placeholder="lobby"
            maxLength={64}
            autoComplete="off"
            spellCheck={false}
            aria-invalid={!roomValid}
          />
          {!roomValid && room.length > 0 && (
            <small className="field-error">Letters, digits and _ - : . only</small>
          )}
        </label>

        <label className="field">
          <span>Your name</span>
          <input
            data-testid="join-username"
            value={username}
            onChange={(e) => setUsername(e.target.value)}
            placeholder="e.g. Ann"
            maxLength={32}
            autoComplete="nickname"
            autoFocus
          />
        </label>

        <fieldset className="field">
          <legend>Role</legend>
          <div className="segmented" role="radiogroup" data-testid="join-role">
            {ROLES.map((r) => (
              <label key={r} className={r === role ? 'segment active' : 'segment'}>
                <input
                  type="radio"
                  name="role"
                  value={r}
                  checked={r === role}
                  onChange={() => setRole(r)}
                  data-testid={`join-role-${r}`}
                />
                {r}
              </label>
            ))}
          </div>
          <small className="muted">{ROLE_HINTS[role]}</small>
        </fieldset>

        {error && (
          <p className="join-error" role="alert" data-testid="join-error">
            {error}
          </p>
        )}

        <button className="primary wide" type="submit" disabled={!canJoin} data-testid="join-submit">
          {busy ? 'Joining…' : 'Join room'}
        </button>

        <p className="muted small user-id">
          Your user id: <code data-testid="join-user-id">{userId}</code>
        </p>
      </form>
    </main>
  );
}
