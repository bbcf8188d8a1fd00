// Hooks: `hooks: {on_success: CMD, on_failure: CMD}` per stage and for the whole run,
// run with /bin/sh from the project root once the stage (or run) has its status, with
// DV_* variables saying what happened. A hook that fails is reported in the run record
// and to the caller; it never changes the run's status.
import { spawn } from 'node:child_process';
import type { Hooks, StageRunRecord } from './types.js';

export interface HookResult {
  /** Null for a run-level hook. */
  stage: string | null;
  event: 'on_success' | 'on_failure';
  cmd: string;
  exitCode: number | null;
  /** Why it failed, null when it exited 0. */
  error: string | null;
  /** The last 4 KiB of its stdout and stderr. */
  output: string;
}

export interface HookContext {
  root: string;
  runId: string;
  status: string;
  stage: string | null;
  counts: StageRunRecord['counts'];
}

const MAX_OUTPUT = 4096;

function hookEnv(c: HookContext): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DV_RUN_ID: c.runId, DV_STATUS: c.status, DV_STAGE: c.stage ?? '', DV_WORKSPACE: c.root,
    DV_COUNT_RUN: String(c.counts.run), DV_COUNT_CACHED: String(c.counts.cached), DV_COUNT_REUSED: String(c.counts.reused),
    DV_COUNT_REMOVED: String(c.counts.removed), DV_COUNT_FAILED: String(c.counts.failed),
  };
}

/** Runs the hook for the status, if the stage or run has one. */
export function runHook(hooks: Hooks, c: HookContext): Promise<HookResult | null> {
  const event = c.status === 'succeeded' ? 'on_success' : 'on_failure';
  const cmd = event === 'on_success' ? hooks.onSuccess : hooks.onFailure;
  if (!cmd) return Promise.resolve(null);
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const child = spawn('/bin/sh', ['-c', cmd], { cwd: c.root, env: hookEnv(c), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => out.push(b));
    const done = (exitCode: number | null, error: string | null): void => {
      const all = Buffer.concat(out);
      resolve({ stage: c.stage, event, cmd, exitCode, error, output: all.subarray(Math.max(0, all.length - MAX_OUTPUT)).toString('utf8') });
    };
    child.once('error', (e) => done(null, `could not start: ${e.message}`));
    child.once('close', (code, sig) => done(code, code === 0 ? null : sig ? `killed by ${sig}` : `exited with status ${code}`));
  });
}
