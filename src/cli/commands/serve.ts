// dv serve (the S3-compatible proxy) and dv keys (its access keys). The proxy and
// the AWS SDK behind --remote are loaded only when these commands run.
import path from 'node:path';
import type { Command } from 'commander';
import type { RequestLogInfo } from '../../s3proxy/request.js';
import { withRepo, type GlobalOptions } from '../context.js';
import { printJson, println } from '../output.js';
import { collect, durationArg, intArg, sizeArg } from '../args.js';


/** Keys are user data: never let one forge log lines. */
const printable = (s: string): string => s.replace(/[\u0000-\u0020\u007f%]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`);

function logLine(i: RequestLogInfo): string {
  const target = i.bucket === undefined ? '/' : `/${i.bucket}${i.key ? `/${i.key}` : ''}`;
  return `${new Date().toISOString()} ${i.requestId} ${i.method} ${printable(target)} ${i.status} ${i.ms}ms key=${i.accessKeyId ?? '-'}${i.error ? ` ${i.error}` : ''}`;
}

export function register(program: Command, g: () => GlobalOptions): void {
  program.command('serve')
    .description('serve every version as an S3-compatible bucket: s3://<repo>/<ref>/<path>')
    .option('--host <host>', 'address to listen on (0.0.0.0 exposes it to the network)', '127.0.0.1')
    .option('-p, --port <port>', 'port (0 picks a free one)', intArg(0, 65535), 9000)
    .option('--name <name>', 'bucket name (default: the project directory name)')
    .option('--anonymous-read', 'serve reads to unsigned requests (writes always need a key)')
    .option('--remote <name>', 'serve what this S3 remote holds (read-only), fetching pack ranges on demand')
    .option('--cache-size <size>', 'with --remote: bound of the local block cache (default 1GiB)', sizeArg, 1 << 30)
    .option('--refresh <duration>', 'with --remote: re-read the remote\'s refs this often (0 = never)', durationArg, 30_000)
    .option('--region <region>', 'region reported to clients', 'us-east-1')
    .option('-v, --verbose', 'log one line per request to stderr (never secrets)')
    .option('--ui', 'also serve the web console at /ui/ (log in with an access key)')
    .action(async (o) => {
      const globals = g();
      const { startServe } = await import('../../s3proxy/serve.js');
      const serving = await startServe({
        cwd: process.cwd(), host: o.host, port: o.port, name: o.name, anonymousRead: o.anonymousRead,
        region: o.region, remote: o.remote, cacheBytes: o.cacheSize, refreshMs: o.refresh,
        onRequest: o.verbose ? (i) => process.stderr.write(logLine(i) + '\n') : undefined,
        intercept: o.ui ? async ({ repo, keys, bucket }) => (await import('./ui.js')).uiHook(repo, keys, bucket) : undefined,
        onRefreshError: (e) => process.stderr.write(`dv serve: refreshing from ${serving.remoteUrl} failed: ${(e as Error).message}\n`),
      });
      println(`endpoint: ${serving.url}`);
      if (o.ui) println(`ui:       ${serving.url}/ui/`);
      println(`bucket:   s3://${serving.bucket}/<ref>/<path>  (${serving.remoteUrl ? `read-only, from remote ${o.remote} ${serving.remoteUrl}` : serving.projectRoot})`);
      if (!globals.quiet) {
        const n = serving.keys.list().length;
        println(`keys:     ${n ? `${n} in .dv/keys.json; ` : ''}create one with: dv keys create --read '*' [--write BRANCH]${o.anonymousRead ? ' (unsigned reads allowed)' : ''}`);
        println(`try:      aws --endpoint-url ${serving.url} s3 ls s3://${serving.bucket}/`);
      }
      await new Promise<void>((resolve) => {
        const stop = (): void => { serving.stop().then(resolve, resolve); };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });

  const keys = program.command('keys')
    .description('access keys for dv serve (stored in .dv/keys.json, mode 0600)')
    .action(() => withRepo(g(), async (repo) => {
      const { KeyStore } = await import('../../s3proxy/keys.js');
      for (const k of new KeyStore(path.join(repo.dvDir, 'keys.json')).list()) println(k.id);
    }));

  keys.command('create')
    .description('create a key; prints its secret this once')
    .option('--read <pattern>', 'refs it may read, glob (repeatable; \'*\' also allows commit ids)', collect, [])
    .option('--write <pattern>', 'branches it may write, glob (repeatable)', collect, [])
    .option('--description <text>', 'a note shown by dv keys list')
    .option('--json', 'print JSON')
    .action((o) => withRepo(g(), async (repo) => {
      const { KeyStore } = await import('../../s3proxy/keys.js');
      const k = new KeyStore(path.join(repo.dvDir, 'keys.json')).create({ read: o.read, write: o.write, description: o.description });
      if (o.json) { printJson(k); return; }
      println(`access key id:     ${k.id}`);
      println(`secret access key: ${k.secret}`);
      println(`read: ${k.read.join(' ') || '(nothing)'}   write: ${k.write.join(' ') || '(nothing)'}`);
      println('The secret is shown only now: keep it (e.g. as AWS_SECRET_ACCESS_KEY).');
    }));

  keys.command('list')
    .description('list keys (never their secrets)')
    .option('--json', 'print JSON')
    .action((o) => withRepo(g(), async (repo) => {
      const { KeyStore } = await import('../../s3proxy/keys.js');
      const list = new KeyStore(path.join(repo.dvDir, 'keys.json')).list();
      if (o.json) { printJson(list); return; }
      for (const k of list) {
        println(`${k.id}  read: ${k.read.join(' ') || '-'}  write: ${k.write.join(' ') || '-'}  created ${k.created}${k.description ? `  ${k.description}` : ''}`);
      }
    }));

  keys.command('revoke')
    .description('revoke a key (a running dv serve refuses it from the next request on)')
    .argument('<id>')
    .action((id: string) => withRepo(g(), async (repo) => {
      const { KeyStore } = await import('../../s3proxy/keys.js');
      new KeyStore(path.join(repo.dvDir, 'keys.json')).revoke(id);
      if (!g().quiet) println(`revoked ${id}`);
    }));
}
