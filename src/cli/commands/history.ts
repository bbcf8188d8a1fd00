// log, branch, tag, ls, cat, export, import
import type { Command } from 'commander';
import { intArg } from '../args.js';
import { pipeline } from 'node:stream/promises';
import { createBranch, createTag, deleteBranch, deleteTag, listBranches, listTags, log } from '../../repo/history.js';
import { cat, ls } from '../../repo/read.js';
import { projectPath } from '../../repo/workspace.js';
import { withRepo, type GlobalOptions } from '../context.js';
import { protectBranch, unprotectBranch } from '../../repo/protect.js';
import { DvError } from '../../store/errors.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];
import { humanBytes, printJson, println, quotePath, shortId } from '../output.js';
import { graphLines } from '../graph.js';


export function register(program: Command, g: () => GlobalOptions): void {
  program.command('log')
    .description('commits, newest first')
    .argument('[ref]', 'start from this ref instead of HEAD')
    .option('-n, --max-count <n>', 'show at most N commits', intArg(0))
    .option('--oneline', 'one line per commit')
    .option('--graph', 'draw the commit graph (merges) beside the log')
    .option('--json', 'print JSON')
    .action((ref: string | undefined, o) => withRepo(g(), async (repo) => {
      const entries = await log(repo, { ref, limit: o.maxCount });
      if (o.json) { printJson(entries); return; }
      const graph = o.graph ? graphLines(entries) : entries.map(() => ({ prefix: '', after: [] as string[] }));
      for (const [i, e] of entries.entries()) {
        const { prefix, after } = graph[i];
        const pad = prefix.replace(/\*/g, '|');
        const counts = `+${e.counts.added} ~${e.counts.modified} -${e.counts.deleted}`;
        if (o.oneline) { println(`${prefix}${shortId(e.id)} ${e.message} (${counts})`); after.forEach((l) => println(l)); continue; }
        println(`${prefix}commit ${e.id}`);
        if (e.parents.length > 1) println(`${pad}Merge:  ${e.parents.map(shortId).join(' ')}`);
        println(`${pad}Author: ${e.author}`);
        println(`${pad}Date:   ${e.time}`);
        if (e.git) println(`${pad}Code:   git ${e.git.commit.slice(0, 12)}${e.git.dirty ? ' (dirty)' : ''}`);
        if (e.run) println(`${pad}Run:    ${e.run}`);
        if (e.identity || e.key) println(`${pad}By:     ${[e.identity && `identity ${e.identity}`, e.key && `key ${e.key}`].filter(Boolean).join(', ')}`);
        println(`${pad}Files:  ${counts}`);
        println(pad.trimEnd());
        println(`${pad}    ${e.message}`);
        println(pad.trimEnd());
        after.forEach((l) => println(l));
      }
    }));

  program.command('branch')
    .description('list branches, create NAME at START (default HEAD), delete with -d; protect BRANCH / unprotect BRANCH')
    .argument('[name]').argument('[start]')
    .option('-d, --delete', 'delete the branch (refused when HEAD does not contain it)')
    .option('-D', 'delete the branch even if it is not merged')
    .option('--allow <who>', 'with protect: an identity or access key id that may move the branch (repeatable; default: you)', collect, [])
    .option('--json', 'print JSON')
    .action((name: string | undefined, start: string | undefined, o) => withRepo(g(), async (repo) => {
      if ((name === 'protect' || name === 'unprotect') && !start) throw new DvError(`usage: dv branch ${name} BRANCH${name === 'protect' ? ' [--allow IDENTITY|KEY]...' : ''}`, 2);
      if (o.allow.length > 0 && name !== 'protect') throw new DvError('--allow goes with dv branch protect BRANCH', 2);
      if ((name === 'protect' || name === 'unprotect') && start) {
        const p = name === 'protect' ? protectBranch(repo, start, o.allow) : unprotectBranch(repo, start);
        if (o.json) printJson(name === 'protect' ? p : { branch: p.branch, allow: [] });
        else if (!g().quiet) println(name === 'protect' ? `branch ${p.branch} is protected; allowed: ${p.allow.join(', ')}` : `branch ${p.branch} is no longer protected`);
        return;
      }
      if (name && (o.delete || o.D)) {
        const b = await deleteBranch(repo, name, !!o.D);
        if (o.json) printJson(b);
        else if (!g().quiet) println(`Deleted branch ${b.name} (was ${shortId(b.commit)}); 'dv branch ${b.name} ${shortId(b.commit)}' brings it back`);
        return;
      }
      if (name) {
        const b = await createBranch(repo, name, start);
        if (o.json) printJson(b); else if (!g().quiet) println(`branch ${b.name} at ${shortId(b.commit)}`);
        return;
      }
      const list = listBranches(repo);
      if (o.json) printJson(list);
      else list.forEach((b) => println(`${b.current ? '*' : ' '} ${b.name} ${shortId(b.commit)}${b.protected ? ` (protected: ${b.protected.allow.join(', ')})` : ''}`));
    }));

  program.command('tag')
    .description('list tags, create NAME at REF (default HEAD), or delete with -d')
    .argument('[name]').argument('[ref]')
    .option('-d, --delete', 'delete the tag')
    .option('-f, --force', 'move an existing tag')
    .option('--json', 'print JSON')
    .action((name: string | undefined, ref: string | undefined, o) => withRepo(g(), async (repo) => {
      if (name && o.delete) { await deleteTag(repo, name); return; }
      if (name) {
        const t = await createTag(repo, name, ref, o.force);
        if (o.json) printJson(t); else if (!g().quiet) println(`tag ${t.name} at ${shortId(t.commit)}`);
        return;
      }
      const list = listTags(repo);
      if (o.json) printJson(list);
      else list.forEach((t) => println(`${t.name} ${shortId(t.commit)}`));
    }));

  program.command('ls')
    .description('list a version: REF[:PATH]')
    .argument('[spec]', 'REF[:PATH]', 'HEAD')
    .option('-r, --recursive', 'list every file below PATH')
    .option('--json', 'print JSON')
    .action((spec: string, o) => withRepo(g(), async (repo) => {
      const items = await ls(repo, spec, { recursive: o.recursive });
      if (o.json) { printJson(items); return; }
      for (const it of items) {
        if (it.type === 'dir') println(`${'dir'.padEnd(10)} ${''.padEnd(12)} ${quotePath(`${it.path}/`)}`);
        else println(`${humanBytes(it.size!).padEnd(10)} ${it.hash!.slice(0, 12)} ${quotePath(it.path)}`);
      }
    }));

  program.command('cat')
    .description('write a file of a version to stdout: REF:PATH')
    .argument('<spec>')
    .action((spec: string) => withRepo(g(), async (repo) => {
      await pipeline(await cat(repo, spec), process.stdout, { end: false });
    }));

  program.command('export')
    .description('write a version (REF[:PATH]) as a plain tar file')
    .argument('<spec>')
    .requiredOption('-o, --output <file>', 'tar file to write')
    .option('--json', 'print JSON')
    .action((spec: string, o) => withRepo(g(), async (repo) => {
      const { exportTar } = await import('../../repo/archive.js'); // tar-stream: loaded by the commands that use it
      const r = await exportTar(repo, spec, o.output);
      if (o.json) printJson({ ...r, output: o.output });
      else if (!g().quiet) println(`${r.files} files, ${humanBytes(r.bytes)} from ${shortId(r.commit)} -> ${o.output}`);
    }));

  program.command('import')
    .description('extract a tar file into DEST and track DEST')
    .argument('<file>').argument('<dest>')
    .option('-f, --force', 'overwrite existing files in DEST')
    .option('-m, --message <msg>', 'commit message')
    .option('--json', 'print JSON')
    .action((file: string, dest: string, o) => withRepo(g(), async (repo) => {
      const { importTar } = await import('../../repo/archive.js');
      const r = await importTar(repo, file, projectPath(repo.root, process.cwd(), dest), { force: o.force, message: o.message });
      const id = r.commit ?? repo.headCommit();
      if (o.json) printJson({ commit: id, files: r.files, bytes: r.bytes });
      else println(id ?? '');
    }));
}
