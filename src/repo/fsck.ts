// dv fsck: verify every pack, every blob hash and every reference, and name the
// files a damaged object affects.
import fs from 'node:fs';
import { BlobType } from '../store/packfile.js';
import { indexedPacks, packFilesOnDisk, verifyPack } from '../store/maintenance.js';
import type { Repo } from './repo.js';
import { markReachable, rootIds } from './reachable.js';

export interface FsckResult {
  ok: boolean;
  packs: number;
  objects: number;
  errors: string[];
  warnings: string[];
}

export async function fsck(repo: Repo, opts: { onProgress?: (done: number, total: number) => void } = {}): Promise<FsckResult> {
  const errors: string[] = [];
  const warnings: string[] = [];
  const bad = new Set<string>();
  const packs = indexedPacks(repo.blobs);
  let objects = 0;
  for (const [i, p] of packs.entries()) {
    const check = await verifyPack(repo.blobs, p.id);
    objects += p.blobs;
    if (check.problem) errors.push(`pack ${p.id}: ${check.problem}`);
    for (const id of check.bad) bad.add(id);
    opts.onProgress?.(i + 1, packs.length);
  }
  const indexed = new Set(packs.map((p) => p.id));
  for (const id of packFilesOnDisk(repo.blobs)) {
    if (!indexed.has(id)) warnings.push(`pack ${id} is not indexed (left by an interrupted command); dv gc removes it`);
  }
  const tmp = fs.existsSync(repo.blobs.tmpDir) ? fs.readdirSync(repo.blobs.tmpDir).length : 0;
  if (tmp) warnings.push(`${tmp} temporary file(s) in .dv/tmp; dv gc removes old ones`);

  const { broken } = await markReachable(repo, await rootIds(repo));
  for (const [id, from] of broken) bad.add(id), errors.push(`object ${id} referenced by ${from} is missing or unreadable`);
  if (bad.size) {
    for (const line of await affectedFiles(repo, bad)) errors.push(line);
    const corrupt = [...bad].filter((id) => repo.blobs.locate(Buffer.from(id, 'hex')));
    for (const id of corrupt.slice(0, 20)) errors.push(`object ${id} is corrupt (hash mismatch or truncated)`);
  }
  return { ok: errors.length === 0, packs: packs.length, objects, errors, warnings };
}

/** `path (commit X)` for every file, in any commit reachable from a ref, using a bad object. */
async function affectedFiles(repo: Repo, bad: Set<string>): Promise<string[]> {
  const lines = new Set<string>();
  const seenTrees = new Set<string>();
  const commits = repo.db.prepare('SELECT id FROM blobs WHERE type = ?').pluck().all(BlobType.Commit) as Buffer[];
  for (const raw of commits) {
    const cid = raw.toString('hex');
    if (bad.has(cid)) continue;
    let tree: string;
    try { tree = (await repo.readCommit(cid)).tree; } catch { continue; }
    const visit = async (id: string, dir: string): Promise<void> => {
      if (seenTrees.has(id)) return;
      seenTrees.add(id);
      if (bad.has(id)) { lines.add(`directory ${dir || '/'} (commit ${cid.slice(0, 12)}) is damaged`); return; }
      let entries;
      try {
        entries = (await repo.readTree(id)).entries;
      } catch {
        lines.add(`directory ${dir || '/'} (commit ${cid.slice(0, 12)}) is damaged`); // a part or chunk list
        return;
      }
      for (const e of entries) {
        const p = dir ? `${dir}/${e.name}` : e.name;
        if (e.type === 'dir') await visit(e.tree, p);
        else if (e.chunks.some(([c]) => bad.has(c))) lines.add(`file ${p} (commit ${cid.slice(0, 12)}) is damaged`);
      }
    };
    await visit(tree, '');
  }
  return [...lines].sort();
}
