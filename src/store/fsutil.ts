// Durable file writes: temp file in the same directory, fsync, rename, fsync the directory.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

export function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  }
}

export function tempName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.dvtmp-${crypto.randomBytes(4).toString('hex')}`);
}

export function writeFileAtomic(target: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = tempName(target);
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, target);
  fsyncDir(path.dirname(target));
}
