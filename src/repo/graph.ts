// Commit-graph questions asked by checkout, branch -d and merge: which commits only a
// given tip reaches, and where two lines of history meet. Both walk newest first from
// all starting points at once, painting each commit with the sides that reach it (as
// git's paint-down does), so they stop near the tips instead of walking all history.
import type { Repo } from './repo.js';

const TIP = 1;
const OTHER = 2;

interface Painted {
  id: string;
  time: number;
}

class Painter {
  readonly flags = new Map<string, number>();
  private queue: Painted[] = [];

  constructor(private repo: Repo) {}

  async add(id: string, flag: number): Promise<void> {
    const had = this.flags.get(id) ?? 0;
    if ((had | flag) === had) return;
    this.flags.set(id, had | flag);
    // A commit this repository lacks (history behind a shallow fetch) ends its line.
    if (!this.repo.objects.isCommit(id)) return;
    const time = Date.parse((await this.repo.readCommit(id)).time);
    this.queue.push({ id, time });
    this.queue.sort((a, b) => a.time - b.time); // small: the frontier of the walk
  }

  /** Pops the newest commit still to paint; undefined when done. */
  next(): Painted | undefined {
    return this.queue.pop();
  }

  /** Whether a commit only the tip reaches is still waiting. */
  tipOnlyPending(): boolean {
    return this.queue.some((p) => this.flags.get(p.id) === TIP);
  }

  async paintParents(p: Painted): Promise<void> {
    const f = this.flags.get(p.id)!;
    for (const parent of (await this.repo.readCommit(p.id)).parents) await this.add(parent, f);
  }
}

/** Commits reachable from `tip` but from none of `others` (newest first). */
export async function onlyReachableFrom(repo: Repo, tip: string, others: string[]): Promise<string[]> {
  const painter = new Painter(repo);
  await painter.add(tip, TIP);
  for (const o of others) await painter.add(o, OTHER);
  const candidates: string[] = [];
  while (painter.tipOnlyPending()) {
    const p = painter.next()!;
    if (painter.flags.get(p.id) === TIP) candidates.push(p.id);
    await painter.paintParents(p);
  }
  return candidates.filter((id) => painter.flags.get(id) === TIP);
}

/** The newest common ancestor of `a` and `b`, or null when their histories never meet. */
export async function mergeBase(repo: Repo, a: string, b: string): Promise<string | null> {
  if (a === b) return a;
  const painter = new Painter(repo);
  await painter.add(a, TIP);
  await painter.add(b, OTHER);
  for (let p = painter.next(); p; p = painter.next()) {
    if (painter.flags.get(p.id) === (TIP | OTHER)) return p.id;
    await painter.paintParents(p);
  }
  return null;
}

/** Whether `ancestor` is `descendant` or reachable from it. */
export async function isAncestorOf(repo: Repo, ancestor: string, descendant: string): Promise<boolean> {
  return (await mergeBase(repo, ancestor, descendant)) === ancestor;
}
