// useLoad: fetch on mount and whenever the key changes; the newest request wins.
import { useEffect, useState } from 'preact/hooks';

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
}

export function useLoad<T>(key: string, fn: () => Promise<T>, refreshMs?: number): Loaded<T> {
  const [s, setS] = useState<Loaded<T>>({ data: null, error: null, loading: true });
  useEffect(() => {
    let live = true;
    const run = (first: boolean): void => {
      if (first) setS((o) => ({ ...o, loading: true, error: null }));
      fn().then((data) => live && setS({ data, error: null, loading: false }),
        (e: Error) => live && setS((o) => ({ data: first ? null : o.data, error: e.message, loading: false })));
    };
    run(true);
    const t = refreshMs ? setInterval(() => run(false), refreshMs) : undefined;
    return () => { live = false; if (t) clearInterval(t); };
  }, [key]);
  return s;
}
