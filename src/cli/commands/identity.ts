// identity add/list/remove: identities declared in the repository config
// (.dv/config.json) instead of dv.yaml (src/pipeline/identities.ts).
import type { Command } from 'commander';
import { withRepo, type GlobalOptions } from '../context.js';
import { printJson, println } from '../output.js';
import type { IdentityConfig } from '../../pipeline/config-sandbox.js';

const line = (i: IdentityConfig): string => `${i.name}\tuid ${i.uid} gid ${i.gid}${i.write ? `\twrite ${i.write.join(',')}` : ''}`;
const intOpt = (v: string): number => (/^\d+$/.test(v) ? Number(v) : Number.NaN);

export function register(program: Command, g: () => GlobalOptions): void {
  const list = (o: { json?: boolean }): Promise<void> => withRepo(g(), async (repo) => {
    const { listRepoIdentities } = await import('../../pipeline/identities.js');
    const ids = listRepoIdentities(repo);
    if (o.json) printJson(ids);
    else ids.forEach((i) => println(line(i)));
  });
  const identity = program.command('identity')
    .description('identities sandboxed stages run as, declared in the repository config (or in dv.yaml identities:)')
    .option('--json', 'print JSON')
    .action(list);

  // `dv identity list --json`: the parent command takes the --json.
  identity.command('list').description('list the repository config\'s identities').option('--json', 'print JSON')
    .action((o: { json?: boolean }) => list({ json: o.json || identity.opts().json }));

  identity.command('add')
    .description('declare an identity: NAME (--user USER | --uid N [--gid N]) [--write BRANCH-PATTERN]...')
    .argument('<name>')
    .option('--user <user>', 'a local user (uid and gid from /etc/passwd)')
    .option('--uid <n>', 'user id', intOpt)
    .option('--gid <n>', 'group id (default: the uid)', intOpt)
    .option('--write <pattern>', 'branches its job keys may write at most (repeatable)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--json', 'print JSON')
    .action((name: string, o) => withRepo(g(), async (repo) => {
      const { addRepoIdentity } = await import('../../pipeline/identities.js');
      const id = addRepoIdentity(repo, name, { user: o.user, uid: o.uid, gid: o.gid, write: o.write });
      if (o.json) printJson(id);
      else if (!g().quiet) println(line(id));
    }));

  identity.command('remove').alias('rm')
    .description('forget an identity of the repository config')
    .argument('<name>')
    .action((name: string) => withRepo(g(), async (repo) => {
      const { removeRepoIdentity } = await import('../../pipeline/identities.js');
      removeRepoIdentity(repo, name);
    }));
}
