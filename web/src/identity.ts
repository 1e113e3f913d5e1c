/**
 * Who the browser is: a user id generated once and kept in localStorage, and the last
 * join form values so a reload lands back in the same room with the same name.
 */

export type Role = 'viewer' | 'moderator' | 'admin';

export const ROLES: readonly Role[] = ['viewer', 'moderator', 'admin'];

export interface JoinForm {
  room: string;
  username: string;
  role: Role;
}

const USER_ID_KEY = 'pchat-demo:user-id';
const FORM_KEY = 'pchat-demo:join';

function randomId(): string {
  if (typeof crypto !== 'undefined' && typeof crypto.randomUUID === 'function') {
    return crypto.randomUUID();
  }
  // crypto.randomUUID needs a secure context (https or localhost); fall back elsewhere.
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The user id of this browser (the token's `sub`), created on first use. */
export function userId(): string {
  let id = localStorage.getItem(USER_ID_KEY);
  if (!id) {
    id = `u-${randomId()}`;
    localStorage.setItem(USER_ID_KEY, id);
  }
  return id;
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function loadJoinForm(): JoinForm {
  const fallback: JoinForm = { room: 'lobby', username: '', role: 'viewer' };
  try {
    const raw = localStorage.getItem(FORM_KEY);
    if (!raw) return fallback;
    const data = JSON.parse(raw) as Partial<JoinForm>;
    return {
      room: typeof data.room === 'string' ? data.room : fallback.room,
      username: typeof data.username === 'string' ? data.username : fallback.username,
      role: isRole(data.role) ? data.role : fallback.role,
    };
  } catch {
    return fallback;
  }
}

export function saveJoinForm(form: JoinForm): void {
  localStorage.setItem(FORM_KEY, JSON.stringify(form));
}

const SESSION_KEY = 'pchat-demo:joined';

/** Whether this tab was in a room when it was reloaded (sessionStorage: per tab). */
export function wasJoined(): boolean {
  return sessionStorage.getItem(SESSION_KEY) === '1';
}

export function setJoined(joined: boolean): void {
  if (joined) sessionStorage.setItem(SESSION_KEY, '1');
  else sessionStorage.removeItem(SESSION_KEY);
}
