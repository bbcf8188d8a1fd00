// Hash routes: #/<page>/<segment>/...?<query>. Each segment is URI-encoded on its own,
// so refs and paths with slashes survive as single values where needed.
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  page: string;
  parts: string[];
  query: URLSearchParams;
}

export function parse(hash: string): Route {
  const h = hash.replace(/^#\/?/, '');
  const [p, q = ''] = h.split('?', 2) as [string, string?];
  const segs = p.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
  return { page: segs[0] ?? 'versions', parts: segs.slice(1), query: new URLSearchParams(q) };
}

export function href(page: string, parts: string[] = [], query: Record<string, string | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return `#/${[page, ...parts.map(encodeURIComponent)].join('/')}${s ? `?${s}` : ''}`;
}

/** A ref then a path (which may hold slashes): #/tree/<ref>/<a>/<b>. */
export const refPath = (parts: string[]): { ref: string; path: string } => ({ ref: parts[0] ?? 'HEAD', path: parts.slice(1).join('/') });
export const treeHref = (ref: string, path: string): string => href('tree', [ref, ...path.split('/').filter(Boolean)]);
export const fileHref = (ref: string, path: string): string => href('file', [ref, ...path.split('/').filter(Boolean)]);

export function useRoute(): Route {
  const [r, setR] = useState(() => parse(location.hash));
  useEffect(() => {
    const on = (): void => setR(parse(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return r;
}
