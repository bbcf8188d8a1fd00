// Small shared pieces: a pager over {offset, limit, total}, status badges, errors.
import type { ComponentChildren } from 'preact';

export function Pager(p: { offset: number; limit: number; total?: number; more?: boolean; shown?: number; onGo: (offset: number) => void }) {
  const end = p.total === undefined ? p.offset + (p.shown ?? p.limit) : Math.min(p.total, p.offset + p.limit);
  const hasNext = p.total === undefined ? !!p.more : end < p.total;
  return (
    <div class="pager">
      <button disabled={p.offset === 0} onClick={() => p.onGo(Math.max(0, p.offset - p.limit))}>‹ prev</button>
      <span>{p.total === 0 || end === p.offset ? 'none' : `${p.offset + 1}–${end}${p.total !== undefined ? ` of ${p.total.toLocaleString()}` : ''}`}</span>
      <button disabled={!hasNext} onClick={() => p.onGo(p.offset + p.limit)}>next ›</button>
    </div>
  );
}

export const Badge = (p: { s: string }) => <span class={`badge s-${p.s}`}>{p.s}</span>;

export function Box(p: { error?: string | null; loading?: boolean; children?: ComponentChildren }) {
  if (p.error) return <p class="error" role="alert">{p.error}</p>;
  if (p.loading) return <p class="muted">loading…</p>;
  return <>{p.children}</>;
}

export function Copy(p: { text: string }) {
  return <code class="copy" title="click to copy" onClick={() => void navigator.clipboard?.writeText(p.text)}>{p.text}</code>;
}

/** The identity and access key a commit records (runs, proxy writes), or a dash. */
export function Who(p: { w: { identity: string | null; key: string | null } | null | undefined }) {
  if (!p.w || (!p.w.identity && !p.w.key)) return <span class="muted">–</span>;
  return <>{p.w.identity ? <span>{p.w.identity}</span> : null}{p.w.key ? <> <code class="muted">{p.w.key}</code></> : null}</>;
}
