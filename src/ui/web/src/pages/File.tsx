// One file at a ref: size, checksum, the S3 path and a download link, and a preview
// by kind: CSV/TSV as a server-paged table, JSON pretty-printed, text, images, and
// Parquet (schema and first rows, read in the browser with hyparquet over HTTP ranges).
import { useState } from 'preact/hooks';
import { apiUrl, bytes, get } from '../api';
import { useLoad } from '../load';
import { Box, Copy, Pager } from '../parts/common';
import { href } from '../route';
import { Crumbs } from './Files';
import { ParquetPreview } from './Parquet';

interface FileDoc { ref: string; commit: string; path: string; size: number; hash: string; mode: number; chunks: number; preview: string; s3: string }

export function FileView(p: { refName: string; path: string }) {
  const f = useLoad(`${p.refName}:${p.path}`, () => get<FileDoc>('file', { ref: p.refName, path: p.path }));
  const rawUrl = apiUrl('raw', { ref: p.refName, path: p.path });
  return (
    <>
      <Crumbs refName={p.refName} path={p.path} file />
      <Box error={f.error} loading={f.loading}>
        {f.data ? (
          <>
            <table class="facts" data-testid="file-facts">
              <tbody>
                <tr><th>size</th><td>{bytes(f.data.size)} ({f.data.size.toLocaleString()} bytes, {f.data.chunks} chunks)</td></tr>
                <tr><th>checksum</th><td><code>{f.data.hash}</code></td></tr>
                <tr><th>S3 path</th><td><Copy text={f.data.s3} /></td></tr>
                <tr><th /><td>
                  <a href={apiUrl('raw', { ref: p.refName, path: p.path, download: '1' })} data-testid="download">download</a>
                  {' · '}<a href={href('lineage', [], { ref: p.refName, path: p.path })}>lineage</a>
                </td></tr>
              </tbody>
            </table>
            <Preview kind={f.data.preview} refName={p.refName} path={p.path} rawUrl={rawUrl} size={f.data.size} />
          </>
        ) : null}
      </Box>
    </>
  );
}

function Preview(p: { kind: string; refName: string; path: string; rawUrl: string; size: number }) {
  switch (p.kind) {
    case 'csv': case 'tsv': return <CsvTable refName={p.refName} path={p.path} />;
    case 'json': case 'text': return <TextPreview refName={p.refName} path={p.path} json={p.kind === 'json'} />;
    case 'image': return p.path.endsWith('.svg') ? <p class="muted">SVG files are offered as a download only.</p>
      : <img class="preview-img" src={p.rawUrl} alt={p.path} data-testid="image-preview" />;
    case 'parquet': return <ParquetPreview url={p.rawUrl} size={p.size} />;
    default: return <p class="muted">No preview for this kind of file.</p>;
  }
}

interface TableDoc { header: string[]; items: string[][]; offset: number; limit: number; more: boolean }

function CsvTable(p: { refName: string; path: string }) {
  const [offset, setOffset] = useState(0);
  const t = useLoad(`${p.refName}:${p.path}@${offset}`, () => get<TableDoc>('table', { ref: p.refName, path: p.path, offset, limit: 100 }));
  return (
    <Box error={t.error} loading={t.loading && !t.data}>
      <div class="scrollx">
        <table class="grid" data-testid="csv-preview">
          <thead><tr><th class="num">#</th>{t.data?.header.map((h, i) => <th key={i}>{h}</th>)}</tr></thead>
          <tbody>
            {t.data?.items.map((r, i) => <tr key={i}><td class="num muted">{offset + i + 1}</td>{r.map((c, j) => <td key={j}>{c}</td>)}</tr>)}
          </tbody>
        </table>
      </div>
      {t.data ? <Pager offset={offset} limit={100} more={t.data.more} shown={t.data.items.length} onGo={setOffset} /> : null}
    </Box>
  );
}

function TextPreview(p: { refName: string; path: string; json: boolean }) {
  const t = useLoad(`${p.refName}:${p.path}`, () => get<{ text: string; truncated: boolean }>('text', { ref: p.refName, path: p.path }));
  let shown = t.data?.text ?? '';
  if (p.json && t.data && !t.data.truncated) {
    try { shown = JSON.stringify(JSON.parse(shown), null, 2); } catch { /* not valid JSON: shown as is */ }
  }
  return (
    <Box error={t.error} loading={t.loading}>
      <pre class="text" data-testid="text-preview">{shown}</pre>
      {t.data?.truncated ? <p class="muted">(first 256 KiB shown; download for the rest)</p> : null}
    </Box>
  );
}
