// Walking, building and comparing trees. Paths are project-relative with '/'.
import { entrySortKey, type ObjectStore } from './objects.js';
import { DvError } from '../store/errors.js';
import type { DirEntry, FileEntry, Tree, TreeEntry, WalkItem } from './types.js';

export type FlatTree = Map<string, FileEntry>;

function join(dir: string, name: string): string {
  return dir ? `${dir}/${name}` : name;
}

/** Every file of a tree, keyed by path. */
export async function flatten(objects: ObjectStore, treeId: string, base = ''): Promise<FlatTree> {
  const out: FlatTree = new Map();
  const visit = async (id: string, dir: string): Promise<void> => {
    for (const e of (await objects.readTree(id)).entries) {
      const p = join(dir, e.name);
      if (e.type === 'dir') await visit(e.tree, p);
      else out.set(p, e);
    }
  };
  await visit(treeId, base);
  return out;
}

/** The entry at `path` ('' is the root, returned as a dir entry). */
export async function lookup(objects: ObjectStore, rootTree: string, path: string): Promise<TreeEntry | null> {
  const parts = path.split('/').filter(Boolean);
  let entry: TreeEntry = { name: '', type: 'dir', tree: rootTree };
  for (const part of parts) {
    if (entry.type !== 'dir') return null;
    const next: TreeEntry | undefined = (await objects.findEntry(entry.tree, part)) ?? (await objects.findEntry(entry.tree, `${part}/`));
    if (!next) return null;
    entry = next;
  }
  return entry;
}

/**
 * Files whose path starts with `prefix` (a plain string prefix, as in S3) and sorts
 * after `startAfter`, in key order. Subtrees that cannot match are never read, so
 * paging through a large listing with startAfter costs O(n) overall.
 */
export async function* walk(objects: ObjectStore, rootTree: string, prefix = '', startAfter = '', markers = false): AsyncGenerator<WalkItem> {
  async function* visit(id: string, dir: string): AsyncGenerator<WalkItem> {
    const { entries } = await objects.readTree(id);
    // An empty directory is the S3 directory marker `dir/` (only S3 listings ask for it).
    if (markers && dir && !entries.length) {
      const key = `${dir}/`;
      if (key.startsWith(prefix) && !(startAfter && key <= startAfter)) yield { path: key, entry: markerEntry() };
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.type === 'dir') {
        const d = p + '/';
        // Skip subtrees entirely before startAfter or outside the prefix.
        if (!(d.startsWith(prefix) || prefix.startsWith(d))) continue;
        if (startAfter && d < startAfter && !startAfter.startsWith(d)) continue;
        yield* visit(e.tree, p);
      } else {
        if (!p.startsWith(prefix) || (startAfter && p <= startAfter)) continue;
        yield { path: p, entry: e };
      }
    }
  }
  yield* visit(rootTree, '');
}

/** BLAKE3 of zero bytes: the content of a directory marker. */
export const EMPTY_HASH = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262';

/** The zero-byte object an empty directory reads as through S3 (key `dir/`). */
export function markerEntry(): FileEntry {
  return { name: '', type: 'file', mode: 0o644, size: 0, hash: EMPTY_HASH, chunks: [], s3: { etag: 'd41d8cd98f00b204e9800998ecf8427e' } };
}

/** Whether a change path names a directory marker (`a/b/`): set = keep `a/b` as a directory, null = drop it if empty. */
export const isMarkerPath = (p: string): boolean => p.endsWith('/');

interface DirNode {
  files: FileEntry[];
  dirs: Map<string, DirNode>;
}

/** Builds (and stores) the tree objects for a set of files; returns the root tree id. */
export async function buildTree(objects: ObjectStore, files: Iterable<[string, FileEntry]>): Promise<string> {
  const root: DirNode = { files: [], dirs: new Map() };
  for (const [p, entry] of files) {
    const parts = p.split('/');
    let node = root;
    for (let i = 0; i < parts.length - 1; i++) {
      let child = node.dirs.get(parts[i]);
      if (!child) { child = { files: [], dirs: new Map() }; node.dirs.set(parts[i], child); }
      node = child;
    }
    node.files.push({ ...entry, name: parts[parts.length - 1] });
  }
  const write = async (node: DirNode): Promise<string> => {
    const entries: TreeEntry[] = [...node.files];
    for (const [name, child] of node.dirs) entries.push({ name, type: 'dir', tree: await write(child) } as DirEntry);
    return objects.writeTree({ entries } as Tree);
  };
  return write(root);
}

/**
 * Applies file changes (null = delete) to a tree, rewriting only the directories on the
 * changed paths, and in a large directory only the parts holding a change: a commit of a
 * few files into a large tree costs a few small trees, not the whole tree. The result is
 * the tree buildTree gives for the changed file list. Directories left empty by deleting
 * files disappear; a marker change `a/b/` (isMarkerPath) keeps or drops an empty directory.
 */
