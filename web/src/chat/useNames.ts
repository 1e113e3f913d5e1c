import { useMemo, useRef } from 'react';
import type { ChatUser } from './types';

/**
 * Display names by user id, of every user seen in this session (bans, the log and the
 * muted list carry ids; a muted or purged user's messages are no longer in the list, so
 * names are kept once seen). The newest name of a user wins.
 */
export function useNames(users: readonly ChatUser[]): ReadonlyMap<string, string> {
  const known = useRef(new Map<string, string>());
  return useMemo(() => {
    let changed = false;
    for (const user of users) {
      if (known.current.get(user.id) !== user.username) {
        known.current.set(user.id, user.username);
        changed = true;
      }
    }
    if (changed) known.current = new Map(known.current);
    return known.current;
  }, [users]);
}
