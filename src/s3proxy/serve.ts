// The lifecycle of `dv serve`: open the repository (or the mirror of a remote), start
// the S3 server on it, and stop it cleanly: finish requests in flight for a few
// seconds, cut what is left (an unfinished upload is never committed; clients
// retry), wait for queued commits, release the gc lease, close the repository. The
// CLI only prints what this returns and calls stop() on a signal.
import path from 'node:path';
import { Repo } from '../repo/repo.js';
import { DvError } from '../store/errors.js';
import { KeyStore } from './keys.js';
import type { RemoteMirror } from './remote-mirror.js';
import { RepoBackend, bucketName } from './repo-backend.js';
import type { RequestLogInfo, ServerOptions } from './request.js';
import { startS3Server } from './server.js';

export interface ServeOptions {
  /** Where the project is (searched upward). */
  cwd: string;
  host: string;
  port: number;
  /** Bucket name; default: the project directory's name. */
  name?: string;
  anonymousRead?: boolean;
  region?: string;
  /** Serve this S3 remote (read-only) instead of the local repository. */
  remote?: string;
  /** With `remote`: bound of the block cache, bytes. */
  cacheBytes?: number;
  /** With `remote`: re-read its refs this often, ms (0: never). */
  refreshMs?: number;
  onRequest?: (info: RequestLogInfo) => void;
  onRefreshError?: (e: unknown) => void;
  /** Made once the repository is open, and given the first look at each request (the
   * web console's routes under /ui/). */
  intercept?: (ctx: { repo: Repo; keys: KeyStore; bucket: string }) => Promise<ServerOptions['intercept']>;
}

export interface Serving {
  url: string;
  bucket: string;
  projectRoot: string;
  /** Set when serving a remote: its URL. */
  remoteUrl?: string;
  keys: KeyStore;
  /** Stop accepting, finish or cut requests in flight, wait for commits, close. */
  stop(): Promise<void>;
}

const DRAIN_MS = 5000;

export async function startServe(o: ServeOptions): Promise<Serving> {
  let mirror: RemoteMirror | undefined;
  let repo: Repo;
  let projectRoot: string;
  if (o.remote) {
    const { RemoteMirror } = await import('./remote-mirror.js');
    mirror = await RemoteMirror.open(o.cwd, { remote: o.remote, cacheBytes: o.cacheBytes ?? 1 << 30 });
    repo = mirror.repo;
    projectRoot = mirror.projectRoot;
  } else {
    repo = Repo.open(o.cwd);
    projectRoot = repo.root;
  }
  const closeRepo = (): void => (mirror ? mirror.close() : repo.close());
  let backend: RepoBackend;
  try {
    backend = new RepoBackend(repo, {
      name: o.name ?? bucketName(projectRoot),
      readOnly: mirror ? `this dv serve is read-only: it serves remote '${o.remote}' (${mirror.remote.url}); write with dv push` : undefined,
    });
  } catch (e) {
    closeRepo();
    throw e;
  }
  const keys = new KeyStore(path.join(projectRoot, '.dv', 'keys.json'));
  const intercept = await o.intercept?.({ repo, keys, bucket: backend.name });
  // Serving a remote: cluster jobs' keys and uploads too, kept on the remote (remote-jobs.ts).
  const jobs = mirror ? await import('./remote-jobs.js') : null;
  const running = await startS3Server(backend, {
    keys: jobs ? new jobs.RemoteJobKeys(keys, mirror!) : keys, jobUploads: jobs ? jobs.remoteJobUploads(mirror!) : undefined, anonymousRead: o.anonymousRead, region: o.region, host: o.host, port: o.port, onRequest: o.onRequest, intercept,
  }).catch((e: NodeJS.ErrnoException) => {
    backend.close();
    closeRepo();
    if (e.code === 'EADDRINUSE') throw new DvError(`port ${o.port} on ${o.host} is in use (--port 0 picks a free one)`);
    if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') throw new DvError(`cannot listen on ${o.host}: ${e.code}`);
    throw e;
  });
  if (mirror) mirror.refreshEvery(o.refreshMs ?? 30_000, o.onRefreshError ?? (() => undefined));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const closed = new Promise<void>((r) => running.server.close(() => r()));
      running.server.closeIdleConnections();
      await Promise.race([closed, new Promise((r) => setTimeout(r, DRAIN_MS).unref())]);
      running.server.closeAllConnections();
      await backend.idle();
      backend.close();
      closeRepo();
    })();
    return stopping;
  };
  return { url: running.url, bucket: backend.name, projectRoot, remoteUrl: mirror?.remote.url, keys, stop };
}
