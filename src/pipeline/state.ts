// The pipeline state (what each datum's last successful run saw and produced) is
// stored in buckets: a stage's datums are spread over 2^bits bucket blobs (type 8) by
// a hash of their id, and a run record names the buckets. A run rewrites only the
// buckets holding datums it changed, so recording 10 changed datums out of 10,000
// writes ~10 blobs of ~30 KB, not the whole state; unchanged buckets keep their ids
// (and, being content-addressed, equal buckets across branches are stored once).
import { BlobType } from '../store/packfile.js';
import type { BlobStore } from '../store/blobstore.js';
import { CorruptionError } from '../store/errors.js';
import { fnv1a32 } from '../store/hash.js';
import type { DatumState, PipelineState, PipelineStateRef, StageState } from './types.js';

/** Datums per bucket the layout aims for: small rewrites, few ids in the record. */
const TARGET_PER_BUCKET = 64;
const MAX_BITS = 16;

interface BucketDoc {
  format: 1;
  datums: Record<string, DatumState>;
}

/** Bucket count (as bits) for a stage of `n` datums. */
export function bucketBits(n: number): number {
  let bits = 0;
  while (bits < MAX_BITS && n > TARGET_PER_BUCKET << bits) bits++;
  return bits;
}

/** The top `bits` bits of the id's FNV-1a hash pick its bucket. Part of the format. */
export function bucketOf(id: string, bits: number): number {
  return bits === 0 ? 0 : fnv1a32(id) >>> (32 - bits);
}

/** The state a run starts from and the stored layout it was read from. */
export interface LoadedState {
  state: PipelineState;
  ref: PipelineStateRef;
  /** Per stage of `ref`: the datum ids of each bucket as read, so a save rewriting a few
   * buckets finds their members without hashing every id of the stage. */
  members?: Record<string, string[][]>;
}

export async function loadState(blobs: BlobStore, ref: PipelineStateRef): Promise<LoadedState> {
  const state: PipelineState = {};
  const clean: PipelineStateRef = {};
  const members: Record<string, string[][]> = {};
  for (const [stage, r] of Object.entries(ref)) {
    const datums: Record<string, DatumState> = {};
    let sound = Array.isArray(r.buckets) && r.buckets.length === 2 ** r.bits;
    const present = (r.buckets ?? []).flatMap((id, i) => (id === null ? [] : [{ id, i }]));
    let data: Buffer[];
    try {
      data = await blobs.getMany(present.map(({ id }) => Buffer.from(id, 'hex'))); // written together: few reads
    } catch (e) {
      throw new CorruptionError(`pipeline state of stage ${stage} is damaged: ${(e as Error).message}`);
    }
    const ids: string[][] = Array.from({ length: sound ? 2 ** r.bits : 0 }, () => []);
    for (const [k, { id, i }] of present.entries()) {
      let doc: BucketDoc;
      try {
        doc = JSON.parse(data[k]!.toString('utf8')) as BucketDoc;
      } catch {
        throw new CorruptionError(`pipeline state bucket ${id} of stage ${stage} cannot be decoded`);
      }
      for (const [d, s] of Object.entries(doc.datums)) {
        datums[d] = s;
        if (bucketOf(d, r.bits) !== i) sound = false;
        else ids[i]?.push(d);
      }
    }
    state[stage] = { datums, ...(typeof r.fp === 'string' ? { fp: r.fp } : {}) };
    // A layout that does not match today's bucketing is rewritten whole on the next save.
    if (sound) {
      clean[stage] = r;
      members[stage] = ids;
    }
  }
  return { state, ref: clean, members };
}

/**
 * Stores `state`, rewriting only the buckets whose datums differ (by identity) from
 * `prev`. Stages absent from `state` are dropped.
 */
export async function saveState(blobs: BlobStore, state: PipelineState, prev: LoadedState): Promise<PipelineStateRef> {
  const out: PipelineStateRef = {};
  for (const [stage, s] of Object.entries(state)) {
    const r = await saveStage(blobs, s, prev.state[stage], prev.ref[stage], prev.members?.[stage]);
    // An untouched layout is the same object (and the same fingerprint), a changed one a new ref.
    out[stage] = r === prev.ref[stage] && r.fp === s.fp ? r : { bits: r.bits, buckets: r.buckets, ...(s.fp ? { fp: s.fp } : {}) };
  }
  return out;
}

