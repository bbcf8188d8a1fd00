// remote add/list/remove, push, fetch, pull, clone. The library modules are loaded
// when a command runs: they pull in the AWS SDK, which would slow every dv start.
import path from 'node:path';
import type { Command } from 'commander';
import type { FetchResult } from '../../repo/remote/fetch.js';
import { jobsArg } from '../args.js';
import { withRepo, type GlobalOptions } from '../context.js';
import { humanBytes, printJson, println, ProgressLine, shortId } from '../output.js';


function fetchLines(r: FetchResult): string[] {
  const lines = r.refs.filter((x) => x.status !== 'up-to-date').map((x) => {
    const name = x.ref.replace(/^remotes\//, '').replace(/^tags\//, 'tag ');
    if (x.status === 'new') return ` * ${name}: new at ${shortId(x.new!)}`;
    if (x.status === 'updated') return `   ${name}: ${shortId(x.old!)}..${shortId(x.new!)}`;
    if (x.status === 'pruned') return ` - ${name}: deleted on the remote`;
    return ` ! ${name}: kept the local tag (${shortId(x.old!)}); the remote has it elsewhere`;
  });
  if (r.packsFetched) lines.push(`fetched ${r.packsFetched} pack(s), ${humanBytes(r.bytesFetched)} from ${r.url}`);
  return lines;
}

export function register(program: Command, g: () => GlobalOptions): void {
  const remote = program.command('remote')
    .description('S3 remotes: add, list, remove')
    .action(() => withRepo(g(), async (repo) => {
      const { listRemotes } = await import('../../repo/remote/config.js');
      listRemotes(repo).forEach((r) => println(r.name));
    }));

  remote.command('add')
    .description('add a remote: NAME s3://BUCKET[/PREFIX] (the first one added becomes the default)')
    .argument('<name>').argument('<url>')
    .option('--endpoint <url>', 'S3 endpoint, e.g. http://127.0.0.1:9000 (MinIO, Ceph, R2); default AWS')
    .option('--region <region>', 'region (default: the AWS chain, else us-east-1)')
    .option('--default', 'make it the default remote')
    .option('--json', 'print JSON')
    .action((name: string, url: string, o) => withRepo(g(), async (repo) => {
      const { addRemote } = await import('../../repo/remote/config.js');
      const r = await addRemote(repo, name, url, { endpoint: o.endpoint, region: o.region, makeDefault: o.default });
      if (o.json) printJson(r);
      else if (!g().quiet) println(`remote ${r.name} -> ${r.url}${r.endpoint ? ` at ${r.endpoint}` : ''}${r.default ? ' (default)' : ''}`);
    }));

  remote.command('list')
    .description('list remotes')
    .option('--json', 'print JSON')
    .action((o) => withRepo(g(), async (repo) => {
      const { listRemotes } = await import('../../repo/remote/config.js');
      const list = listRemotes(repo);
      if (o.json) { printJson(list); return; }
      for (const r of list) println(`${r.default ? '*' : ' '} ${r.name}\t${r.url}${r.endpoint ? `\t${r.endpoint}` : ''}`);
    }));

  remote.command('remove').alias('rm')
    .description('forget a remote and its remote-tracking refs (the bucket is not touched)')
    .argument('<name>')
    .action((name: string) => withRepo(g(), async (repo) => {
      const { removeRemote } = await import('../../repo/remote/config.js');
      await removeRemote(repo, name);
    }));

  program.command('push')
    .description('upload the packs a remote lacks, then move its refs (default: the current branch)')
    .argument('[remote]', 'remote name (default: the default remote)')
    .argument('[refs...]', 'branches or tags to push')
    .option('--all', 'push every branch')
    .option('--tags', 'push every tag as well')
    .option('-f, --force', 'overwrite remote refs that are not ancestors of ours')
    .option('-j, --jobs <n>', 'parallel uploads (default 8)', jobsArg)
    .option('--json', 'print JSON')
    .action((name: string | undefined, refs: string[], o) => withRepo(g(), async (repo, progress) => {
      const { push } = await import('../../repo/remote/push.js');
      const r = await push(repo, { remote: name, refs, all: o.all, tags: o.tags, force: o.force, jobs: o.jobs, onProgress: progress.update,
        onWait: (m: string) => { if (!g().quiet) process.stderr.write(`dv: ${m}\n`); } });
      progress.done();
      if (o.json) { printJson(r); return; }
      if (g().quiet) return;
      for (const x of r.refs) {
        const n = x.ref.replace(/^heads\//, '').replace(/^tags\//, 'tag ');
        if (x.status === 'up-to-date') println(` = ${n}: up to date`);
        else if (x.status === 'created') println(` * ${n}: new at ${shortId(x.new)}`);
        else println(`${x.status === 'forced' ? ' + ' : '   '}${n}: ${shortId(x.old!)}${x.status === 'forced' ? '...' : '..'}${shortId(x.new)}${x.status === 'forced' ? ' (forced)' : ''}`);
      }
      if (r.pinned.length) println(` * pinned ${r.pinned.length} data version(s) named by dv.lock in git history`);
      if (r.refs.every((x) => x.status === 'up-to-date') && !r.pinned.length) println(`everything up to date on ${r.url}`);
      else println(`uploaded ${r.packsUploaded} pack(s), ${humanBytes(r.bytesUploaded)} to ${r.url}; ${r.packsSkipped} already there`);
    }));

  program.command('fetch')
    .description('download the packs and refs of a remote (sets remotes/NAME/BRANCH)')
    .argument('[remote]')
    .option('-j, --jobs <n>', 'parallel downloads (default 8)', jobsArg)
    .option('--repair', 'first rebuild the local index and set damaged packs aside (dv fsck --repair), then fetch what they held')
    .option('--json', 'print JSON')
    .action((name: string | undefined, o) => withRepo(g(), async (repo, progress) => {
      if (o.repair) {
        const { repair } = await import('../../repo/repair.js');
        const { printRepair } = await import('./maintenance.js');
        await printRepair(await repair(repo, { remote: name ?? '', onProgress: progress.update }), o.json, () => progress.done());
        return;
      }
      const { fetch } = await import('../../repo/remote/fetch.js');
      const r = await fetch(repo, { remote: name, jobs: o.jobs, onProgress: progress.update });
      progress.done();
      if (o.json) printJson(r);
      else if (!g().quiet) fetchLines(r).forEach((l) => println(l));
    }));

  program.command('pull')
    .description('fetch, fast-forward the current branch and check it out')
    .argument('[remote]')
    .option('-j, --jobs <n>', 'parallel downloads (default 8)', jobsArg)
    .option('--json', 'print JSON')
    .action((name: string | undefined, o) => withRepo(g(), async (repo, progress) => {
      const { pull } = await import('../../repo/remote/pull.js');
      const r = await pull(repo, { remote: name, jobs: o.jobs, onProgress: progress.update });
      progress.done();
      if (o.json) { printJson(r); return; }
      if (g().quiet) return;
      fetchLines(r.fetch).forEach((l) => println(l));
      if (r.status === 'up-to-date') println(`already up to date (${r.branch} at ${r.new ? shortId(r.new) : 'no commits'})`);
      else if (r.status === 'ahead') println(`${r.branch} is ahead of ${r.fetch.remote}/${r.branch}; nothing to pull (dv push sends yours)`);
      else println(`${r.branch}: ${r.old ? shortId(r.old) : '(empty)'}..${shortId(r.new!)}, ${r.checkout!.written.length} written, ${r.checkout!.removed.length} removed`);
    }));

  program.command('clone')
    .description('create DIR from a remote: fetch everything and check out main (or its only branch)')
    .argument('<url>', 's3://BUCKET[/PREFIX]').argument('<dir>')
    .option('--endpoint <url>', 'S3 endpoint (stored with the remote)')
    .option('--region <region>', 'region')
    .option('-b, --branch <name>', 'branch to check out')
    .option('-j, --jobs <n>', 'parallel downloads (default 8)', jobsArg)
    .option('--json', 'print JSON')
    .action(async (url: string, dir: string, o) => {
      const { clone } = await import('../../repo/remote/clone.js');
      const progress = new ProgressLine(g().quiet);
      try {
        const r = await clone(url, path.resolve(dir), { endpoint: o.endpoint, region: o.region, branch: o.branch, jobs: o.jobs, onProgress: progress.update });
        progress.done();
        if (o.json) printJson(r);
        else if (!g().quiet) {
          println(`cloned ${r.url} into ${r.root}: ${r.fetch.packsFetched} pack(s), ${humanBytes(r.fetch.bytesFetched)}`);
          println(r.branch ? `checked out ${r.branch} at ${shortId(r.commit!)} (${r.files} files)` : 'the remote has no branches yet');
        }
      } finally {
        progress.done();
      }
    });
}
