// dv ls and dv cat: read a version without checking it out.
import { Readable } from 'node:stream';
import { CorruptionError, DvError } from '../store/errors.js';
import type { Repo } from './repo.js';
import type { FileEntry } from './types.js';

export interface LsItem {
  path: string;
  type: 'file' | 'dir';
  size?: number;
  mode?: number;
  hash?: string;
}

/** Splits `REF:PATH` (PATH optional); a trailing slash on PATH is ignored. */
export function parseRefPath(spec: string): { ref: string; path: string } {
  const i = spec.indexOf(':');
  const ref = i < 0 ? spec : spec.slice(0, i);
  const p = i < 0 ? '' : spec.slice(i + 1);
  const clean = p.split('/').filter((s) => s && s !== '.');
  if (clean.includes('..')) throw new DvError(`invalid path '${p}'`, 2);
  return { ref: ref || 'HEAD', path: clean.join('/') };
}

export async function ls(repo: Repo, spec: string, opts: { recursive?: boolean } = {}): Promise<LsItem[]> {
  const { ref, path } = parseRefPath(spec);
  const commit = await repo.resolve(ref);
  const entry = await repo.lookup(commit, path);
  if (!entry) throw new DvError(`'${path}' does not exist in ${ref}`);
  if (entry.type === 'file') return [fileItem(path, entry)];
  if (opts.recursive) {
    const out: LsItem[] = [];
    for await (const { path: p, entry: e } of repo.walk(commit, path ? `${path}/` : '')) out.push(fileItem(p, e));
    return out;
  }
  const tree = await repo.readTree(entry.tree);
  return tree.entries.map((e) => {
    const p = path ? `${path}/${e.name}` : e.name;
    return e.type === 'dir' ? { path: p, type: 'dir' as const } : fileItem(p, e);
  });
}

function fileItem(path: string, e: FileEntry): LsItem {
  return { path, type: 'file', size: e.size, mode: e.mode, hash: e.hash };
}

export async function cat(repo: Repo, spec: string): Promise<Readable> {
  const { ref, path } = parseRefPath(spec);
  if (!path) throw new DvError(`give a file: ${ref}:PATH`, 2);
  const entry = await repo.lookup(await repo.resolve(ref), path);
  if (!entry) throw new DvError(`'${path}' does not exist in ${ref}`);
  if (entry.type !== 'file') throw new DvError(`'${path}' is a directory in ${ref}; use dv ls`);
  return Readable.from(naming(repo.openFile(entry), `${path} in ${ref}`));
}

/** Read errors (a corrupt or missing chunk) name the file, not only the chunk. */
async function* naming(source: AsyncIterable<Buffer>, label: string): AsyncGenerator<Buffer> {
  try {
    yield* source;
  } catch (e) {
    if (e instanceof CorruptionError) throw new CorruptionError(`cannot read ${label}: ${e.message}`);
    if (e instanceof DvError) throw new DvError(`cannot read ${label}: ${e.message}`, e.exitCode, e.code);
    throw e;
  }
}