/**
 * `from` with `ids` applied (null: removed), fingerprint `fp`. The merged datums are
 * built only if read: saving it (the usual next step) looks at the changed ids alone,
 * so a run that changed 10 datums of 10,000 does not copy the other 9,990.
 */
export function changedState(from: Record<string, DatumState>, ids: ReadonlyMap<string, DatumState | null>, fp?: string): StageState {
  let merged: Record<string, DatumState> | null = null;
  return {
    get datums(): Record<string, DatumState> {
      if (!merged) {
        merged = { ...from };
        for (const [id, st] of ids) {
          if (st) merged[id] = st;
          else delete merged[id];
        }
      }
      return merged;
    },
    ...(fp ? { fp } : {}),
    changes: { from, ids },
  };
}

/** How many datums `s` holds, counted from its changes when it has some against `prev`. */
function sizeOf(s: StageState, prev: StageState | undefined, prevMembers: string[][] | undefined): number {
  if (!s.changes || s.changes.from !== prev?.datums) return Object.keys(s.datums).length;
  let n = prevMembers ? prevMembers.reduce((k, m) => k + m.length, 0) : Object.keys(prev.datums).length;
  for (const [id, st] of s.changes.ids) n += (st ? 1 : 0) - (id in prev.datums ? 1 : 0);
  return n;
}

async function saveStage(blobs: BlobStore, s: StageState, prev: StageState | undefined,
  prevRef: PipelineStateRef[string] | undefined, prevMembers: string[][] | undefined): Promise<PipelineStateRef[string]> {
  const bits = bucketBits(sizeOf(s, prev, prevMembers));
  const reuse = prevRef && prev && prevRef.bits === bits;
  if (reuse && (prev === s || (!s.changes && prev.datums === s.datums))) return prevRef;
  const dirty = new Set<number>();
  const added: string[] = [];
  const datumOf = (id: string): DatumState | undefined => {
    if (s.changes?.ids.has(id)) return s.changes.ids.get(id) ?? undefined;
    return s.changes ? s.changes.from[id] : s.datums[id];
  };
  if (reuse && s.changes?.from === prev.datums) {
    for (const [id, st] of s.changes.ids) {
      if (st === prev.datums[id]) continue;
      dirty.add(bucketOf(id, bits));
      if (st && !(id in prev.datums)) added.push(id);
    }
    if (dirty.size === 0) return prevRef;
  } else if (reuse) {
    const ids = Object.keys(s.datums);
    for (const id of ids) {
      if (s.datums[id] === prev.datums[id]) continue;
      dirty.add(bucketOf(id, bits));
      if (!(id in prev.datums)) added.push(id);
    }
    for (const id of Object.keys(prev.datums)) if (!(id in s.datums)) dirty.add(bucketOf(id, bits));
    if (dirty.size === 0) return prevRef;
  }
  const members = new Map<number, string[]>();
  const add = (b: number, id: string): void => {
    let m = members.get(b);
    if (!m) members.set(b, (m = []));
    m.push(id);
  };
  if (reuse && prevMembers?.length === 2 ** bits) {
    // A dirty bucket holds what it held (less removed datums) and the new datums hashed to it.
    for (const b of dirty) for (const id of prevMembers[b]!) if (datumOf(id)) add(b, id);
    for (const id of added) add(bucketOf(id, bits), id);
  } else {
    for (const id of Object.keys(s.datums)) {
      const b = bucketOf(id, bits);
      if (!reuse || dirty.has(b)) add(b, id);
    }
  }
  const buckets: (string | null)[] = reuse ? [...prevRef.buckets] : new Array<string | null>(2 ** bits).fill(null);
  for (const b of reuse ? dirty : members.keys()) {
    const m = (members.get(b) ?? []).sort();
    if (m.length === 0) {
      buckets[b] = null;
      continue;
    }
    const doc: BucketDoc = { format: 1, datums: Object.fromEntries(m.map((id) => [id, datumOf(id)!])) };
    buckets[b] = (await blobs.put(BlobType.RunState, Buffer.from(JSON.stringify(doc), 'utf8'))).toString('hex');
  }
  return { bits, buckets };
}
