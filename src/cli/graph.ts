// `dv log --graph`: the commit graph as text columns, as git draws it. Commits come
// newest first (children before parents); each column holds the commit expected
// next on that line of history. A merge opens a column for its second parent (`|\`),
// and two columns that come to wait for the same commit join (`|/`).
export interface GraphCommit {
  id: string;
  parents: string[];
}

/** One prefix per commit (`* `, `| * `), plus connector lines to print before the next commit. */
export function graphLines(commits: GraphCommit[]): { prefix: string; after: string[] }[] {
  let lanes: (string | null)[] = [];
  const out: { prefix: string; after: string[] }[] = [];
  const row = (mark: (i: number) => string) => lanes.map((_, i) => mark(i)).join(' ').trimEnd();
  // A connector sits between two columns, as git draws `|\` and `|/`.
  const connector = (at: number[], char: string) => {
    const cells = lanes.map((l, i) => (l && !at.includes(i) ? '|' : ' ')).join(' ').split('');
    for (const i of at) cells[2 * i - 1] = char;
    return cells.join('').trimEnd();
  };
  for (const c of commits) {
    let col = lanes.indexOf(c.id);
    if (col < 0) { col = lanes.indexOf(null); if (col < 0) col = lanes.length; lanes[col] = c.id; }
    const prefix = row((i) => (i === col ? '*' : lanes[i] ? '|' : ' ')) + ' ';
    const after: string[] = [];
    lanes[col] = c.parents[0] ?? null;
    for (const p of c.parents.slice(1)) {
      if (lanes.includes(p)) continue;
      const free = lanes.indexOf(null, col + 1);
      const at = free < 0 ? lanes.length : free;
      lanes[at] = p;
      after.push(connector([at], '\\'));
    }
    // Two columns now waiting for the same commit: the right one closes into the left.
    const closing = lanes.map((l, i) => (l !== null && lanes.indexOf(l) < i ? i : -1)).filter((i) => i >= 0);
    if (closing.length) {
      after.push(connector(closing, '/'));
      for (const i of closing) lanes[i] = null;
    }
    while (lanes.length && lanes[lanes.length - 1] === null) lanes = lanes.slice(0, -1);
    out.push({ prefix, after });
  }
  return out;
}
