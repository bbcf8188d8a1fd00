// dv ui (the web console on a free loopback port, read-only, no key needed) and the
// hook that `dv serve --ui` passes to the proxy. The console itself lives in src/ui.
import path from 'node:path';
import type { Command } from 'commander';
import type { Repo } from '../../repo/repo.js';
import type { KeyLookup } from '../../s3proxy/keys.js';
import type { RequestHook } from '../../s3proxy/server.js';
import { intArg } from '../args.js';
import type { GlobalOptions } from '../context.js';
import { println } from '../output.js';

export async function uiHook(repo: Repo, keys: KeyLookup, bucket: string, anonymous = false): Promise<RequestHook> {
  const { createUiHandler } = await import('../../ui/handler.js');
  return createUiHandler({ repo, keys, bucket, anonymous });
}

export function register(program: Command, g: () => GlobalOptions): void {
  program.command('ui')
    .description('the web console on a free loopback port (read-only; no key needed unless --login)')
    .option('-p, --port <port>', 'port (default: a free one)', intArg(0, 65535), 0)
    .option('--login', 'ask for an access key even on loopback')
    .action(async (o) => {
      const { Repo } = await import('../../repo/repo.js');
      const { RepoBackend, bucketName } = await import('../../s3proxy/repo-backend.js');
      const { KeyStore } = await import('../../s3proxy/keys.js');
      const { startS3Server } = await import('../../s3proxy/server.js');
      const repo = Repo.open(process.cwd());
      const backend = new RepoBackend(repo, { name: bucketName(repo.root), readOnly: 'dv ui is read-only; use dv serve to write' });
      const keys = new KeyStore(path.join(repo.dvDir, 'keys.json'));
      const ui = await uiHook(repo, keys, backend.name, !o.login);
      const running = await startS3Server(backend, { keys, host: '127.0.0.1', port: o.port, intercept: ui }).catch((e: NodeJS.ErrnoException) => {
        backend.close();
        repo.close();
        throw e;
      });
      println(`ui:       ${running.url}/ui/`);
      println(`endpoint: ${running.url}  (S3, read-only, signed requests only)`);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          void running.close().then(() => {
            backend.close();
            repo.close();
            resolve();
          });
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
