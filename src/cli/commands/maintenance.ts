// gc, fsck
import type { Command } from 'commander';
import { gc } from '../../repo/gc.js';
import { fsck } from '../../repo/fsck.js';
import { DvError } from '../../store/errors.js';
import { withRepo, type GlobalOptions } from '../context.js';
import { humanBytes, printJson, println } from '../output.js';

export function register(program: Command, g: () => GlobalOptions): void {
  program.command('gc')
    .description('delete data that no ref, HEAD, run record or the workspace needs')
    .option('-n, --dry-run', 'only report what would be deleted')
    .option('--json', 'print JSON')
    .action((o) => withRepo(g(), async (repo) => {
      const r = await gc(repo, { dryRun: o.dryRun });
      if (o.json) { printJson(r); return; }
      const verb = r.dryRun ? 'would free' : 'freed';
      println(`${verb} ${humanBytes(r.bytesFreed)}: ${r.objectsDeleted} objects, ${r.packsDeleted} packs deleted, ${r.packsRewritten} rewritten, ${r.orphanPacks} orphan packs`);
    }));

  program.command('fsck')
    .description('verify every pack, object hash and reference')
    .option('--json', 'print JSON')
    .action((o) => withRepo(g(), async (repo, progress) => {
      const r = await fsck(repo, { onProgress: (done, total) => progress.update({ phase: 'fsck', files: done, totalFiles: total }) });
      progress.done();
      if (o.json) printJson(r);
      else {
        r.warnings.forEach((w) => println(`warning: ${w}`));
        r.errors.forEach((e) => println(`error: ${e}`));
        if (r.ok) println(`ok: ${r.packs} packs, ${r.objects} objects verified`);
      }
      if (!r.ok) throw new DvError(`fsck found ${r.errors.length} problem(s)`, 1, 'FSCK');
    }));
}
