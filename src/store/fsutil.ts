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

/** The temp file is created with `mode` from the start (so a secret is never readable
 * by others, not even for a moment) and removed if anything fails. */
export function writeFileAtomic(target: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = tempName(target);
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.chmodSync(tmp, mode); // the umask can only narrow `mode`; make it exact
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(path.dirname(target));
}
