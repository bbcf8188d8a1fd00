// dv serve (the S3-compatible proxy) and dv keys (its access keys). The proxy and
// the AWS SDK behind --remote are loaded only when these commands run.
import path from 'node:path';
import type { Command } from 'commander';
import type { Repo as RepoT } from '../../repo/repo.js';
import type { RequestLogInfo } from '../../s3proxy/request.js';
import { DvError } from '../../store/errors.js';
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
      const { Repo } = await import('../../repo/repo.js');
      const { RepoBackend, bucketName } = await import('../../s3proxy/repo-backend.js');
      const { KeyStore } = await import('../../s3proxy/keys.js');
      const { startS3Server } = await import('../../s3proxy/server.js');
      const cwd = process.cwd();
      type Mirror = import('../../s3proxy/remote-mirror.js').RemoteMirror;
      let mirror: Mirror | undefined;
      let repo: RepoT;
      let projectRoot: string;
      if (o.remote) {
        const { RemoteMirror } = await import('../../s3proxy/remote-mirror.js');
        mirror = await RemoteMirror.open(cwd, { remote: o.remote, cacheBytes: o.cacheSize });
        repo = mirror.repo;
        projectRoot = mirror.projectRoot;
      } else {
        repo = Repo.open(cwd);
        projectRoot = repo.root;
      }
      let backend: InstanceType<typeof RepoBackend>;
      try {
        backend = new RepoBackend(repo, {
          name: o.name ?? bucketName(projectRoot),
          readOnly: mirror ? `this dv serve is read-only: it serves remote '${o.remote}' (${mirror.remote.url}); write with dv push` : undefined,
        });
      } catch (e) {
        mirror ? mirror.close() : repo.close();
        throw e;
      }
      const keys = new KeyStore(path.join(projectRoot, '.dv', 'keys.json'));
      const running = await startS3Server(backend, {
        keys, anonymousRead: o.anonymousRead, region: o.region, host: o.host, port: o.port,
        onRequest: o.verbose ? (i) => process.stderr.write(logLine(i) + '\n') : undefined,
        ui: o.ui ? await (await import('./ui.js')).uiHook(repo, keys, backend.name) : undefined,
      }).catch((e: NodeJS.ErrnoException) => {
        backend.close();
        mirror ? mirror.close() : repo.close();
        if (e.code === 'EADDRINUSE') throw new DvError(`port ${o.port} on ${o.host} is in use (--port 0 picks a free one)`);
        if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') throw new DvError(`cannot listen on ${o.host}: ${e.code}`);
        throw e;
      });
      mirror?.refreshEvery(o.refresh, (e) => process.stderr.write(`dv serve: refreshing from ${mirror!.remote.url} failed: ${(e as Error).message}\n`));

      const bucket = backend.name;
      println(`endpoint: ${running.url}`);
      if (o.ui) println(`ui:       ${running.url}/ui/`);
      println(`bucket:   s3://${bucket}/<ref>/<path>  (${mirror ? `read-only, from remote ${o.remote} ${mirror.remote.url}` : projectRoot})`);
      if (!globals.quiet) {
        const n = keys.list().length;
        println(`keys:     ${n ? `${n} in .dv/keys.json; ` : ''}create one with: dv keys create --read '*' [--write BRANCH]${o.anonymousRead ? ' (unsigned reads allowed)' : ''}`);
        println(`try:      aws --endpoint-url ${running.url} s3 ls s3://${bucket}/`);
      }

      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = async (): Promise<void> => {
          if (stopping) return;
          stopping = true;
          // Finish requests in flight for a few seconds, then cut what is left
          // (an unfinished upload is never committed; clients retry).
          const closed = new Promise<void>((r) => running.server.close(() => r()));
          running.server.closeIdleConnections();
          await Promise.race([closed, new Promise((r) => setTimeout(r, 5000).unref())]);
          running.server.closeAllConnections();
          await backend.idle();
          backend.close();
          mirror ? mirror.close() : repo.close();
          resolve();
        };
        process.once('SIGINT', () => void stop());
        process.once('SIGTERM', () => void stop());
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