export async function updateTree(objects: ObjectStore, root: string | null, changes: Map<string, FileEntry | null>): Promise<string> {
  const apply = async (treeId: string | null, list: [string, FileEntry | null][], dirPath: string): Promise<string | null> => {
    // Keyed by sort key: deleting file `x` leaves a directory `x/` alone, and the reverse.
    const edits = new Map<string, TreeEntry | null>();
    const below = new Map<string, [string, FileEntry | null][]>();
    let marker: 'keep' | 'drop' | undefined;
    for (const [p, e] of list) {
      if (p === '') { marker = e ? 'keep' : 'drop'; continue; } // a marker `dir/` reached its directory
      const i = p.indexOf('/');
      if (i < 0) { edits.set(p, e && { ...e, name: p }); continue; }
      const dir = p.slice(0, i);
      if (!below.has(dir)) below.set(dir, []);
      below.get(dir)!.push([p.slice(i + 1), e]);
    }
    for (const [dir, sub] of below) {
      const cur = treeId ? await objects.findEntry(treeId, `${dir}/`) : undefined;
      const was = cur?.type === 'dir' ? cur.tree : null;
      const id = await apply(was, sub, `${dirPath}${dir}/`);
      if (id !== was) edits.set(`${dir}/`, id === null ? null : { name: dir, type: 'dir', tree: id });
    }
    // A path is a file or a directory, never both (a workspace could not hold it).
    const after = async (key: string): Promise<boolean> =>
      edits.has(key) ? edits.get(key) !== null : treeId !== null && (await objects.findEntry(treeId, key)) !== undefined;
    for (const e of edits.values()) {
      if (e === null) continue;
      const other = e.type === 'dir' ? e.name : `${e.name}/`;
      if (await after(other)) throw new DvError(`'${dirPath}${e.name}' would be both a file and a directory`);
    }
    const id = await objects.editTree(treeId, edits);
    if (marker === 'keep' && id === null) return objects.writeTree({ entries: [] });
    if (marker === 'drop' && id !== null && !(await objects.readTree(id)).entries.length) return null;
    return id;
  };
  return (await apply(root, [...changes], '')) ?? objects.writeTree({ entries: [] });
}

export interface Change {
  path: string;
  status: 'added' | 'modified' | 'deleted';
  old?: FileEntry;
  new?: FileEntry;
}

export function sameContent(a: FileEntry, b: FileEntry): boolean {
  return a.hash === b.hash && a.mode === b.mode;
}

/** Per-file changes from `a` to `b`, skipping subtrees whose ids are equal. */
export async function diffTrees(objects: ObjectStore, a: string | null, b: string | null, dir = ''): Promise<Change[]> {
  if (a === b) return [];
  const ea = a ? (await objects.readTree(a)).entries : [];
  const eb = b ? (await objects.readTree(b)).entries : [];
  const mb = new Map(eb.map((e) => [e.name, e]));
  const ma = new Map(ea.map((e) => [e.name, e]));
  const out: Change[] = [];
  const names = [...new Set([...ma.keys(), ...mb.keys()])].sort();
  for (const name of names) {
    const x = ma.get(name);
    const y = mb.get(name);
    const p = join(dir, name);
    const xd = x?.type === 'dir' ? x.tree : null;
    const yd = y?.type === 'dir' ? y.tree : null;
    if (xd || yd) out.push(...(await diffTrees(objects, xd, yd, p)));
    const xf = x?.type === 'file' ? x : undefined;
    const yf = y?.type === 'file' ? y : undefined;
    if (xf && yf) { if (!sameContent(xf, yf)) out.push({ path: p, status: 'modified', old: xf, new: yf }); }
    else if (xf) out.push({ path: p, status: 'deleted', old: xf });
    else if (yf) out.push({ path: p, status: 'added', new: yf });
  }
  return out.sort((l, r) => (l.path < r.path ? -1 : l.path > r.path ? 1 : 0));
}

/**
 * Empty directories of tree `b` that `a` does not have as empty directories (a null `a`:
 * all of them). Equal subtrees are skipped, so between versions this costs the change.
 */
export async function addedEmptyDirs(objects: ObjectStore, a: string | null, b: string, dir = ''): Promise<string[]> {
  if (a === b) return [];
  const eb = (await objects.readTree(b)).entries;
  if (!eb.length) return dir ? [dir] : [];
  const ma = new Map((a ? (await objects.readTree(a)).entries : []).map((e) => [entrySortKey(e), e]));
  const out: string[] = [];
  for (const e of eb) {
    if (e.type !== 'dir') continue;
    const x = ma.get(`${e.name}/`);
    out.push(...(await addedEmptyDirs(objects, x?.type === 'dir' ? x.tree : null, e.tree, join(dir, e.name))));
  }
  return out;
}

/** Per-file changes between two flat file maps. */
export function diffFlat(a: FlatTree, b: FlatTree): Change[] {
  const out: Change[] = [];
  for (const [p, x] of a) {
    const y = b.get(p);
    if (!y) out.push({ path: p, status: 'deleted', old: x });
    else if (!sameContent(x, y)) out.push({ path: p, status: 'modified', old: x, new: y });
  }
  for (const [p, y] of b) if (!a.has(p)) out.push({ path: p, status: 'added', new: y });
  return out.sort((l, r) => (l.path < r.path ? -1 : l.path > r.path ? 1 : 0));
}
