// Worker half of md5.ts: MD5s of files being ingested, fed the bytes the ingest read
// (copies, transferred), so that hashing runs on another core than the chunker.
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

const open = new Map<number, Hash>();
parentPort!.on('message', (m: { id: number; data?: ArrayBuffer; end?: boolean }) => {
  let h = open.get(m.id);
  if (!h) open.set(m.id, (h = createHash('md5')));
  if (m.data) h.update(new Uint8Array(m.data));
  if (m.end) {
    open.delete(m.id);
    parentPort!.postMessage({ id: m.id, md5: h.digest('hex') });
  }
});
