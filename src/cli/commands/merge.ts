// merge, reflog
import type { Command } from 'commander';
import { intArg } from '../args.js';
import { withRepo, type GlobalOptions } from '../context.js';
import { printJson, println, shortId } from '../output.js';
import { DvError } from '../../store/errors.js';

export function register(program: Command, g: () => GlobalOptions): void {
  program.command('merge')
    .description('merge BRANCH (or any ref) into the checked-out branch: fast-forward, else a two-parent commit')
    .argument('[ref]')
    .option('-m, --message <msg>', 'message of the merge commit')
    .option('--resolve', 'on conflicts, write the merge with our side at each conflict and let dv checkout --ours|--theirs resolve them')
    .option('--abort', 'give up a merge in progress: the workspace back to HEAD')
    .option('--json', 'print JSON')
    .action((ref: string | undefined, o) => withRepo(g(), async (repo) => {
      const { merge, abortMerge } = await import('../../repo/merge.js');
      if (o.abort) { await abortMerge(repo); if (!g().quiet) println('merge aborted; the workspace matches HEAD'); return; }
      if (!ref) throw new DvError('give the branch or ref to merge', 2);
      const r = await merge(repo, ref, { message: o.message, resolve: o.resolve });
      if (o.json) printJson(r);
      else if (r.status === 'up-to-date') { if (!g().quiet) println(`already up to date with ${ref}`); }
      else if (r.status === 'fast-forward') { if (!g().quiet) println(`fast-forward to ${shortId(r.commit!)}: ${r.written.length} written, ${r.removed.length} removed`); }
      else if (r.status === 'merged') { if (!g().quiet) println(`merged ${ref}: ${shortId(r.commit!)} (${r.written.length} written, ${r.removed.length} removed)`); }
      if (r.status !== 'conflicts') return;
      if (!o.json) {
        process.stderr.write(`merge of ${ref} stopped: ${r.conflicts.length} path(s) changed differently on both sides:\n`);
        for (const p of r.conflicts) process.stderr.write(`  both modified: ${p}\n`);
        process.stderr.write(o.resolve
          ? "our version is in the workspace; take a side with 'dv checkout --ours|--theirs PATH', then 'dv commit' (or 'dv merge --abort')\n"
          : `nothing was changed; to resolve: 'dv merge ${ref} --resolve', then 'dv checkout --ours|--theirs PATH' and 'dv commit'\n`);
      }
      process.exitCode = 1;
    }));

  program.command('reflog')
    .description('where a branch or HEAD has been (default HEAD), newest first; REF@{N} names those positions')
    .argument('[ref]', 'HEAD or a branch', 'HEAD')
    .option('-n, --max-count <n>', 'show at most N entries', intArg(0))
    .option('--json', 'print JSON')
    .action((ref: string, o) => withRepo(g(), async (repo) => {
      const log = ref === 'HEAD' ? 'HEAD' : `heads/${ref.replace(/^heads\//, '')}`;
      const entries = repo.refs.reflog(log, o.maxCount ?? -1);
      if (o.json) { printJson(entries.map((e, i) => ({ ...e, selector: `${ref}@{${i}}` }))); return; }
      entries.forEach((e, i) => println(`${e.new ? shortId(e.new) : '(deleted)'} ${ref}@{${i}}: ${e.message}  (${e.time})`));
    }));
}
