// Helpers for library-level tests: real repositories (SQLite, packs) in temp dirs.
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Repo } from '../../src/repo/repo.js';
import { packPath } from '../../src/store/packwriter.js';
import { TEST_AUTHOR, TempDirs } from './cli.js';

export interface TestRepo {
  root: string;
  repo: Repo;
}

/** A fresh project with `dv init` done; close/remove through `closeAll`. */
export class RepoFixtures {
  private tmp = new TempDirs();
  private open: Repo[] = [];

  constructor() {
    process.env.DV_AUTHOR = TEST_AUTHOR;
  }

  async create(prefix = 'dv-repo-'): Promise<TestRepo> {
    const root = this.tmp.make(prefix);
    const repo = await Repo.init(root);
    this.open.push(repo);
    return { root, repo };
  }

  /** A second handle on an existing repository (as another command would open it). */
  reopen(root: string): Repo {
    const repo = Repo.open(root);
    this.open.push(repo);
    return repo;
  }

  tempDir(prefix = 'dv-aux-'): string {
    return this.tmp.make(prefix);
  }

  closeAll(): void {
    for (const r of this.open.splice(0)) {
      try { r.close(); } catch { /* already closed */ }
    }
    this.tmp.cleanup();
  }
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of stream) parts.push(Buffer.from(p as Uint8Array));
  return Buffer.concat(parts);
}

export interface BlobRow {
  id: Buffer;
  type: number;
  pack: string;
  offset: number;
  length: number;
}

export function blobRow(repo: Repo, idHex: string): BlobRow | undefined {
  return repo.db.prepare('SELECT id, type, pack, offset, length FROM blobs WHERE id = ?').get(Buffer.from(idHex, 'hex')) as BlobRow | undefined;
}

export function countBlobs(repo: Repo, type?: number): number {
  return type === undefined
    ? (repo.db.prepare('SELECT COUNT(*) FROM blobs').pluck().get() as number)
    : (repo.db.prepare('SELECT COUNT(*) FROM blobs WHERE type = ?').pluck().get(type) as number);
}

export function chunkBytesStored(repo: Repo): number {
  return (repo.db.prepare('SELECT COALESCE(SUM(length), 0) FROM blobs WHERE type = 1').pluck().get() as number);
}

export function packFile(repo: Repo, pack: string): string {
  return packPath(path.join(repo.dvDir, 'packs'), pack);
}

/** pack id -> size for every pack file on disk. */
export function packFilesOnDisk(repo: Repo): Map<string, number> {
  const out = new Map<string, number>();
  const dir = path.join(repo.dvDir, 'packs');
  for (const d of fs.readdirSync(dir)) {
    for (const f of fs.readdirSync(path.join(dir, d))) {
      if (f.endsWith('.pack')) out.set(f.slice(0, -5), fs.statSync(path.join(dir, d, f)).size);
    }
  }
  return out;
}

/** Flips one byte of a file in place (XOR 0xff). */
export function flipByte(file: string, offset: number): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, offset);
    b[0] ^= 0xff;
    fs.writeSync(fd, b, 0, 1, offset);
  } finally {
    fs.closeSync(fd);
  }
}
