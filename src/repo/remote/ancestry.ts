// Commit-graph questions push, pull and status ask: is A an ancestor of B, and how
// many commits does each side have that the other lacks.
import { isAncestorOf } from '../graph.js';
import type { Repo } from '../repo.js';

/** Every commit reachable from `start` (inclusive) that exists locally. */
async function ancestors(repo: Repo, start: string | null): Promise<Set<string>> {
  const seen = new Set<string>();
  const stack = start ? [start] : [];
  while (stack.length) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    // A commit we do not have (history behind a shallow fetch) ends that line.
    if (!repo.objects.isCommit(id)) continue;
    stack.push(...(await repo.readCommit(id)).parents);
  }
  return seen;
}

/** True when `ancestor` is `descendant` or one of its ancestors (graph.ts). */
export const isAncestor = isAncestorOf;

/** Commits only in `local` (ahead) and only in `upstream` (behind). */
export async function aheadBehind(repo: Repo, local: string | null, upstream: string | null): Promise<{ ahead: number; behind: number }> {
  if (local === upstream) return { ahead: 0, behind: 0 };
  const a = await ancestors(repo, local);
  const b = await ancestors(repo, upstream);
  let ahead = 0;
  let behind = 0;
  for (const id of a) if (!b.has(id)) ahead++;
  for (const id of b) if (!a.has(id)) behind++;
  return { ahead, behind };
}
