// Group commit of concurrent writes to one branch, as a database groups concurrent
// transactions: writes that are ready while a commit is running (or arrive within a
// few milliseconds of each other) become one commit, so `aws s3 sync` of 1,000
// files makes about 1000 / (client concurrency) commits instead of 1,000. Each
// write still answers only after the commit holding it is durable and the branch
// points at it (read-your-writes), and each keeps its own preconditions: writes
// whose paths overlap a conditional write go to the next commit, and a batch whose
// precondition fails is retried without the write that failed.
//
// When to close a batch: once every write in flight on the branch is waiting for
// its commit and the batch is as large as the branch's recent peak of concurrent
// writes, or after WAIT_SOME_MS when every write in flight is waiting, or after
// WAIT_MAX_MS regardless (writes still sending their body will want a commit too:
// waiting for them is cheaper than a commit each). A lone sequential client never waits.
import type { Actor } from '../repo/protect.js';
import { CommitConflict, type CommitOptions, type CommitResult, type FileChange, type ProxyBackend } from './types.js';

const WAIT_SOME_MS = 5;
const WAIT_MAX_MS = 250;
const PEAK_WINDOW_MS = 2_000;

interface Waiter {
  changes: Map<string, FileChange | null>;
  message: string;
  opts: CommitOptions;
  resolve(r: CommitResult): void;
  reject(e: unknown): void;
  queued: number;
}

class BranchQueue {
  active = 0;
  peak = 1;
  peakAt = 0;
  queue: Waiter[] = [];
  running = false;
  timer: NodeJS.Timeout | undefined;
}

/** A write that may end in a commit: obtained before its body is read, ended when answered. */
export interface PendingWrite {
  commit(changes: Map<string, FileChange | null>, message: string, opts?: CommitOptions): Promise<CommitResult>;
  end(): void;
}

export class GroupCommits {
  private readonly branches = new Map<string, BranchQueue>();
  /** Commits made, for tests and the bench. */
  commits = 0;

  constructor(private readonly backend: ProxyBackend, private readonly now = Date.now) {}

  /** `actor`: writes of different keys never share a commit, so each commit names its writer. */
  begin(repo: string, branch: string, actor?: Actor): PendingWrite {
    const key = `${repo}\0${branch}\0${actor?.key ?? ''}`;
    let q = this.branches.get(key);
    if (!q) this.branches.set(key, (q = new BranchQueue()));
    const bq = q;
    bq.active++;
    const t = this.now();
    if (bq.active >= bq.peak || t - bq.peakAt > PEAK_WINDOW_MS) {
      bq.peak = t - bq.peakAt > PEAK_WINDOW_MS ? Math.max(1, bq.active) : bq.active;
      bq.peakAt = t;
    }
    let ended = false;
    return {
      commit: (changes, message, opts = {}) => new Promise<CommitResult>((resolve, reject) => {
        bq.queue.push({ changes, message, opts, resolve, reject, queued: this.now() });
        this.kick(repo, branch, bq, actor);
      }),
      end: () => {
        if (ended) return;
        ended = true;
        bq.active--;
        if (bq.active === 0 && bq.queue.length === 0 && !bq.running) this.branches.delete(key);
        else this.kick(repo, branch, bq, actor);
      },
    };
  }

  private kick(repo: string, branch: string, q: BranchQueue, actor?: Actor): void {
    if (q.running || q.queue.length === 0) return;
    const waited = this.now() - q.queue[0]!.queued;
    // Writes in flight that are not yet waiting for a commit (still sending their body).
    const sending = q.active - q.queue.length;
    const ready = waited >= WAIT_MAX_MS || (sending <= 0 && (q.queue.length >= q.peak || waited >= WAIT_SOME_MS));
    clearTimeout(q.timer);
    if (!ready) {
      const next = sending <= 0 ? WAIT_SOME_MS - waited : WAIT_MAX_MS - waited;
      q.timer = setTimeout(() => this.kick(repo, branch, q, actor), Math.max(1, next));
      return;
    }
    q.running = true;
    const batch = takeBatch(q.queue);
    this.run(repo, branch, batch, actor).finally(() => {
      q.running = false;
      this.kick(repo, branch, q, actor);
    });
  }

  /** Commits a batch; on a failed precondition, answers that write and retries the rest. */
  private async run(repo: string, branch: string, batch: Waiter[], actor?: Actor): Promise<void> {
    while (batch.length > 0) {
      const changes = new Map<string, FileChange | null>();
      const expect = new Map<string, (cur: import('../repo/types.js').FileEntry | null) => boolean>();
      for (const w of batch) {
        for (const [p, c] of w.changes) { changes.delete(p); changes.set(p, c); }
        for (const [p, f] of w.opts.expect ?? []) expect.set(p, f);
      }
      const message = batch.length === 1 ? batch[0]!.message : batchMessage(batch.map((w) => w.message));
      try {
        const r = await this.backend.commit(repo, branch, changes, message, { expect: expect.size ? expect : undefined, skipUnchanged: true, actor });
        if (r.created !== false) this.commits++;
        for (const w of batch) w.resolve(r);
        return;
      } catch (e) {
        const failed = e instanceof CommitConflict ? batch.find((w) => w.opts.expect?.has(e.path)) : undefined;
        if (!failed || batch.length === 1) {
          for (const w of batch) w.reject(e);
          return;
        }
        failed.reject(e);
        batch = batch.filter((w) => w !== failed);
      }
    }
  }
}

/**
 * The longest prefix of the queue that can share one commit: a conditional write must
 * see the branch as every earlier write left it, so none shares a path with another.
 */
function takeBatch(queue: Waiter[]): Waiter[] {
  const batch: Waiter[] = [];
  const paths = new Set<string>();
  const guarded = new Set<string>();
  while (queue.length > 0) {
    const w = queue[0]!;
    const mine = [...w.changes.keys()];
    const conditional = (w.opts.expect?.size ?? 0) > 0;
    if (batch.length > 0 && mine.some((p) => guarded.has(p) || (conditional && paths.has(p)))) break;
    queue.shift();
    batch.push(w);
    for (const p of mine) {
      paths.add(p);
      if (conditional) guarded.add(p);
    }
  }
  return batch;
}

function batchMessage(messages: string[]): string {
  const shown = messages.slice(0, 3).map((m) => m.replace(/^dv serve: /, '')).join('; ');
  return `dv serve: ${messages.length} writes: ${shown}${messages.length > 3 ? '; ...' : ''}`;
}
