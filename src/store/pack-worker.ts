// Worker half of pack-thread.ts: writes pack bytes, hashes them (the pack id) and seals
// packs (fsync, rename, fsync the directory) on another core than the ingest, which
// meanwhile reads, chunks and hashes the next bytes. Buffers come transferred and go back
// the same way, so no byte is copied between the threads. Full buffers are written with
// O_DIRECT where the filesystem takes it (direct-io.ts): no copy into the page cache.
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { workerData, type MessagePort } from 'node:worker_threads';
import { createHasher, type Hasher } from './hash.js';
import { fsyncDir } from './fsutil.js';
import { openDirect, writeAt } from './direct-io.js';
import type { FromWorker, ToWorker } from './pack-thread.js';

const { port, ctl } = workerData as { port: MessagePort; ctl: Int32Array };
interface Open {
  fd: number;
  dfd: number;
  hasher: Hasher;
  size: number;
  error: string | null;
  /** Writes in flight: several at once, as an O_DIRECT write waits for the disk. */
  writing: Set<Promise<void>>;
}
const open = new Map<number, Open>();

function reply(m: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(m, transfer);
  Atomics.add(ctl, 0, 1);
  Atomics.notify(ctl, 0);
}

function closeFds(p: Open): void {
  for (const fd of [p.fd, p.dfd]) if (fd >= 0) try { fs.closeSync(fd); } catch { /* already closed */ }
  p.fd = p.dfd = -1;
}

function closeAndRemove(p: Open, tmpPath: string): void {
  closeFds(p);
  fs.rmSync(tmpPath, { force: true });
}

async function handle(m: ToWorker): Promise<void> {
  if (m.op === 'open') {
    const fd = fs.openSync(m.tmpPath, 'r+');
    open.set(m.pack, { fd, dfd: openDirect(m.tmpPath), hasher: await createHasher(), size: 0, error: null, writing: new Set() });
    return;
  }
  const p = open.get(m.pack);
  if (m.op === 'write') {
    const back = () => reply({ op: 'buf', pack: m.pack, buf: m.buf, off: m.off, written: m.len }, [m.buf]);
    if (!p || p.error !== null) { back(); return; }
    // Hashed here, in file order; written meanwhile, the buffer going back once it is on the file.
    const data = new Uint8Array(m.buf, m.off, m.len);
    p.hasher.update(data);
    p.size = Math.max(p.size, m.pos + m.len);
    const w: Promise<void> = writeAt(p.fd, p.dfd, data, m.pos)
      .catch((e: Error) => { p.error ??= e.message; })
      .finally(() => { p.writing.delete(w); back(); });
    p.writing.add(w);
    return;
  }
  open.delete(m.pack);
  if (!p) { reply({ op: 'failed', pack: m.pack, message: 'the pack thread could not open the pack' }); return; }
  // Descriptors are closed only once nothing writes through them (settled).
  if (m.op === 'abort') { void settled(p).then(() => closeAndRemove(p, m.tmpPath)); return; }
  // The last writes and the fsync run on libuv's pool while this thread goes on with the next pack.
  void seal(p, m.tmpPath, m.packsDir).then((id) => reply({ op: 'sealed', pack: m.pack, id, size: p.size }), (e: Error) => {
    closeAndRemove(p, m.tmpPath);
    reply({ op: 'failed', pack: m.pack, message: e.message });
  });
}

const fsync = promisify(fs.fsync);

async function settled(p: Open): Promise<void> {
  while (p.writing.size) await Promise.all([...p.writing]);
}

async function seal(p: Open, tmpPath: string, packsDir: string): Promise<string> {
  await settled(p);
  if (p.error !== null) throw new Error(p.error);
  const id = p.hasher.digestHex();
  await fsync(p.fd); // also makes what went through p.dfd durable (one file)
  closeFds(p);
  const dest = path.join(packsDir, id.slice(0, 2), `${id}.pack`);
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.renameSync(tmpPath, dest);
  fsyncDir(path.dirname(dest));
  return id;
}

// One message at a time, in the order sent (a pack's writes hash in file order).
let chain: Promise<void> = Promise.resolve();
port.on('message', (m: ToWorker) => { chain = chain.then(() => handle(m)).catch(() => { /* an open that failed: its seal reports it */ }); });
