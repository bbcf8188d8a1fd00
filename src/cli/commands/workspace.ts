// init, add, commit, status, diff, checkout. Each action imports the library code it runs
// (areas.ts: start-up pays only for the command being run).
import path from 'node:path';
import type { Command } from 'commander';
import { sizeArg } from '../args.js';
import { Repo } from '../../repo/repo.js';
import { projectPath } from '../../repo/workspace.js';
import { DEFAULT_CHUNKER } from '../../store/chunker.js';
import { DvError } from '../../store/errors.js';
import type { Change } from '../../repo/trees.js';
import type { RemoteStatus } from '../../repo/remote/status.js';
import { withRepo, type GlobalOptions } from '../context.js';
import { ingestHeapPolicy } from '../heap.js';
import { humanBytes, printJson, println, shortId } from '../output.js';


function changeLines(changes: Change[]): string[] {
  const mark = { added: 'A', modified: 'M', deleted: 'D' } as const;
  return changes.map((c) => `${mark[c.status]}  ${c.path}`);
}

export function changeJson(c: Change) {
  return { path: c.path, status: c.status, old: c.old ? { size: c.old.size, hash: c.old.hash, mode: c.old.mode } : null,
    new: c.new ? { size: c.new.size, hash: c.new.hash, mode: c.new.mode } : null };
}

function remoteStatusLine(r: RemoteStatus): string {
  if (!r.tracking) return `${r.remote} has no branch '${r.branch ?? 'HEAD'}' (as of the last fetch); ${r.ahead} local commit(s) not pushed`;
  const n = (k: number) => `${k} commit${k === 1 ? '' : 's'}`;
  if (r.ahead && r.behind) return `Your branch and '${r.tracking}' have diverged: ${n(r.ahead)} ahead, ${n(r.behind)} behind`;
  if (r.ahead) return `Your branch is ahead of '${r.tracking}' by ${n(r.ahead)}`;
  if (r.behind) return `Your branch is behind '${r.tracking}' by ${n(r.behind)}`;
  return `Your branch is up to date with '${r.tracking}'`;
}

