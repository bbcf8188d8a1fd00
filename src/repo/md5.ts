// MD5 of content being ingested (the S3 ETag, see etags.ts), off the ingest's thread:
// `dv add` of 1 GiB would otherwise spend ~2 s of its one busy core on MD5. The bytes
// the ingest already read are copied to one worker thread (a copy costs a fraction of
// hashing them), so what is hashed is exactly what was stored. Small inputs are
// hashed inline: a worker is started only once enough bytes come to be worth it.
import crypto, { createHash } from 'node:crypto';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** Below this many bytes a file is hashed on the calling thread. */
const INLINE_BELOW = 64 << 10;

export interface Md5Job {
  update(data: Uint8Array): void;
  /** The hex MD5 of everything passed to update. */
  digest(): Promise<string>;
}

/** One-shot MD5 where Node has it: a Hash object per small file holds native memory the
 * garbage collector does not see, which at 1,000,000 files came to hundreds of MB. */
const oneShot = (crypto as { hash?: (alg: string, data: Uint8Array, enc: 'hex') => string }).hash;

class InlineJob implements Md5Job {
  private parts: Buffer[] = [];
  update(data: Uint8Array): void { this.parts.push(Buffer.from(data)); } // the caller reuses its buffer
  digest(): Promise<string> {
    const data = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    return Promise.resolve(oneShot ? oneShot('md5', data, 'hex') : createHash('md5').update(data).digest('hex'));
  }
}

let worker: Worker | null = null;
let nextId = 1;
const waiting = new Map<number, { resolve(md5: string): void; reject(e: Error): void }>();
let failed: Error | null = null;

function theWorker(): Worker | null {
  if (failed) return null;
  if (!worker) {
    const file = new URL('./md5-worker.js', import.meta.url);
    // Run from the TypeScript sources (tests) there is no compiled worker: hash inline.
    if (!fs.existsSync(fileURLToPath(file))) return null;
    worker = new Worker(file);
    worker.unref(); // never keeps the process alive; jobs in flight keep it referenced
    worker.on('message', (m: { id: number; md5: string }) => {
      waiting.get(m.id)?.resolve(m.md5);
      waiting.delete(m.id);
      if (waiting.size === 0) worker?.unref();
    });
    worker.on('error', (e) => {
      failed = e;
      for (const w of waiting.values()) w.reject(e);
      waiting.clear();
    });
  }
  return worker;
}

class WorkerJob implements Md5Job {
  private readonly id = nextId++;
  constructor(private readonly w: Worker) {}
  update(data: Uint8Array): void {
    const copy = new Uint8Array(data); // the caller reuses its buffer
    this.w.postMessage({ id: this.id, data: copy.buffer }, [copy.buffer]);
  }
  digest(): Promise<string> {
    return new Promise((resolve, reject) => {
      if (failed) return reject(failed);
      waiting.set(this.id, { resolve, reject });
      this.w.ref();
      this.w.postMessage({ id: this.id, end: true });
    });
  }
}

/** An MD5 of `expectedSize` bytes to come: off-thread when large enough. */
export function md5Job(expectedSize: number): Md5Job {
  const w = expectedSize >= INLINE_BELOW ? theWorker() : null;
  return w ? new WorkerJob(w) : new InlineJob();
}
