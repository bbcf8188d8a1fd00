// The first snapshot of a repository (no parent commit), streamed: files are stored in
// the scan's walk order and each directory's tree is written as the walk leaves it, so
// memory holds the open directories' entries and one compact stat row per file
// (StatRows), never an entry object for every file of the tree. That keeps a first
// `dv add` of 1,000,000 files within what `git add` needs.
import path from 'node:path';
import type { Repo } from './repo.js';
import { pathBytes, type PackedScan } from './native-scan.js';
import type { ScanResult, WsFile } from './scan.js';
import { ops } from './opcount.js';
import { StatRows } from './statcache.js';
import type { TreeEntry } from './types.js';
import { toEntry } from './workspace.js';

export interface StreamedAdd {
  tree: string;
  rows: StatRows;
  bytes: number;
}

interface OpenDir {
  dir: string;
  entries: TreeEntry[];
}

const dirOf = (p: string): string => { const i = p.lastIndexOf('/'); return i < 0 ? '' : p.slice(0, i); };
const within = (dir: string, d: string): boolean => dir === '' || d === dir || d.startsWith(`${dir}/`);

/**
 * Walks the paths with a stack of open directories, calling `close` as it leaves each
 * and `file` for each path. False, before any call, when a directory's files are not
 * contiguous in `paths` (a JS scan split between threads): it would be left twice.
 */
async function walkDirs(scan: PackedScan, open: (dir: string) => void, close: () => Promise<void>, file: (i: number, p: string) => Promise<void>): Promise<void> {
  const stack = [''];
  const names = pathBytes(scan);
  for (let i = 0, at = 0; i < scan.count; i++) {
    // One path string at a time, decoded from the scan's bytes: no array of 1,000,000 strings.
    let end = names.indexOf(0, at);
    if (end < 0) end = names.length;
    const p = names.toString('utf8', at, end);
    at = end + 1;
    const d = dirOf(p);
    while (!within(stack[stack.length - 1]!, d)) { stack.pop(); await close(); }
    for (let top = stack[stack.length - 1]!; top !== d; top = stack[stack.length - 1]!) {
      const seg = (top ? d.slice(top.length + 1) : d).split('/')[0]!;
      stack.push(top ? `${top}/${seg}` : seg);
      open(stack[stack.length - 1]!);
    }
    await file(i, p);
  }
  while (stack.length > 1) { stack.pop(); await close(); }
}

/** Whether every directory's files are contiguous in `paths` (the native and one-thread scans' order). */
async function contiguous(scan: PackedScan): Promise<boolean> {
  const left = new Set<string>();
  const stack: string[] = [];
  let ok = true;
  await walkDirs(scan, (d) => { if (left.has(d)) ok = false; stack.push(d); }, async () => { left.add(stack.pop()!); }, async () => {});
  return ok;
}

/** Stores every scanned file and writes the trees; null when the scan's order does not allow streaming. */
export async function storeStreamed(repo: Repo, scan: ScanResult, onFile: (f: WsFile) => void): Promise<StreamedAdd | null> {
  const packed = scan.packed();
  const { count, nums } = packed;
  // A name that is not valid UTF-16 (a lone surrogate, JS scan only) would not survive
  // the UTF-8 round trip of the paths: the non-streamed path keeps such names exactly.
  if (/\p{Cs}/u.test(packed.paths) || !(await contiguous(packed))) return null;
  const rows = new StatRows(pathBytes(packed), nums, count);
  const ingest = repo.ingestor();
  const stack: OpenDir[] = [{ dir: '', entries: [] }];
  let bytes = 0;
  let held = 0; // entries in the open directories (ops.entriesHeld: the most at once)
  const hold = (n: number) => { held += n; if (held > ops.entriesHeld) ops.entriesHeld = held; };
  await walkDirs(packed, (dir) => { stack.push({ dir, entries: [] }); }, async () => {
    const d = stack.pop()!;
    hold(1 - d.entries.length);
    const tree = await repo.objects.writeTree({ entries: d.entries });
    repo.objects.uncache(tree); // its entries are not needed again: memory stays with the open directories
    stack[stack.length - 1]!.entries.push({ name: d.dir.slice(d.dir.lastIndexOf('/') + 1), type: 'dir', tree });
  }, async (i, p) => {
    const j = i * 4;
    const f: WsFile = { path: p, size: nums[j]!, mtime: nums[j + 1]!, ino: nums[j + 2]!, mode: nums[j + 3]! };
    const content = await ingest.storeFile(path.join(repo.root, f.path), f.mode, f.size);
    stack[stack.length - 1]!.entries.push(toEntry(path.posix.basename(f.path), f.mode, content));
    hold(1);
    rows.add(f, content.hash);
    bytes += content.size;
    onFile(f);
  });
  const tree = await repo.objects.writeTree({ entries: stack[0]!.entries });
  return { tree, rows, bytes };
}
