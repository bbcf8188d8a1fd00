// A diff between two refs: per-file changes with sizes, filtered and paged on the
// server; a CSV/TSV file of up to 1 MiB opens a row-level diff.
import { useState } from 'preact/hooks';
import { bytes, get, short, type Page } from '../api';
import { useLoad } from '../load';
import { Box, Pager } from '../parts/common';
import { fileHref, href } from '../route';

interface Change { path: string; status: 'added' | 'modified' | 'deleted'; oldSize: number | null; newSize: number | null; rowDiff: boolean }
interface DiffDoc extends Page<Change> { a: { ref: string; commit: string }; b: { ref: string; commit: string }; counts: Record<string, number> }
interface RowsDoc extends Page<{ op: ' ' | '+' | '-'; cells: string[] }> { counts: { added: number; deleted: number; same: number } }

export function DiffPage(p: { a?: string; b?: string; file?: string }) {
  const [a, setA] = useState(p.a ?? 'HEAD~1');
  const [b, setB] = useState(p.b ?? 'HEAD');
  const go = (e: Event): void => { e.preventDefault(); location.hash = href('diff', [], { a, b }); };
  return (
    <>
      <h2>Diff</h2>
      <form class="toolbar" onSubmit={go}>
        <label>from <input value={a} data-testid="diff-a" onInput={(e) => setA((e.target as HTMLInputElement).value)} /></label>
        <label>to <input value={b} data-testid="diff-b" onInput={(e) => setB((e.target as HTMLInputElement).value)} /></label>
        <button type="submit">compare</button>
      </form>
      {p.a && p.b ? (p.file ? <RowDiff a={p.a} b={p.b} path={p.file} /> : <Changes key={`${p.a}..${p.b}`} a={p.a} b={p.b} />) : <p class="muted">Pick two refs (branch, tag, commit id, HEAD~N).</p>}
    </>
  );
}

function Changes(p: { a: string; b: string }) {
  const [offset, setOffset] = useState(0);
  const [filter, setFilter] = useState('');
  const [status, setStatus] = useState('');
  const d = useLoad(`${offset}?${filter}&${status}`, () => get<DiffDoc>('diff', { a: p.a, b: p.b, offset, limit: 200, q: filter, status }));
  return (
    <Box error={d.error} loading={d.loading && !d.data}>
      {d.data ? (
        <>
          <p data-testid="diff-summary">
            <code>{short(d.data.a.commit)}</code> → <code>{short(d.data.b.commit)}</code>:{' '}
            <span class="add">{d.data.counts.added} added</span>, <span class="mod">{d.data.counts.modified} modified</span>, <span class="del">{d.data.counts.deleted} deleted</span>
          </p>
          <div class="toolbar">
            <input placeholder="filter paths" value={filter} data-testid="diff-filter" onInput={(e) => { setFilter((e.target as HTMLInputElement).value); setOffset(0); }} />
            <select value={status} data-testid="diff-status" onChange={(e) => { setStatus((e.target as HTMLSelectElement).value); setOffset(0); }}>
              <option value="">all changes</option><option value="added">added</option><option value="modified">modified</option><option value="deleted">deleted</option>
            </select>
          </div>
          <table class="grid" data-testid="diff">
            <thead><tr><th>status</th><th>path</th><th class="num">old size</th><th class="num">new size</th><th /></tr></thead>
            <tbody>
              {d.data.items.map((c) => (
                <tr key={c.path} class={`st-${c.status}`}>
                  <td><span class={`badge s-${c.status}`}>{c.status}</span></td>
                  <td><a href={fileHref(c.status === 'deleted' ? d.data!.a.ref : d.data!.b.ref, c.path)}>{c.path}</a></td>
                  <td class="num">{bytes(c.oldSize)}</td><td class="num">{bytes(c.newSize)}</td>
                  <td>{c.rowDiff ? <a href={href('diff', [], { a: p.a, b: p.b, file: c.path })}>rows</a> : null}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager offset={offset} limit={200} total={d.data.total} onGo={setOffset} />
        </>
      ) : null}
    </Box>
  );
}

function RowDiff(p: { a: string; b: string; path: string }) {
  const [offset, setOffset] = useState(0);
  const d = useLoad(`${p.path}@${offset}`, () => get<RowsDoc>('diff/rows', { a: p.a, b: p.b, path: p.path, offset, limit: 500 }));
  return (
    <Box error={d.error} loading={d.loading && !d.data}>
      <p><a href={href('diff', [], { a: p.a, b: p.b })}>← all changes</a> · rows of <b>{p.path}</b>
        {d.data ? <> : <span class="add">+{d.data.counts.added}</span> <span class="del">-{d.data.counts.deleted}</span> ({d.data.counts.same} unchanged)</> : null}</p>
      <div class="scrollx">
        <table class="grid rowdiff" data-testid="row-diff">
          <tbody>
            {d.data?.items.map((r, i) => (
              <tr key={i} class={r.op === '+' ? 'r-add' : r.op === '-' ? 'r-del' : ''}><td class="op">{r.op}</td>{r.cells.map((c, j) => <td key={j}>{c}</td>)}</tr>
            ))}
          </tbody>
        </table>
      </div>
      {d.data ? <Pager offset={offset} limit={500} total={d.data.total} onGo={setOffset} /> : null}
    </Box>
  );
}
