// `dv log --graph`: the commit graph as text columns, as git draws it. Commits come
// newest first (children before parents); each column holds the commit expected
// next on that line of history. A merge opens a column for its second parent (`|\`),
// and columns that reach the same commit close into it (`|/`).
export interface GraphCommit {
  id: string;
  parents: string[];
}

/** One prefix per commit (`* `, `| * `), plus connector lines to print before the next commit. */
export function graphLines(commits: GraphCommit[]): { prefix: string; after: string[] }[] {
  let lanes: (string | null)[] = [];
  const out: { prefix: string; after: string[] }[] = [];
  const row = (mark: (i: number) => string) => lanes.map((_, i) => mark(i)).join(' ').trimEnd();
  for (const c of commits) {
    let col = lanes.indexOf(c.id);
    if (col < 0) { col = lanes.indexOf(null); if (col < 0) col = lanes.length; lanes[col] = c.id; }
    const prefix = row((i) => (i === col ? '*' : lanes[i] ? '|' : ' ')) + ' ';
    const after: string[] = [];
    // Other columns waiting for this commit end here.
    const closing = lanes.map((l, i) => (l === c.id && i !== col ? i : -1)).filter((i) => i >= 0);
    if (closing.length) {
      after.push(row((i) => (closing.includes(i) ? '/' : lanes[i] ? '|' : ' ')));
      for (const i of closing) lanes[i] = null;
    }
    lanes[col] = c.parents[0] ?? null;
    for (const p of c.parents.slice(1)) {
      if (lanes.includes(p)) continue;
      const free = lanes.indexOf(null, col + 1);
      const at = free < 0 ? lanes.length : free;
      lanes[at] = p;
      after.push(row((i) => (i === at ? '\\' : lanes[i] ? '|' : ' ')));
    }
    while (lanes.length && lanes[lanes.length - 1] === null) lanes = lanes.slice(0, -1);
    out.push({ prefix, after });
  }
  return out;
}
