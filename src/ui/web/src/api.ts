// The page's client of /ui/api: JSON GETs with the session cookie, one event when the
// server says the session is missing (the app then shows the login form).
export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const listeners = new Set<() => void>();
export const onUnauthorized = (f: () => void): (() => void) => {
  listeners.add(f);
  return () => listeners.delete(f);
};

export function apiUrl(route: string, params: Record<string, string | number | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return `/ui/api/${route}${s ? `?${s}` : ''}`;
}

async function check(r: Response): Promise<Response> {
  if (r.ok) return r;
  let msg = `${r.status} ${r.statusText}`;
  try {
    msg = ((await r.json()) as { error?: string }).error ?? msg;
  } catch {
    // not JSON
  }
  if (r.status === 401) listeners.forEach((f) => f());
  throw new HttpError(r.status, msg);
}

export async function get<T>(route: string, params: Record<string, string | number | undefined> = {}): Promise<T> {
  const r = await check(await fetch(apiUrl(route, params), { credentials: 'same-origin' }));
  return (await r.json()) as T;
}

export async function getText(route: string, params: Record<string, string | number | undefined> = {}): Promise<string> {
  return (await check(await fetch(apiUrl(route, params), { credentials: 'same-origin' }))).text();
}

export async function post<T>(route: string, body: unknown): Promise<T> {
  const r = await check(await fetch(apiUrl(route), {
    method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  }));
  return (await r.json()) as T;
}

export interface Page<T> {
  items: T[];
  offset: number;
  limit: number;
  total: number;
}

export const short = (id: string | null | undefined): string => (id ? id.slice(0, 10) : '');

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${u[i]}`;
}

export function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}
