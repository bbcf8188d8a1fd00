// What the live progress line of `dv run` shows, as data: the stage running, datums
// done / total, running, cached, failed, the rate and an ETA, and the last line of
// output of a running datum. Fed with the run's events; the CLI draws it on a TTY.
import type { RunEvent } from './stage-run.js';

export interface ProgressSnapshot {
  stage: string | null;
  done: number;
  total: number;
  running: number;
  cached: number;
  failed: number;
  /** Datums finished per second in this stage (commands that ran, not cache hits). */
  rate: number | null;
  etaSec: number | null;
}

export class RunProgress {
  private stage: string | null = null;
  private total = 0;
  private done = 0;
  private running = 0;
  private cached = 0;
  private failed = 0;
  private ran = 0;
  private stageStart = Date.now();

  constructor(private readonly now: () => number = Date.now) {}

  onEvent(e: RunEvent): void {
    if (e.type === 'plan') {
      this.stage = e.stage;
      this.total = e.plan.counts.run + e.plan.counts.cached;
      this.done = this.running = this.cached = this.failed = this.ran = 0;
      this.stageStart = this.now();
    } else if (e.type === 'start') this.running++;
    else if (e.type === 'done') {
      this.done++;
      if (e.status === 'cached') this.cached++;
      else {
        this.running = Math.max(0, this.running - 1);
        if (e.status === 'failed' || e.status === 'cancelled') this.failed++;
        else this.ran++;
      }
    }
  }

  snapshot(): ProgressSnapshot {
    const secs = (this.now() - this.stageStart) / 1000;
    const rate = this.ran > 0 && secs > 0 ? this.ran / secs : null;
    const left = this.total - this.done;
    return {
      stage: this.stage, done: this.done, total: this.total, running: this.running, cached: this.cached, failed: this.failed,
      rate, etaSec: rate ? left / rate : null,
    };
  }
}

/** The last non-empty line of some output, trimmed to `max` characters. */
export function lastLine(text: string, max = 60): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const l = lines[lines.length - 1] ?? '';
  return l.length > max ? l.slice(0, max - 1) + '…' : l;
}
