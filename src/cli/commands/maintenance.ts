// gc, fsck (and fsck --repair, whose printer dv fetch --repair shares)
import type { Command } from 'commander';
import { gc } from '../../repo/gc.js';
import { fsck, type FsckResult } from '../../repo/fsck.js';
import type { RepairResult } from '../../repo/repair.js';
import { DvError } from '../../store/errors.js';
import { withRepo, type GlobalOptions } from '../context.js';
import { humanBytes, printJson, println, ProgressLine } from '../output.js';
import { durationArg, jobsArg } from '../args.js';

export function register(program: Command, g: () => GlobalOptions): void {
  program.command('gc')
    .description('delete data that no ref, HEAD, run record or the workspace needs')
    .option('-n, --dry-run', 'only report what would be deleted')
    .option('--json', 'print JSON')
    .option('--remote [name]', 'collect garbage on a remote instead (the default remote if NAME is omitted)')
    .option('--grace <duration>', 'with --remote: keep unreferenced packs younger than this (default 1h)', durationArg)
    .option('-j, --jobs <n>', 'with --remote: parallel requests (default 8)', jobsArg)
    .option('--prune-runs <age>', 'also drop records and run-cache entries of runs older than AGE (e.g. 30d, 1w) whose commits no ref reaches', durationArg)
    .action((o) => withRepo(g(), async (repo, progress) => {
      if (o.remote && o.pruneRuns !== undefined) throw new DvError('--prune-runs applies to local gc only: dv gc --remote keeps every run', 2);
      if (o.remote) {
        const { remoteGc } = await import('../../repo/remote/gc.js');
        const r = await remoteGc(repo, { remote: o.remote === true ? undefined : o.remote, graceMs: o.grace, dryRun: o.dryRun, jobs: o.jobs, onProgress: progress.update });
        progress.done();
        if (o.json) { printJson(r); return; }
        println(`${r.dryRun ? 'would free' : 'freed'} ${humanBytes(r.bytesFreed)} on ${r.url}: ${r.deleted.length} of ${r.packs} packs deleted; `
          + `${r.young.length} unreferenced packs kept (younger than the grace period); ${r.partlyDead.length} packs partly dead, kept `
          + `(${humanBytes(r.partlyDead.reduce((s, p) => s + p.deadBytes, 0))} dead)`);
        return;
      }
      const r = o.pruneRuns === undefined ? await gc(repo, { dryRun: o.dryRun })
        : await (await import('../../pipeline/retention.js')).gcPruningRuns(repo, o.pruneRuns, { dryRun: o.dryRun });
      if (o.json) { printJson(r); return; }
      const verb = r.dryRun ? 'would free' : 'freed';
      println(`${verb} ${humanBytes(r.bytesFreed)}: ${r.objectsDeleted} objects, ${r.packsDeleted} packs deleted, ${r.packsRewritten} rewritten, ${r.orphanPacks} orphan packs`);
      if (r.runsPruned || r.cacheEntriesPruned) println(`${r.dryRun ? 'would prune' : 'pruned'} ${r.runsPruned} old run(s) and ${r.cacheEntriesPruned} run-cache entry(ies)`);
      if (r.packsProtected) println(`kept ${r.packsProtected} recent pack(s): a running dv serve may still commit their data`);
      const k = r.roots;
      if (r.dryRun) println(`roots: ${k.refs.length} ref target(s), ${k.head.length} HEAD, ${k.reflog.length} in the reflog, ${k.git.length} named by dv.lock in git history, ${k.pipeline.length} pipeline record(s)`);
    }));

  program.command('fsck')
    .description('verify every pack byte, index row, object hash, ref and reference; --repair rebuilds the index')
    .option('--json', 'print JSON')
    .option('--repair', 'rebuild the index from the packs, set damaged packs aside in .dv/lost+found, re-store lost data from the workspace')
    .option('--remote [name]', 'with --repair: also fetch from this remote (default: the default remote) what is damaged or missing')
    .action(async (o) => {
      if (o.remote !== undefined && !o.repair) throw new DvError('--remote goes with --repair (dv fsck --repair --remote NAME)', 2);
      if (o.repair) {
        // Not withRepo: an unreadable dv.db is what this repairs (repair-open.ts).
        const { repairAt } = await import('../../repo/repair-open.js');
        const progress = new ProgressLine(g().quiet);
        try {
          await printRepair(await repairAt(process.cwd(), { remote: o.remote === true ? '' : o.remote, onProgress: progress.update }), o.json, () => progress.done());
        } finally {
          progress.done();
        }
        return;
      }
      await withRepo(g(), async (repo, progress) => {
      const r = await fsck(repo, { onProgress: (done, total) => progress.update({ phase: 'fsck', files: done, totalFiles: total, unit: 'packs' }) });
      progress.done();
      if (o.json) printJson(r);
      else printFsck(r);
      if (!r.ok) throw new DvError(`fsck found ${r.errors.length} problem(s)`, 1, 'FSCK');
      });
    });
}

function printFsck(r: FsckResult): void {
  r.warnings.forEach((w) => println(`warning: ${w}`));
  r.errors.forEach((e) => println(`error: ${e}`));
  if (r.ok) println(`ok: ${r.packs} packs, ${r.objects} objects verified`);
}

/** Shared by dv fsck --repair and dv fetch --repair. */
export async function printRepair(r: RepairResult, json: boolean, done: () => void): Promise<void> {
  done();
  if (json) printJson(r);
  else {
    if (r.databaseSetAside) println(`.dv/dv.db did not read: moved to ${r.databaseSetAside} and rebuilt`);
    println(`index rebuilt from ${r.packs} pack(s), ${r.objects} objects`);
    if (r.refsRestored.length) println(`restored from .dv/refs.log: ${r.refsRestored.join(', ')}`);
    for (const s of r.setAside) println(`set aside damaged pack ${s.pack} in ${s.file}: ${s.problems.join('; ')}`);
    if (r.salvaged) println(`salvaged ${r.salvaged} intact object(s) from damaged packs`);
    for (const f of r.restoredFromWorkspace) println(`restored ${f} from the workspace copy`);
    if (r.fetched) println(`fetched ${r.fetched.packs} pack(s), ${humanBytes(r.fetched.bytes)} from ${r.fetched.remote}`);
    for (const f of r.lostFiles) println(`lost: ${f.path} (commit ${f.commit.slice(0, 12)})`);
    if (r.lostVersions.length) println(`${r.lostVersions.length} version(s) still lack data: put the files back and run dv fsck --repair again, or run dv fetch --repair from a remote that has them`);
    printFsck(r.fsck);
  }
  if (!r.fsck.ok) throw new DvError(`repair left ${r.fsck.errors.length} problem(s)`, 1, 'FSCK');
}