export function register(program: Command, g: () => GlobalOptions): void {
  program.command('init')
    .description('create a dv repository (.dv/) in the current directory')
    .option('--chunk-min <size>', 'FastCDC minimum chunk size', sizeArg)
    .option('--chunk-avg <size>', 'FastCDC average chunk size', sizeArg)
    .option('--chunk-max <size>', 'FastCDC maximum chunk size', sizeArg)
    .option('--json', 'print JSON')
    .action((o) => {
      const chunker = { min: o.chunkMin ?? DEFAULT_CHUNKER.min, avg: o.chunkAvg ?? DEFAULT_CHUNKER.avg, max: o.chunkMax ?? DEFAULT_CHUNKER.max };
      const repo = Repo.init(process.cwd(), { chunker });
      const out = { root: repo.root, chunker: repo.config.chunker };
      repo.close();
      if (o.json) printJson(out);
      else if (!g().quiet) println(`Initialized empty dv repository in ${path.join(out.root, '.dv')}`);
    });

  program.command('add')
    .description('start tracking PATHs and record a commit of them')
    .argument('<paths...>')
    .option('-m, --message <msg>', 'commit message')
    .option('--json', 'print JSON')
    .action((paths: string[], o) => {
      ingestHeapPolicy();
      return withRepo(g(), async (repo, progress) => {
        const rel = paths.map((p) => projectPath(repo.root, process.cwd(), p));
        const { add } = await import('../../repo/snapshot.js');
        const r = await add(repo, rel, { message: o.message, onProgress: progress.update });
        progress.done();
        const id = r.commit ?? repo.headCommit();
        if (o.json) printJson({ commit: id, created: r.commit !== null, files: r.files, bytes: r.bytes, changes: r.changes.map(changeJson) });
        else if (r.commit) println(r.commit);
        else if (!g().quiet) println(`nothing changed; HEAD is ${id}`);
      });
    });

  program.command('commit')
    .description('record every tracked path again (no-op when nothing changed)')
    .option('-m, --message <msg>', 'commit message')
    .option('--json', 'print JSON')
    .action((o) => {
      ingestHeapPolicy();
      return withRepo(g(), async (repo, progress) => {
        const { commit } = await import('../../repo/snapshot.js');
        const r = await commit(repo, { message: o.message, onProgress: progress.update });
        progress.done();
        if (o.json) printJson({ commit: r.commit ?? repo.headCommit(), created: r.commit !== null, files: r.files, bytes: r.bytes, changes: r.changes.map(changeJson) });
        else if (r.commit) println(r.commit);
        else if (!g().quiet) println('nothing to commit, workspace matches HEAD');
      });
    });

  program.command('status')
    .description('added, modified and deleted files under tracked paths vs HEAD')
    .argument('[paths...]')
    .option('--json', 'print JSON')
    .option('--remote', 'also compare with the default remote\'s branch (as of the last fetch or push)')
    .action((paths: string[], o) => withRepo(g(), async (repo) => {
      const rel = paths.map((p) => projectPath(repo.root, process.cwd(), p));
      const { status } = await import('../../repo/status.js');
      const s = await status(repo, rel);
      const r = o.remote ? await (await import('../../repo/remote/status.js')).remoteStatus(repo) : undefined;
      if (o.json) { printJson(r ? { ...s, remote: r } : s); return; }
      println(s.branch ? `On branch ${s.branch}` : `HEAD detached at ${s.commit ? shortId(s.commit) : '(none)'}`);
      if (s.merge) {
        const open = s.merge.conflicts.filter((p) => !s.merge!.resolved.includes(p));
        println(open.length ? `Merging ${s.merge.name}: unresolved conflicts (take a side with 'dv checkout --ours|--theirs PATH'):` : `Merging ${s.merge.name}: all conflicts resolved ('dv commit' concludes the merge)`);
        open.forEach((p) => println(`  both modified: ${p}`));
      }
      if (r) println(remoteStatusLine(r));
      const lines = [...s.added.map((p) => `  added:    ${p}`), ...s.modified.map((p) => `  modified: ${p}`), ...s.deleted.map((p) => `  deleted:  ${p}`)];
      lines.sort((a, b) => a.slice(12).localeCompare(b.slice(12)));
      if (lines.length === 0) println(s.tracked.length ? 'nothing to commit, workspace matches HEAD' : "nothing tracked yet (use 'dv add PATH')");
      else { println('Changes not committed:'); lines.forEach((l) => println(l)); }
    }));

  program.command('diff')
    .description('per-file changes between two refs, or a ref (default HEAD) and the workspace')
    .argument('[a]').argument('[b]')
    .option('--json', 'print JSON')
    .option('--stat', 'show sizes')
    .action((a: string | undefined, b: string | undefined, o) => withRepo(g(), async (repo) => {
      const { diff } = await import('../../repo/status.js');
      const changes = await diff(repo, a, b);
      if (o.json) { printJson(changes.map(changeJson)); return; }
      if (o.stat) changes.forEach((c) => println(`${changeLines([c])[0]}  ${c.old ? humanBytes(c.old.size) : '-'} -> ${c.new ? humanBytes(c.new.size) : '-'}`));
      else changeLines(changes).forEach((l) => println(l));
    }));

  program.command('checkout')
    .description('make tracked paths match REF (dv ref, or a git revision via dv.lock); --ours/--theirs PATH resolve a merge conflict')
    .argument('<ref>', 'REF, or with --ours/--theirs the first conflicting PATH').argument('[paths...]')
    .option('-f, --force', 'overwrite uncommitted changes (and replace a symlinked directory itself)')
    .option('--ours', 'resolve conflicting PATHs of a merge in progress with our version')
    .option('--theirs', 'resolve conflicting PATHs of a merge in progress with the merged branch\'s version')
    .option('--json', 'print JSON')
    .action((ref: string, paths: string[], o) => withRepo(g(), async (repo, progress) => {
      if (o.ours || o.theirs) {
        if (o.ours && o.theirs) throw new DvError('--ours and --theirs exclude each other', 2);
        const { resolveConflicts } = await import('../../repo/merge.js');
        const all = [ref, ...paths].map((p) => projectPath(repo.root, process.cwd(), p));
        const s = await resolveConflicts(repo, o.ours ? 'ours' : 'theirs', all);
        const open = s.conflicts.filter((p) => !s.resolved.includes(p));
        if (o.json) printJson({ resolved: s.resolved, unresolved: open });
        else if (!g().quiet) println(open.length ? `resolved ${all.join(', ')}; still in conflict: ${open.join(', ')}` : "all conflicts resolved; 'dv commit' concludes the merge");
        return;
      }
      const rel = paths.map((p) => projectPath(repo.root, process.cwd(), p));
      const { checkout } = await import('../../repo/checkout.js');
      const r = await checkout(repo, ref, { paths: rel, force: o.force, onProgress: progress.update });
      progress.done();
      if (o.json) { printJson(r); return; }
      if (!g().quiet) {
        const where = r.branch ? `branch '${r.branch}'` : `detached HEAD at ${shortId(r.commit)}`;
        println(`${r.written.length} written, ${r.removed.length} removed; ${rel.length ? `restored ${rel.join(', ')} from ${shortId(r.commit)}` : where}`);
        if (r.detached) println(`note: HEAD is detached at ${shortId(r.commit)} ('${ref}'); commits made here belong to no branch until 'dv branch NAME'`);
      }
      if (r.leftBehind.length) {
        const n = r.leftBehind.length;
        const days = (await import('../../repo/reachable.js')).reflogExpireDays(repo);
        process.stderr.write(`warning: leaving ${n} commit${n === 1 ? '' : 's'} behind, not on any branch or tag (newest ${shortId(r.leftBehind[0])}); `
          + `the reflog keeps ${n === 1 ? 'it' : 'them'} for ${days} day${days === 1 ? '' : 's'}, 'dv branch NAME ${shortId(r.leftBehind[0])}' keeps ${n === 1 ? 'it' : 'them'} for good\n`);
      }
    }));
}
