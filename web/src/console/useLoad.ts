import { useCallback, useEffect, useRef, useState } from 'react';
import { errorText } from '../chat/adapt';

export interface Loaded<T> {
  readonly data: T | null;
  readonly error: string | null;
  /** Load again now (an operator's action: it counts as use of the session). */
  reload(): void;
}

/**
 * Data from the server: loaded once, again on `reload()`, and every `everyMs` in the
 * background (calls that do not keep the session alive, so an open page still idles out).
 */
export function useLoad<T>(
  load: (background: boolean) => Promise<T>,
  everyMs: number | null = null,
): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const loadRef = useRef(load);
  loadRef.current = load;
  const generation = useRef(0);

  const run = useCallback((background: boolean) => {
    const mine = ++generation.current;
    loadRef.current(background).then(
      (value) => {
        if (mine !== generation.current) return;
        setData(value);
        setError(null);
      },
      (e: unknown) => {
        if (mine === generation.current) setError(errorText(e));
      },
    );
  }, []);

  useEffect(() => {
    run(false);
    if (everyMs === null) return;
    const timer = setInterval(() => run(true), everyMs);
    return () => {
      clearInterval(timer);
      generation.current++;
    };
  }, [run, everyMs]);

  const reload = useCallback(() => run(false), [run]);
  return { data, error, reload };
}
