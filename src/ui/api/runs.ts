// /ui/api/runs...: the run list, one run, its datums (paged, with their place on the
// timeline) and a datum's log. Records are immutable, so the last few parsed ones are
// kept: a 10,000-datum record is read once, then each page is a slice of it.
import fs from 'node:fs';
import path from 'node:path';
import { listRuns } from '../../pipeline/history.js';
import { PipelineStore } from '../../pipeline/records.js';
import type { DatumRunRecord, RunRecord } from '../../pipeline/types.js';
import type { Repo } from '../../repo/repo.js';
import { alive } from '../../store/lock.js';
import { checkRunAccess, mayReadRun } from '../access.js';
import { notFound, pageOf, type Query } from '../http.js';
import type { Principal } from '../session.js';
import { schedule, type Slot } from './timeline.js';
import { whoOf, type Who } from './versions.js';

interface Loaded {
  record: RunRecord;
  slots: Map<string, Slot[]>;
}

const CACHE_SIZE = 4;

export class RunsApi {
  private cache = new Map<string, Loaded>();
  private readonly store: PipelineStore;

  constructor(private readonly repo: Repo) {
    this.store = new PipelineStore(repo);
  }

  /** The run in progress, if a `dv run` holds the repository's writer lock. */
  active(): { pid: number; since: string } | null {
    try {
      const info = JSON.parse(fs.readFileSync(path.join(this.repo.dvDir, 'lock'), 'utf8')) as { pid: number; command: string; since: string };
      return info.command === 'run' && alive(info.pid) ? { pid: info.pid, since: info.since } : null;
    } catch {
      return null;
    }
  }

  async list(p: Principal, q: Query): Promise<unknown> {
    const status = q.opt('status');
    const runs = (await listRuns(this.repo)).filter((r) => mayReadRun(p, r.branch) && (!status || r.status === status));
    const page = pageOf(runs, q.page(50, 500));
    const items = [];
    for (const r of page.items) items.push({ ...r, who: r.commit ? await this.who(r.commit) : null });
    return { active: this.active(), ...page, items };
  }

  /** Who made a run's commit (identity, key), null when the commit says nothing of it. */
  private async who(commit: string): Promise<Who | null> {
    try {
      const w = whoOf(await this.repo.readCommit(commit));
      return w.identity === null && w.key === null ? null : w;
    } catch {
      return null;
    }
  }

  private async load(p: Principal, id: string): Promise<Loaded> {
    await this.store.sync();
    let full: string;
    try {
      full = this.store.resolveRun(id);
    } catch {
      throw notFound(`unknown run '${id}'`);
    }
    let hit = this.cache.get(full);
    if (!hit) {
      const record = await this.store.readRecord(full);
      hit = { record, slots: schedule(record) };
      this.cache.set(full, hit);
      if (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
    }
    checkRunAccess(p, hit.record.branch, id);
    return hit;
  }

  /** The record without its datum lists (those are paged by datums()). */
  async run(p: Principal, id: string): Promise<unknown> {
    const { record } = await this.load(p, id);
    const { stages, state: _state, ...rest } = record;
    return {
      ...rest,
      stages: stages.map(({ datums, ...s }) => ({
        ...s, listed: datums.length,
        failed: datums.filter((d) => d.status === 'failed').map((d) => d.id).slice(0, 20),
      })),
    };
  }

  async datums(p: Principal, id: string, q: Query): Promise<unknown> {
    const { record, slots } = await this.load(p, id);
    const name = q.str('stage');
    const stage = record.stages.find((s) => s.name === name);
    if (!stage) throw notFound(`run ${id} has no stage '${name}'`);
    const status = q.opt('status');
    const sl = slots.get(name)!;
    const rows = stage.datums.map((d, i) => ({ d, slot: sl[i]! })).filter((x) => !status || x.d.status === status);
    const page = pageOf(rows, q.page(200, 2000));
    return {
      stage: name, runDurationMs: record.durationMs, estimated: sl.some((s) => s.estimated), ...page,
      items: page.items.map(({ d, slot }) => datumRow(d, slot)),
    };
  }

  async log(p: Principal, id: string, q: Query): Promise<string> {
    const { record } = await this.load(p, id);
    const stage = record.stages.find((s) => s.name === q.str('stage'));
    const datum = stage?.datums.find((d) => d.id === q.str('datum', ''));
    if (!datum) throw notFound('no such datum in this run');
    if (!datum.log) return '';
    return this.store.readLog(datum.log);
  }
}

function datumRow(d: DatumRunRecord, slot: Slot): unknown {
  return {
    id: d.id, status: d.status, attempts: d.attempts, exitCode: d.exitCode, durationMs: d.durationMs,
    startMs: slot.startMs, lane: slot.lane, error: d.error, hasLog: d.log !== null, reasons: d.reasons.map((r) => r.code),
  };
}
