// Parquet preview in the browser: hyparquet (pure JS, no dependencies) reads the
// footer and the first rows through HTTP range requests to /ui/api/raw, so a large
// file is never downloaded whole.
import { asyncBufferFromUrl, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { useLoad } from '../load';
import { Box } from '../parts/common';

const ROWS = 50;

interface Loaded {
  rows: number;
  columns: { name: string; type: string }[];
  first: Record<string, unknown>[];
}

async function load(url: string, size: number): Promise<Loaded> {
  const file = await asyncBufferFromUrl({ url, byteLength: size, requestInit: { credentials: 'same-origin' } });
  const metadata = await parquetMetadataAsync(file);
  const columns = metadata.schema.slice(1).map((s) => ({ name: s.name, type: String(s.logical_type?.type ?? s.converted_type ?? s.type ?? 'group') }));
  const first = await parquetReadObjects({ file, metadata, rowEnd: Math.min(ROWS, Number(metadata.num_rows)) });
  return { rows: Number(metadata.num_rows), columns, first };
}

const cell = (v: unknown): string => (typeof v === 'bigint' ? v.toString() : typeof v === 'object' && v !== null ? JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x)) : String(v));

export function ParquetPreview(p: { url: string; size: number }) {
  const d = useLoad(p.url, () => load(p.url, p.size));
  return (
    <Box error={d.error} loading={d.loading}>
      {d.data ? (
        <div data-testid="parquet-preview">
          <h3>Schema ({d.data.rows.toLocaleString()} rows)</h3>
          <ul class="schema">{d.data.columns.map((c) => <li key={c.name}><code>{c.name}</code> <span class="muted">{c.type}</span></li>)}</ul>
          <h3>First {d.data.first.length} rows</h3>
          <div class="scrollx">
            <table class="grid">
              <thead><tr>{d.data.columns.map((c) => <th key={c.name}>{c.name}</th>)}</tr></thead>
              <tbody>{d.data.first.map((r, i) => <tr key={i}>{d.data!.columns.map((c) => <td key={c.name}>{cell(r[c.name])}</td>)}</tr>)}</tbody>
            </table>
          </div>
        </div>
      ) : null}
    </Box>
  );
}
