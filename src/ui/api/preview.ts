// File contents for the page: raw bytes (download, images, ranged reads for the
// Parquet reader), the first bytes as text, and CSV/TSV as a paged table that is
// parsed as it streams, so page N of a large file never loads the whole file.
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { Repo } from '../../repo/repo.js';
import type { FileEntry } from '../../repo/types.js';
import { resolveFor } from '../access.js';
import { ApiError, notFound, type Query } from '../http.js';
import type { Principal } from '../session.js';
import { cleanPath } from './versions.js';
import { CsvRows } from './csv.js';

export type PreviewKind = 'csv' | 'tsv' | 'json' | 'text' | 'image' | 'parquet' | 'binary';

const EXT: Record<string, PreviewKind> = {
  csv: 'csv', tsv: 'tsv', json: 'json', jsonl: 'text', ndjson: 'text', txt: 'text', md: 'text', log: 'text', yaml: 'text',
  yml: 'text', py: 'text', sh: 'text', ts: 'text', js: 'text', xml: 'text', html: 'text', ini: 'text', toml: 'text',
  png: 'image', jpg: 'image', jpeg: 'image', gif: 'image', webp: 'image', svg: 'image', parquet: 'parquet',
};

const MIME: Record<string, string> = {
  png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp',
  csv: 'text/csv; charset=utf-8', tsv: 'text/tab-separated-values; charset=utf-8', json: 'application/json',
};

const extOf = (path: string): string => /\.([A-Za-z0-9]+)$/.exec(path)?.[1]?.toLowerCase() ?? '';

export function previewKind(path: string): PreviewKind {
  return EXT[extOf(path)] ?? 'binary';
}

export async function fileAt(repo: Repo, p: Principal, q: Query): Promise<{ path: string; entry: FileEntry }> {
  const r = await resolveFor(repo, p, q.str('ref', 'HEAD'));
  const path = cleanPath(q.str('path'));
  const entry = await repo.lookup(r.commit, path);
  if (!entry || entry.type !== 'file') throw notFound(`${path} is not a file at ${r.ref}`);
  return { path, entry };
}

/** The bytes, with a single Range supported (hyparquet reads a Parquet footer that way). */
export async function raw(repo: Repo, p: Principal, q: Query, range: string | undefined, res: ServerResponse): Promise<void> {
  const { path, entry } = await fileAt(repo, p, q);
  // SVG can carry scripts: it is only ever served as a download, never rendered inline from here.
  const ext = extOf(path);
  const type = ext !== 'svg' && MIME[ext] ? MIME[ext]! : 'application/octet-stream';
  const headers: Record<string, string | number> = {
    'content-type': type, 'accept-ranges': 'bytes', 'x-content-type-options': 'nosniff', 'cache-control': 'private, max-age=60',
    'content-security-policy': "default-src 'none'; sandbox",
  };
  if (q.opt('download') !== undefined || type === 'application/octet-stream') {
    headers['content-disposition'] = `attachment; filename="${path.split('/').pop()!.replace(/[^\w.\-]/g, '_')}"`;
  }
  let start = 0;
  let end = entry.size;
  const m = range ? /^bytes=(\d*)-(\d*)$/.exec(range) : null;
  if (m && (m[1] || m[2])) {
    start = m[1] ? Number(m[1]) : Math.max(0, entry.size - Number(m[2]));
    end = m[1] && m[2] ? Math.min(entry.size, Number(m[2]) + 1) : entry.size;
    if (start >= entry.size || start >= end) throw new ApiError(416, 'range not satisfiable');
    headers['content-range'] = `bytes ${start}-${end - 1}/${entry.size}`;
  }
  headers['content-length'] = end - start;
  res.writeHead(m && (m[1] || m[2]) ? 206 : 200, headers);
  await pipe(repo.openFile(entry, start, end), res);
}

function pipe(src: Readable, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    src.on('error', () => { res.destroy(); resolve(); });
    res.on('close', () => { src.destroy(); resolve(); });
    src.pipe(res);
  });
}

async function head(repo: Repo, entry: FileEntry, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of repo.openFile(entry, 0, Math.min(entry.size, max)) as AsyncIterable<Buffer>) parts.push(b);
  return Buffer.concat(parts);
}

/** The first `limit` bytes (default 256 KiB) as UTF-8 text. */
export async function text(repo: Repo, p: Principal, q: Query): Promise<unknown> {
  const { path, entry } = await fileAt(repo, p, q);
  const limit = q.int('limit', 256 * 1024, 4 << 20);
  return { path, size: entry.size, truncated: entry.size > limit, text: (await head(repo, entry, limit)).toString('utf8') };
}

/** One page of rows of a CSV/TSV file; the header row is always returned. */
export async function table(repo: Repo, p: Principal, q: Query): Promise<unknown> {
  const { path, entry } = await fileAt(repo, p, q);
  const { offset, limit } = q.page(100, 1000);
  const sep = q.opt('sep') === 'tab' || previewKind(path) === 'tsv' ? '\t' : ',';
  const rows = new CsvRows(sep);
  let header: string[] | null = null;
  const items: string[][] = [];
  let index = 0;
  let more = false;
  const src = repo.openFile(entry);
  const utf8 = new StringDecoder('utf8');
  try {
    outer: for await (const b of src as AsyncIterable<Buffer>) {
      for (const row of rows.push(utf8.write(b))) {
        if (header === null) { header = row; continue; }
        if (index++ < offset) continue;
        if (items.length === limit) { more = true; break outer; }
        items.push(row);
      }
    }
    if (!more) {
      for (const row of [...rows.push(utf8.end()), ...rows.end()]) {
        if (header === null) header = row;
        else if (index++ >= offset) { if (items.length < limit) items.push(row); else more = true; }
      }
    }
  } finally {
    src.destroy();
  }
  return { path, header: header ?? [], items, offset, limit, more };
}
