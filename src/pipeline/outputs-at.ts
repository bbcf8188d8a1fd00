// Reading a stage output as of a commit, or in the workspace. Outputs with
// `cache: false` (metrics and plots, usually) are not in the commit's tree, yet every
// output is in the run-cache entry of the datum that produced it, and the commit's
// pipeline state names that entry: so metrics and plots of any revision (an old
// commit, an experiment, a colleague's pulled run) can be read back.
import fs from 'node:fs';
import path from 'node:path';
import type { Repo } from '../repo/repo.js';
import { PipelineStore } from './records.js';
import type { PipelineState, RunRecord } from './types.js';

/** A revision to read: a commit (and the run that made its state), or the workspace. */
export interface Revision {
  /** What the user called it: a ref, an experiment name, or 'workspace'. */
  name: string;
  commit: string | null;
}

/** A revision by name: 'workspace', an experiment (its hidden ref exps/NAME), or any dv ref. */
export async function resolveRevision(repo: Repo, name: string): Promise<Revision> {
  if (name === 'workspace') return { name, commit: null };
  const exp = repo.refs.get(`exps/${name}`);
  return { name, commit: exp ?? (await repo.resolve(name)) };
}

export class OutputReader {
  private states = new Map<string, { state: PipelineState; run: string | null }>();
  constructor(readonly repo: Repo, readonly store: PipelineStore) {}

  static async open(repo: Repo): Promise<OutputReader> {
    const store = new PipelineStore(repo);
    await store.sync();
    return new OutputReader(repo, store);
  }

  async stateAt(commit: string): Promise<{ state: PipelineState; run: string | null }> {
    if (!this.states.has(commit)) {
      const s = await this.store.stateAt(commit);
      this.states.set(commit, { state: s.state, run: s.run });
    }
    return this.states.get(commit)!;
  }

  /** The record of the run whose state a commit carries, or null. */
  async runAt(commit: string): Promise<RunRecord | null> {
    const { run } = await this.stateAt(commit);
    return run ? this.store.readRecord(run).catch(() => null) : null;
  }

  /** Bytes of `rel` at a revision (workspace: the file on disk), or null when there is none. */
  async read(rev: Revision, rel: string): Promise<Buffer | null> {
    if (rev.commit === null) {
      try {
        return fs.readFileSync(path.join(this.repo.root, rel));
      } catch {
        return null;
      }
    }
    const entry = await this.repo.lookup(rev.commit, rel);
    if (entry?.type === 'file') return readAll(this.repo.openFile(entry));
    const { state } = await this.stateAt(rev.commit);
    for (const s of Object.values(state)) {
      for (const d of Object.values(s.datums)) {
        if (d.outputs[rel] === undefined) continue;
        const cached = await this.store.readCacheEntry(d.cacheKey);
        const o = cached?.outputs[rel];
        if (o) return readAll(this.repo.openFile(o));
      }
    }
    return null;
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}
