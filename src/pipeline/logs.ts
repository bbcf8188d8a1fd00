// dv runs logs ID [DATUM] [--follow]: the captured output of a run's datums. A finished
// run has them in its record; while a run goes on, finished datums are in its journal
// (.dv/tmp/run-<id>.jsonl, removed once the record is written) and running ones write
// .dv-stdout/.dv-stderr in their scratch directories (.dv/tmp/job-*, named by
// .dv-job.json). The live progress line reads the last line of those too.
import fs from 'node:fs';
import path from 'node:path';
import type { Repo } from '../repo/repo.js';
import { DvError } from '../store/errors.js';
import { JOB_FILE } from './executor.js';
import { PipelineStore } from './records.js';

export interface LogEntry {
  stage: string;
  datum: string;
  status: string;
  /** Command, attempts and captured stdout/stderr (for a running datum: its output so far). */
  text: string;
}

export interface RunLogs {
  runId: string;
  running: boolean;
  entries: LogEntry[];
}

export interface RunningJob {
  runId: string;
  stage: string;
  datum: string;
  attempt: number;
  startedAt: string;
  stdout: string;
  stderr: string;
}

const tmpOf = (repo: Repo): string => path.join(repo.dvDir, 'tmp');

export function journalPath(repo: Repo, runId: string): string {
  return path.join(tmpOf(repo), `run-${runId}.jsonl`);
}

function readText(file: string, maxBytes = 1 << 20): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const n = Math.min(size, maxBytes);
      const buf = Buffer.alloc(n);
      fs.readSync(fd, buf, 0, n, size - n);
      return buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

/** Jobs running now (of one run, or all), with their output so far. */
export function runningJobs(repo: Repo, runId?: string, maxBytes?: number): RunningJob[] {
  const out: RunningJob[] = [];
  let names: string[] = [];
  try {
    names = fs.readdirSync(tmpOf(repo)).filter((n) => n.startsWith('job-'));
  } catch {
    return out;
  }
  for (const n of names.sort()) {
    const dir = path.join(tmpOf(repo), n);
    let job: Omit<RunningJob, 'stdout' | 'stderr'>;
    try {
      job = JSON.parse(fs.readFileSync(path.join(dir, JOB_FILE), 'utf8')) as typeof job;
    } catch {
      continue; // a spare scratch directory, or one being removed
    }
    if (!job.runId) continue; // a scratch directory between jobs
    if (runId && job.runId !== runId) continue;
    out.push({ ...job, stdout: readText(path.join(dir, '.dv-stdout'), maxBytes), stderr: readText(path.join(dir, '.dv-stderr'), maxBytes) });
  }
  return out;
}

function journal(repo: Repo, runId: string): LogEntry[] {
  const text = readText(journalPath(repo, runId), 64 << 20);
  return text.split('\n').filter(Boolean).flatMap((l) => {
    try {
      const e = JSON.parse(l) as { stage: string; datum: string; status: string; log: string | null };
      return [{ stage: e.stage, datum: e.datum, status: e.status, text: e.log ?? '' }];
    } catch {
      return []; // a line being written
    }
  });
}

/** Runs going on now: those with a journal in .dv/tmp, or a job running (before the first datum finished there is no journal yet). */
export function liveRuns(repo: Repo): string[] {
  let journals: string[] = [];
  try {
    journals = fs.readdirSync(tmpOf(repo)).filter((n) => /^run-[0-9a-f]{64}\.jsonl$/.test(n)).map((n) => n.slice(4, -6));
  } catch {
    return [];
  }
  return [...new Set([...journals, ...runningJobs(repo, undefined, 0).map((j) => j.runId)])];
}

const wanted = (e: { stage: string; datum: string }, datum?: string): boolean =>
  !datum || e.datum === datum || `${e.stage}:${e.datum}` === datum || (e.datum === '' && e.stage === datum);

export async function runLogs(repo: Repo, id: string, datum?: string): Promise<RunLogs> {
  const live = liveRuns(repo).filter((r) => r.startsWith(id));
  if (live.length > 1) throw new DvError(`run id '${id}' is ambiguous`);
  if (live.length === 1) {
    const runId = live[0]!;
    const entries = journal(repo, runId).filter((e) => wanted(e, datum));
    const finished = new Set(entries.map((e) => `${e.stage}:${e.datum}`));
    const jobs = runningJobs(repo, runId).sort((a, b) => (`${a.stage}:${a.datum}` < `${b.stage}:${b.datum}` ? -1 : 1));
    for (const j of jobs) {
      if (!wanted(j, datum) || finished.has(`${j.stage}:${j.datum}`)) continue;
      entries.push({ stage: j.stage, datum: j.datum, status: 'running', text: `# attempt ${j.attempt}, running since ${j.startedAt}\n--- stdout ---\n${j.stdout}\n--- stderr ---\n${j.stderr}` });
    }
    return { runId, running: true, entries };
  }
  const store = new PipelineStore(repo);
  await store.sync();
  const record = await store.readRecord(store.resolveRun(id));
  const entries: LogEntry[] = [];
  for (const s of record.stages) {
    for (const d of s.datums) {
      if (!d.log || !wanted({ stage: s.name, datum: d.id }, datum)) continue;
      entries.push({ stage: s.name, datum: d.id, status: d.status, text: await store.readLog(d.log) });
    }
  }
  if (datum && entries.length === 0 && !record.stages.some((s) => s.datums.some((d) => wanted({ stage: s.name, datum: d.id }, datum)))) {
    throw new DvError(`run ${id}: no datum '${datum}'`);
  }
  return { runId: record.id, running: false, entries };
}

/**
 * Calls `onEntry` for each datum's log as it becomes final (journal, then record), and
 * `onOutput` with new output of running datums, until the run ends or `signal` aborts.
 */
export async function followLogs(repo: Repo, id: string, datum: string | undefined,
  onEntry: (e: LogEntry) => void, onOutput: (job: string, text: string) => void, signal?: AbortSignal, everyMs = 250): Promise<RunLogs> {
  const seen = new Set<string>();
  const offsets = new Map<string, number>();
  for (;;) {
    const logs = await runLogs(repo, id, datum);
    for (const e of logs.entries) {
      const key = `${e.stage}:${e.datum}`;
      if (e.status === 'running') {
        const from = offsets.get(key) ?? 0;
        const out = runningJobs(repo, logs.runId).find((j) => j.stage === e.stage && j.datum === e.datum)?.stdout ?? '';
        if (out.length > from) onOutput(key, out.slice(from));
        offsets.set(key, out.length);
      } else if (!seen.has(key)) {
        seen.add(key);
        onEntry(e);
      }
    }
    if (!logs.running || signal?.aborted) return logs;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
