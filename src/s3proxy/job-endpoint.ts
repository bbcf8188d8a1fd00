// The endpoint a run's jobs reach with their temporary keys: `dv serve` on the run's
// own open repository, on a loopback port unless told otherwise, for the run's duration. Same repository
// object as the run, so the proxy's commits nest inside the run's lock instead of
// waiting for it; stopping waits for queued commits but leaves the repository open.
import path from 'node:path';
import type { Repo } from '../repo/repo.js';
import { KeyStore } from './keys.js';
import { RepoBackend, bucketName } from './repo-backend.js';
import { startS3Server } from './server.js';

export interface RunEndpoint {
  url: string;
  bucket: string;
  stop(): Promise<void>;
}

/**
 * `host`/`port`: where to listen (cluster nodes must reach it: DV_JOB_HOST, DV_JOB_PORT);
 * `url`: the address jobs are given when it differs from the listening one (a load
 * balancer, a DNS name: DV_JOB_URL).
 */
export async function startRunEndpoint(repo: Repo, opts: { host?: string; port?: number; url?: string } = {}): Promise<RunEndpoint> {
  const backend = new RepoBackend(repo, { name: bucketName(repo.root) });
  const keys = new KeyStore(path.join(repo.dvDir, 'keys.json'));
  const running = await startS3Server(backend, { keys, host: opts.host ?? '127.0.0.1', port: opts.port ?? 0 });
  return {
    url: opts.url || running.url,
    bucket: backend.name,
    stop: async () => {
      await running.close();
      await backend.idle();
      backend.close();
    },
  };
}
