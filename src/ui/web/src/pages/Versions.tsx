// Versions: branches and tags, and the history of one of them (all parents, so
// merges show in the graph), one page of commits at a time.
import { useState } from 'preact/hooks';
import { get, short } from '../api';
import { useLoad } from '../load';
import { Graph } from '../parts/Graph';
import { Box, Pager, Who } from '../parts/common';
import { href, treeHref } from '../route';

interface RefsDoc { head: string | null; branches: { name: string; commit: string; current?: boolean }[]; tags: { name: string; commit: string }[] }
interface LogItem {
  id: string; parents: string[]; message: string; author: string; time: string;
  git: { commit: string; dirty: boolean } | null; run: string | null; counts: { added: number; modified: number; deleted: number };
  identity?: string | null; key?: string | null;
}
interface LogDoc { ref: string; commit: string; offset: number; limit: number; items: LogItem[]; more: boolean }

export function Versions(p: { refName?: string }) {
  const refs = useLoad('refs', () => get<RefsDoc>('refs'));
  const ref = p.refName ?? refs.data?.head ?? refs.data?.branches[0]?.name ?? refs.data?.tags[0]?.name;
  return (
    <div class="split">
      <aside>
        <Box error={refs.error} loading={refs.loading}>
          <h3>Branches</h3>
          <ul class="refs" data-testid="branches">
            {refs.data?.branches.map((b) => (
              <li key={b.name} class={b.name === ref ? 'on' : ''}>
                <a href={href('versions', [b.name])}>{b.name}</a>{b.current ? <span class="muted"> (HEAD)</span> : null}
                {' '}<a class="small" href={treeHref(b.name, '')}>files</a>
              </li>
            ))}
          </ul>
          <h3>Tags</h3>
          <ul class="refs" data-testid="tags">
            {refs.data?.tags.length ? refs.data.tags.map((t) => (
              <li key={t.name} class={t.name === ref ? 'on' : ''}>
                <a href={href('versions', [t.name])}>{t.name}</a> <a class="small" href={treeHref(t.name, '')}>files</a>
              </li>
            )) : <li class="muted">none</li>}
          </ul>
        </Box>
      </aside>
      <section>{ref ? <History key={ref} refName={ref} /> : refs.data ? <p class="muted">No commits yet: dv add a path first.</p> : null}</section>
    </div>
  );
}

function History(p: { refName: string }) {
  const [offset, setOffset] = useState(0);
  const log = useLoad(`${p.refName}@${offset}`, () => get<LogDoc>('log', { ref: p.refName, offset, limit: 30 }));
  const items = log.data?.items ?? [];
  const inPage = new Set(items.map((c) => c.id));
  return (
    <>
      <h2>History of <span data-testid="history-ref">{p.refName}</span> <a class="small" href={treeHref(p.refName, '')}>browse files</a></h2>
      <Box error={log.error} loading={log.loading && !log.data}>
        <div class="history">
          <Graph rankdir="TB" testid="commit-graph"
            nodes={items.map((c) => ({ id: c.id, label: short(c.id), cls: c.parents.length > 1 ? 'merge' : '', href: treeHref(c.id, '') }))}
            edges={items.flatMap((c) => c.parents.filter((x) => inPage.has(x)).map((x) => ({ from: c.id, to: x })))} />
          <table class="grid" data-testid="history">
            <thead><tr><th>commit</th><th>message</th><th>author</th><th>who</th><th>time</th><th>changes</th><th>run</th><th>git</th></tr></thead>
            <tbody>
              {items.map((c) => (
                <tr key={c.id}>
                  <td><a href={treeHref(c.id, '')}><code>{short(c.id)}</code></a>{c.parents.length > 1 ? <span class="badge">merge</span> : null}</td>
                  <td>{c.message}</td>
                  <td class="muted">{c.author}</td>
                  <td data-testid="commit-who"><Who w={{ identity: c.identity ?? null, key: c.key ?? null }} /></td>
                  <td class="muted">{new Date(c.time).toLocaleString()}</td>
                  <td>
                    <span class="add">+{c.counts.added}</span> <span class="mod">~{c.counts.modified}</span> <span class="del">-{c.counts.deleted}</span>
                    {c.parents[0] ? <> <a class="small" href={href('diff', [], { a: c.parents[0], b: c.id })}>diff</a></> : null}
                  </td>
                  <td>{c.run ? <a href={href('run', [c.run])}><code>{short(c.run)}</code></a> : ''}</td>
                  <td>{c.git ? <code>{c.git.commit.slice(0, 8)}{c.git.dirty ? '+dirty' : ''}</code> : ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {log.data ? <Pager offset={offset} limit={30} more={log.data.more} shown={items.length} onGo={setOffset} /> : null}
      </Box>
    </>
  );
}
