import { useEffect, useState } from 'react';

/**
 * The current time in ms for a live countdown to `until`: updated each time the whole
 * seconds left change (and once when `until` passes); no timer runs without a `until` or
 * after it.
 */
export function useNow(until: number | null): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (until === null) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = () => {
      const t = Date.now();
      setNow(t);
      const left = until - t;
      if (left <= 0) return;
      // The shown seconds are rounded up: they change when `left` crosses a whole second.
      timer = setTimeout(tick, left % 1000 || 1000);
    };
    tick();
    return () => clearTimeout(timer);
  }, [until]);
  return now;
}
