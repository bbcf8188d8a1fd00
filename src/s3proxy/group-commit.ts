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
//
// Batches alone cannot bound the number of commits: a client with C requests in flight
// gives batches of at most C writes (aws s3 sync: 10). So a batch is folded into the
// branch's previous group commit when that one is still open: made by this server,
// still the branch head, not pushed, fewer than GROUP_MAX_WRITES writes, its last
// write at most GROUP_IDLE_MS ago, and both it and the batch overlapped other writes
// in flight (a client writing one key after the other keeps a commit per write). The
// head is then replaced by a commit with the same parents holding both (the replaced
// one stays in the reflog, readable by id). A stream of concurrent writes thus makes
// one commit per GROUP_MAX_WRITES writes whatever the timing; a pause of
// GROUP_IDLE_MS or a lone write closes the group.
import type { Actor } from '../repo/protect.js';
import { CommitConflict, type CommitOptions, type CommitResult, type FileChange, type ProxyBackend } from './types.js';

const WAIT_SOME_MS = 5;
const WAIT_MAX_MS = 250;
const PEAK_WINDOW_MS = 2_000;
const GROUP_MAX_WRITES = 100;
const GROUP_IDLE_MS = 2_000;

/** The last group commit of a branch, while further writes may still join it. */
interface OpenGroup {
  id: string;
  writes: number;
  messages: string[];
  last: number;
  /** Other writes were in flight while it was made. */
  concurrent: boolean;
}

interface Waiter {
  changes: Map<string, FileChange | null>;
  message: string;
  opts: CommitOptions;
  resolve(r: CommitResult): void;
  reject(e: unknown): void;
  queued: number;
}

class BranchQueue {
  /** Who writes through this queue: writes of different keys never share a commit. */
  constructor(readonly key: string, readonly actor: Actor | undefined) {}
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
  private readonly open = new Map<string, OpenGroup>();
  /** Commits made, for tests and the bench. */
  commits = 0;

  constructor(private readonly backend: ProxyBackend, private readonly now = Date.now) {}

  /** `actor`: writes of different keys never share a commit, so each commit names its writer. */
  begin(repo: string, branch: string, actor?: Actor): PendingWrite {
    const key = `${repo}\0${branch}\0${actor?.key ?? ''}`;
    let q = this.branches.get(key);
    if (!q) this.branches.set(key, (q = new BranchQueue(key, actor)));
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
        this.kick(repo, branch, bq);
      }),
      end: () => {
        if (ended) return;
        ended = true;
        bq.active--;
        if (bq.active === 0 && bq.queue.length === 0 && !bq.running) this.branches.delete(key);
        else this.kick(repo, branch, bq);
      },
    };
  }

  private kick(repo: string, branch: string, q: BranchQueue): void {
    if (q.running || q.queue.length === 0) return;
    const waited = this.now() - q.queue[0]!.queued;
    // Writes in flight that are not yet waiting for a commit (still sending their body).
    const sending = q.active - q.queue.length;
    const ready = waited >= WAIT_MAX_MS || (sending <= 0 && (q.queue.length >= q.peak || waited >= WAIT_SOME_MS));
    clearTimeout(q.timer);
    if (!ready) {
      const next = sending <= 0 ? WAIT_SOME_MS - waited : WAIT_MAX_MS - waited;
      q.timer = setTimeout(() => this.kick(repo, branch, q), Math.max(1, next));
      return;
    }
    q.running = true;
    const batch = takeBatch(q.queue);
    this.run(repo, branch, batch, q).finally(() => {
      q.running = false;
      this.kick(repo, branch, q);
    });
  }

  /** The branch's group commit that `n` more writes may join, if any. */
  private openGroup(key: string, n: number): OpenGroup | undefined {
    const g = this.open.get(key);
    if (g && g.concurrent && this.now() - g.last <= GROUP_IDLE_MS && g.writes + n <= GROUP_MAX_WRITES) return g;
    this.open.delete(key);
    return undefined;
  }

  /** Commits a batch; on a failed precondition, answers that write and retries the rest. */
  private async run(repo: string, branch: string, batch: Waiter[], q: BranchQueue): Promise<void> {
    while (batch.length > 0) {
      const changes = new Map<string, FileChange | null>();
      const expect = new Map<string, (cur: import('../repo/types.js').FileEntry | null) => boolean>();
      for (const w of batch) {
        for (const [p, c] of w.changes) { changes.delete(p); changes.set(p, c); }
        for (const [p, f] of w.opts.expect ?? []) expect.set(p, f);
      }
      const mine = batch.map((w) => w.message);
      const message = batch.length === 1 ? mine[0]! : batchMessage(mine, mine.length);
      const key = q.key;
      const overlapped = () => batch.length > 1 || q.active > batch.length;
      const concurrent = overlapped();
      const g = concurrent ? this.openGroup(key, batch.length) : undefined;
      try {
        const r = await this.backend.commit(repo, branch, changes, message, {
          expect: expect.size ? expect : undefined, skipUnchanged: true, actor: q.actor,
          ...(g ? { amend: g.id, amendMessage: batchMessage([...g.messages, ...mine], g.writes + batch.length) } : {}),
        });
        if (r.created !== false) {
          const open = { id: r.commit, last: this.now(), concurrent: concurrent || overlapped() };
          if (r.amended && g) Object.assign(g, { ...open, writes: g.writes + batch.length, messages: [...g.messages, ...mine].slice(0, 3) });
          else {
            this.commits++;
            this.open.set(key, { ...open, writes: batch.length, messages: mine.slice(0, 3) });
          }
        }
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

/** `count` writes, of which `messages` are the first (up to 3 are shown). */
function batchMessage(messages: string[], count: number): string {
  const shown = messages.slice(0, 3).map((m) => m.replace(/^dv serve: /, '')).join('; ');
  return `dv serve: ${count} writes: ${shown}${count > 3 ? '; ...' : ''}`;
}
