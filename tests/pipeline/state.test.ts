// The pipeline state is stored in buckets: a save after a few datums changed must
// rewrite only their buckets, and a load must give back exactly what was saved.
import { afterEach, describe, expect, it } from 'vitest';
import { bucketBits, bucketOf, changedState, loadState, saveState, type LoadedState } from '../../src/pipeline/state.js';
import type { DatumState, PipelineState } from '../../src/pipeline/types.js';
import { BlobType } from '../../src/store/packfile.js';
import { countBlobs, RepoFixtures } from '../helpers/repo.js';

const fx = new RepoFixtures();
afterEach(() => fx.closeAll());

function datum(id: string, version = 1): DatumState {
  return {
    inputHash: `${id}:${version}`, deps: { 'clean.py': 'd'.repeat(64) }, params: { threshold: 0.5 },
    cmd: `python3 clean.py ${id} out/${id}`, outputs: { [`out/${id}`]: `o${version}` }, cacheKey: `k${version}`, run: 'r'.repeat(64),
  };
}

function stage(n: number): PipelineState[string] {
  const datums: Record<string, DatumState> = {};
  for (let i = 0; i < n; i++) datums[`raw/${String(i).padStart(4, '0')}.csv`] = datum(`raw/${String(i).padStart(4, '0')}.csv`);
  return { datums };
}

describe('pipeline state buckets', () => {
  it('round-trips, and a change to one datum rewrites one bucket', async () => {
    const { repo } = await fx.create();
    const empty: LoadedState = { state: {}, ref: {} };
    const state: PipelineState = { clean: stage(1000), weekly: { datums: { '': datum('') } } };
    const ref = await saveState(repo.blobs, state, empty);
    repo.blobs.flush();
    expect(ref.clean!.bits).toBe(bucketBits(1000));
    expect(ref.clean!.buckets.length).toBe(2 ** ref.clean!.bits);
    expect(ref.weekly).toEqual({ bits: 0, buckets: [expect.any(String)] });
    const loaded = await loadState(repo.blobs, ref);
    expect(loaded.state).toEqual(state);

    const next: PipelineState = { ...loaded.state, clean: { datums: { ...loaded.state.clean!.datums } } };
    next.clean!.datums['raw/0007.csv'] = datum('raw/0007.csv', 2);
    delete next.clean!.datums['raw/0500.csv'];
    next.clean!.datums['raw/2000.csv'] = datum('raw/2000.csv'); // new: its bucket found by hashing, the others' from the load
    next.clean!.fp = 'f'.repeat(64);
    const before = countBlobs(repo, BlobType.RunState);
    const ref2 = await saveState(repo.blobs, next, loaded);
    repo.blobs.flush();
    const changed = ref2.clean!.buckets.map((b, i) => (b !== ref.clean!.buckets[i] ? i : -1)).filter((i) => i >= 0);
    const expected = [...new Set(['raw/0007.csv', 'raw/0500.csv', 'raw/2000.csv'].map((id) => bucketOf(id, ref.clean!.bits)))].sort((a, b) => a - b);
    expect(changed).toEqual(expected);
    expect(countBlobs(repo, BlobType.RunState) - before).toBe(expected.length);
    expect(ref2.weekly).toBe(ref.weekly); // untouched stage: same layout object
    expect(ref2.clean!.fp).toBe('f'.repeat(64));
    expect((await loadState(repo.blobs, ref2)).state).toEqual(next); // fingerprint included
  });

  it('a run\'s changes save to the same buckets as the whole merged state, without reading the other datums', async () => {
    const { repo } = await fx.create();
    const ref = await saveState(repo.blobs, { clean: stage(1000) }, { state: {}, ref: {} });
    const loaded = await loadState(repo.blobs, ref);
    const from = loaded.state.clean!.datums;
    const ids = new Map<string, DatumState | null>([['raw/0007.csv', datum('raw/0007.csv', 2)], ['raw/0500.csv', null], ['raw/2000.csv', datum('raw/2000.csv')]]);
    const changed = changedState(from, ids, 'f'.repeat(64));
    // What saving looks at: the changed ids and the buckets they fall in, never the merged record.
    const blind = { ...changed, get datums(): never { throw new Error('read every datum'); } };
    const viaChanges = await saveState(repo.blobs, { clean: blind }, loaded);
    const merged: Record<string, DatumState> = { ...from, 'raw/0007.csv': datum('raw/0007.csv', 2), 'raw/2000.csv': datum('raw/2000.csv') };
    delete merged['raw/0500.csv'];
    expect(changed.datums).toEqual(merged);
    expect(viaChanges).toEqual(await saveState(repo.blobs, { clean: { datums: merged, fp: 'f'.repeat(64) } }, loaded));
    repo.blobs.flush();
    expect((await loadState(repo.blobs, viaChanges)).state.clean!.datums).toEqual(merged);
    // Grown past its bucket count, the stage is laid out anew from the merged record.
    const many = new Map<string, DatumState | null>(Array.from({ length: 3000 }, (_, i) => [`new/${i}.csv`, datum(`new/${i}.csv`)]));
    const grown = await saveState(repo.blobs, { clean: changedState(from, many) }, loaded);
    expect(grown.clean!.bits).toBe(bucketBits(4000));
    repo.blobs.flush();
    expect(Object.keys((await loadState(repo.blobs, grown)).state.clean!.datums)).toHaveLength(4000);
  });

  it('relayouts when a stage grows past its bucket count, and drops removed stages', async () => {
    const { repo } = await fx.create();
    const small = await saveState(repo.blobs, { clean: stage(10), old: stage(2) }, { state: {}, ref: {} });
    const loaded = await loadState(repo.blobs, small);
    expect(small.clean!.bits).toBe(0);
    const big = await saveState(repo.blobs, { clean: stage(5000) }, loaded);
    expect(big.clean!.bits).toBe(bucketBits(5000));
    expect(bucketBits(5000)).toBeGreaterThan(0);
    expect(Object.keys(big)).toEqual(['clean']);
    expect((await loadState(repo.blobs, big)).state).toEqual({ clean: stage(5000) });
  });

  it('a damaged bucket is a corruption error naming it, not an empty state', async () => {
    const { repo } = await fx.create();
    const ref = await saveState(repo.blobs, { clean: stage(3) }, { state: {}, ref: {} });
    const bad = { clean: { bits: 0, buckets: ['0'.repeat(64)] } };
    await expect(loadState(repo.blobs, bad)).rejects.toThrow(/0{64}/);
    expect((await loadState(repo.blobs, ref)).state.clean!.datums['raw/0001.csv']).toEqual(datum('raw/0001.csv'));
  });
});
