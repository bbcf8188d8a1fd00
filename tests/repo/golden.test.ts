// Pins the ids dv computes for the committed fixture: a change to the canonical tree
// encoding, the chunker parameters or the hash would change every id users have
// stored, so it must show up here first (and be a deliberate format change).
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createBLAKE3 } from 'hash-wasm';
import { add } from '../../src/repo/snapshot.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { RepoFixtures } from '../helpers/repo.js';

const fx = new RepoFixtures();
afterEach(() => fx.closeAll());

const FIXTURE = path.join(REPO_ROOT, 'fixtures', 'weather');

describe('format stability on fixtures/weather', () => {
  it('gives the same tree ids and file checksums as when the format was frozen', async () => {
    const { root, repo } = await fx.create();
    fs.cpSync(FIXTURE, path.join(root, 'data'), { recursive: true });
    await add(repo, ['data']);
    const commit = await repo.readCommit(repo.headCommit()!);
    const data = await repo.lookup(repo.headCommit()!, 'data');
    const stations = await repo.lookup(repo.headCommit()!, 'data/stations');
    const alpha = await repo.lookup(repo.headCommit()!, 'data/stations/alpha.csv');
    const script = await repo.lookup(repo.headCommit()!, 'data/clean.sh');

    // The file checksum is plain BLAKE3 of the content, as any other BLAKE3 tool computes it.
    const h = await createBLAKE3();
    h.init();
    h.update(fs.readFileSync(path.join(FIXTURE, 'stations', 'alpha.csv')));
    expect(alpha).toMatchObject({ type: 'file', size: 84, mode: 0o644, hash: h.digest('hex') });
    expect(script).toMatchObject({ type: 'file', mode: 0o755 });

    expect({
      root: commit.tree,
      data: data?.type === 'dir' ? data.tree : null,
      stations: stations?.type === 'dir' ? stations.tree : null,
      alpha: alpha?.type === 'file' ? alpha.hash : null,
    }).toEqual(GOLDEN);
  });
});

const GOLDEN = {
  root: '33df46d64d1f0d534017e49cdb10b9a002ccbd1ac52c5f478d7a84e8056b0c4b',
  data: '9f73bdde836ffb42d011f90d24cee6f80dabdebe9f0e7cb49c16aeeb7a898793',
  stations: 'a1ed4a8bace9b2cae32b335e6b304ebc3ffc47ebf396a0d3047437e3a2a54a4e',
  alpha: '1ce0bd29d3a2fa8ff9bb39747040b9a3e8f789866d62c18ded7cbc293c16503e',
};
