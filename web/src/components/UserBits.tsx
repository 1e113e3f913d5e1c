import type { Role } from '../identity';
import type { ChatUser } from '../chat/types';

/** A stable hue per user id, so one person keeps one colour everywhere. */
export function userHue(id: string): number {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0;
  return h % 360;
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? [parts[0], parts[parts.length - 1]] : [name.trim()];
  return letters
    .map((p) => Array.from(p ?? '')[0] ?? '')
    .join('')
    .toUpperCase();
}

export function Avatar({ user }: { user: ChatUser }) {
  return (
    <span
      className="avatar"
      style={{ backgroundColor: `hsl(${userHue(user.id)} 55% 48%)` }}
      title={user.username}
      aria-hidden="true"
    >
      {initials(user.username)}
    </span>
  );
}

export function RoleTag({ role }: { role: Role }) {
  if (role === 'viewer') return null;
  return <span className={`role-tag role-${role}`}>{role === 'admin' ? 'admin' : 'mod'}</span>;
}
