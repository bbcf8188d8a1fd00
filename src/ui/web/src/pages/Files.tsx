// The tree browser: one directory at a ref, paged and filtered on the server (a
// directory of 100,000 files sends 200 rows), with sizes and checksums.
import { useState } from 'preact/hooks';
import { bytes, get, short } from '../api';
import { useLoad } from '../load';
import { Box, Pager } from '../parts/common';
import { fileHref, href, treeHref } from '../route';

interface TreeDoc {
  ref: string; commit: string; path: string; offset: number; limit: number; total: number | null; more: boolean; estimate: number;
  items: { name: string; type: 'file' | 'dir'; size?: number; hash?: string; mode?: number }[];
}

const PAGE = 200;

export function Crumbs(p: { refName: string; path: string; file?: boolean }) {
  const segs = p.path.split('/').filter(Boolean);
  return (
    <div class="crumbs" data-testid="crumbs">
      <a href={href('versions', [p.refName])}>{p.refName}</a> : <a href={treeHref(p.refName, '')}>/</a>
      {segs.map((s, i) => {
        const sub = segs.slice(0, i + 1).join('/');
        const last = i === segs.length - 1;
        return <span key={sub}>{i ? ' / ' : ''}{last && p.file ? <b>{s}</b> : <a href={treeHref(p.refName, sub)}>{s}</a>}</span>;
      })}
    </div>
  );
}

export function Tree(p: { refName: string; path: string }) {
  const [offset, setOffset] = useState(0);
  const [filter, setFilter] = useState('');
  const key = `${p.refName}:${p.path}@${offset}?${filter}`;
  const t = useLoad(key, () => get<TreeDoc>('tree', { ref: p.refName, path: p.path, offset, limit: PAGE, q: filter }));
  const join = (name: string): string => (p.path ? `${p.path}/${name}` : name);
  return (
    <>
      <Crumbs refName={p.refName} path={p.path} />
      <div class="toolbar">
        <input placeholder="filter names" value={filter} data-testid="tree-filter"
          onInput={(e) => { setFilter((e.target as HTMLInputElement).value); setOffset(0); }} />
        {t.data ? <span class="muted">commit <code>{short(t.data.commit)}</code> · {t.data.total === null ? `~${t.data.estimate.toLocaleString()}` : t.data.total.toLocaleString()} entries</span> : null}
      </div>
      <Box error={t.error} loading={t.loading && !t.data}>
        <table class="grid" data-testid="tree">
          <thead><tr><th>name</th><th class="num">size</th><th>checksum (BLAKE3)</th><th>mode</th><th /></tr></thead>
          <tbody>
            {t.data?.items.map((e) => (
              <tr key={e.name}>
                <td>{e.type === 'dir'
                  ? <a href={treeHref(p.refName, join(e.name))}>📁 {e.name}/</a>
                  : <a href={fileHref(p.refName, join(e.name))}>{e.name}</a>}</td>
                <td class="num">{e.type === 'file' ? bytes(e.size) : ''}</td>
                <td><code title={e.hash}>{e.hash ? e.hash.slice(0, 16) : ''}</code></td>
                <td class="muted">{e.mode ? e.mode.toString(8) : ''}</td>
                <td>{e.type === 'file' ? <a class="small" href={href('lineage', [], { ref: p.refName, path: join(e.name) })}>lineage</a> : null}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {t.data ? <Pager offset={offset} limit={PAGE} total={t.data.total ?? undefined} more={t.data.more} shown={t.data.items.length} onGo={setOffset} /> : null}
      </Box>
    </>
  );
}
