// Writing a ref on the remote without losing anyone's commits.
//
// With conditional writes (AWS S3 since 2024, current MinIO, R2): the new value is
// PUT with If-Match: <ETag we read> (or If-None-Match: * for a new ref), so a ref
// that moved since we checked fast-forwardness makes the PUT fail with 412 and the
// push is rejected. That is a true compare-and-swap.
//
// Without them (s3rver, older MinIO/Ceph): a lease object locks/refs/<ref> (see
// lease.ts) serialises dv writers; under it the ref is read again, compared with
// what we checked, and only then written. BEST EFFORT: the lease can be fooled by
// long process pauses or skewed clocks, and a writer that ignores leases (not dv)
// is not stopped. Push reports which of the two it used (`refUpdates`).
import { DvError } from '../../store/errors.js';
import { encodeRef, GC_LEASE_KEY, refKey, refLeaseKey } from './layout.js';
import { acquireLease, describeLease, holderGone, readLiveLease } from './lease.js';
import type { Remote, RemoteRef } from './remote.js';

export function describeRef(ref: string): string {
  return ref.startsWith('tags/') ? `tag '${ref.slice(5)}'` : `branch '${ref.replace(/^heads\//, '')}'`;
}

export function rejectedNonFastForward(remote: Remote, ref: string, why: string): DvError {
  return new DvError(`push to '${remote.name}' rejected (non-fast-forward): remote ${describeRef(ref)} ${why}; `
    + `fetch first (dv pull ${remote.name}), or use --force to overwrite it`, 1, 'REJECTED');
}

/** Refuses while a remote gc runs: it may be about to delete packs that are not
 * referenced yet, and our new ref could be the one that references them. A killed
 * gc (same host, pid gone) deletes nothing more, so its lease does not count. */
export async function checkNoGc(remote: Remote): Promise<void> {
  const gc = await readLiveLease(remote.backend, GC_LEASE_KEY);
  if (gc && !holderGone(gc)) throw new DvError(`a remote gc is running on ${remote.url}: ${describeLease(gc)}; try again when it finishes`, 1, 'LOCKED');
}

/**
 * Sets `ref` to `next` if it still holds `expected` (null: must not exist yet).
 * `force` writes regardless (still under the lease where there is no CAS, so that
 * two dv writers never interleave their read-compare-write steps).
 */
export async function writeRemoteRef(remote: Remote, ref: string, expected: RemoteRef | null, next: string,
  opts: { force?: boolean; onWait?: (message: string) => void } = {}): Promise<void> {
  const body = encodeRef(next);
  const moved = () => rejectedNonFastForward(remote, ref, 'changed while this push was running');
  if (await remote.conditionalWrites() && (!expected || expected.etag)) {
    await checkNoGc(remote);
    const cond = opts.force ? {} : expected ? { ifMatch: expected.etag } : { ifNoneMatch: '*' as const };
    try {
      await remote.backend.put(refKey(ref), body, { contentType: 'text/plain', ...cond });
    } catch (e) {
      if (!(e instanceof DvError && e.code === 'PRECONDITION')) throw e;
      // A retried PUT whose first attempt landed but whose answer was lost also
      // fails its condition: that is our own write, not a race lost.
      if ((await remote.readRef(ref))?.commit === next) return;
      throw moved();
    }
    return;
  }
  const lease = await acquireLease(remote.backend, refLeaseKey(ref), { command: `push ${ref}`, onWait: opts.onWait });
  try {
    const current = await remote.readRef(ref);
    if (!opts.force && current?.commit !== expected?.commit) {
      if (current?.commit === next) return;
      throw moved();
    }
    await checkNoGc(remote);
    await remote.backend.put(refKey(ref), body, { contentType: 'text/plain' });
  } finally {
    await lease.release();
  }
}
