// /ui/api/diff: per-file changes between two refs, filtered and paged on the server;
// /ui/api/diff/rows: a row-level diff of one small CSV/TSV file between them.
import { diffArrays } from 'diff';
import type { Repo } from '../../repo/repo.js';
import { diffTrees, type Change } from '../../repo/trees.js';
import type { FileEntry } from '../../repo/types.js';
import { resolveFor } from '../access.js';
import { badRequest, pageOf, type Query } from '../http.js';
import type { Principal } from '../session.js';
import { parseCsv } from './csv.js';
import { previewKind } from './preview.js';
import { cleanPath } from './versions.js';

const STATUSES = ['added', 'modified', 'deleted'] as const;
/** Row diffs are for files a person reads, not for tables a diff algorithm chokes on. */
export const ROW_DIFF_MAX_BYTES = 1 << 20;

export async function diffRefs(repo: Repo, p: Principal, q: Query): Promise<unknown> {
  const a = await resolveFor(repo, p, q.str('a'));
  const b = await resolveFor(repo, p, q.str('b'));
  const changes = await diffTrees(repo.objects, (await repo.readCommit(a.commit)).tree, (await repo.readCommit(b.commit)).tree);
  const counts = { added: 0, modified: 0, deleted: 0 };
  for (const c of changes) counts[c.status]++;
  const want = (q.opt('status') ?? '').split(',').filter((s): s is Change['status'] => (STATUSES as readonly string[]).includes(s));
  const text = q.opt('q')?.toLowerCase();
  const kept = changes.filter((c) => (want.length === 0 || want.includes(c.status)) && (!text || c.path.toLowerCase().includes(text)));
  const page = pageOf(kept, q.page(200, 2000));
  return {
    a: { ref: a.ref, commit: a.commit }, b: { ref: b.ref, commit: b.commit }, counts, ...page,
    items: page.items.map((c) => ({
      path: c.path, status: c.status, oldSize: c.old?.size ?? null, newSize: c.new?.size ?? null,
      oldHash: c.old?.hash ?? null, newHash: c.new?.hash ?? null,
      rowDiff: rowDiffable(c.path, c.old, c.new),
    })),
  };
}

function rowDiffable(path: string, a?: FileEntry, b?: FileEntry): boolean {
  const k = previewKind(path);
  return (k === 'csv' || k === 'tsv') && (a?.size ?? 0) <= ROW_DIFF_MAX_BYTES && (b?.size ?? 0) <= ROW_DIFF_MAX_BYTES;
}

async function rowsAt(repo: Repo, commit: string, path: string, sep: string): Promise<string[][]> {
  const e = await repo.lookup(commit, path);
  if (!e || e.type !== 'file') return [];
  if (e.size > ROW_DIFF_MAX_BYTES) throw badRequest(`${path} is larger than ${ROW_DIFF_MAX_BYTES} bytes: no row diff`);
  const parts: Buffer[] = [];
  for await (const c of repo.openFile(e) as AsyncIterable<Buffer>) parts.push(c);
  return parseCsv(Buffer.concat(parts).toString('utf8'), sep);
}

/** Rows as {op: ' ' | '+' | '-', cells}; the header row is compared like any other. */
export async function rowDiff(repo: Repo, p: Principal, q: Query): Promise<unknown> {
  const a = await resolveFor(repo, p, q.str('a'));
  const b = await resolveFor(repo, p, q.str('b'));
  const path = cleanPath(q.str('path'));
  const sep = previewKind(path) === 'tsv' ? '\t' : ',';
  const [ra, rb] = [await rowsAt(repo, a.commit, path, sep), await rowsAt(repo, b.commit, path, sep)];
  const key = (r: string[]): string => JSON.stringify(r);
  const parts = diffArrays(ra.map(key), rb.map(key));
  const rows: { op: ' ' | '+' | '-'; cells: string[] }[] = [];
  const counts = { added: 0, deleted: 0, same: 0 };
  for (const part of parts) {
    const op = part.added ? '+' : part.removed ? '-' : ' ';
    for (const v of part.value) rows.push({ op, cells: JSON.parse(v) as string[] });
    counts[part.added ? 'added' : part.removed ? 'deleted' : 'same'] += part.value.length;
  }
  return { path, counts, ...pageOf(rows, q.page(500, 5000)) };
}
