// dv clone: a new repository with the remote's chunker parameters, the remote as
// 'origin', everything fetched, and one branch checked out. A failure removes what
// clone created, so a retry starts clean.
import fs from 'node:fs';
import path from 'node:path';
import { DvError } from '../../store/errors.js';
import { checkout } from '../checkout.js';
import { Repo } from '../repo.js';
import type { Progress } from '../snapshot.js';
import { addRemote, checkRemoteName, normalizeRemote } from './config.js';
import { fetchWith, type FetchResult } from './fetch.js';
import type { TransferProgress } from './progress.js';
import { Remote } from './remote.js';

export interface CloneOptions {
  endpoint?: string;
  region?: string;
  /** Branch to check out; default main, else the only (or first) branch. */
  branch?: string;
  /** Name of the remote in the new repository. */
  name?: string;
  jobs?: number;
  onProgress?: (p: TransferProgress | Progress) => void;
}

export interface CloneResult {
  root: string;
  remote: string;
  url: string;
  branch: string | null;
  commit: string | null;
  fetch: FetchResult;
  files: number;
}

function pickBranch(branches: string[], wanted?: string): string | null {
  if (wanted) {
    if (!branches.includes(wanted)) throw new DvError(`remote has no branch '${wanted}'`);
    return wanted;
  }
  if (branches.includes('main')) return 'main';
  return branches.sort()[0] ?? null;
}

export async function clone(url: string, dir: string, opts: CloneOptions = {}): Promise<CloneResult> {
  const name = opts.name ?? 'origin';
  checkRemoteName(name);
  const root = path.resolve(dir);
  const existed = fs.existsSync(root);
  if (existed && (!fs.statSync(root).isDirectory() || fs.readdirSync(root).length > 0)) {
    throw new DvError(`destination '${dir}' already exists and is not an empty directory`);
  }
  const cfg = await normalizeRemote(url, opts);
  const remote = Remote.connect(name, cfg, { jobs: opts.jobs });
  let repo: Repo | undefined;
  try {
    // Nothing is created until the remote has answered.
    const meta = await remote.requireMeta();
    const { min, avg, max } = meta.chunker;
    repo = Repo.init(root, { chunker: { min, avg, max } });
    const r = repo;
    await addRemote(r, name, cfg.url, { endpoint: cfg.endpoint, region: cfg.region });
    return await r.withLock('clone', async () => {
      const fetched = await fetchWith(r, remote, opts.onProgress);
      const branches = r.refs.list(`remotes/${name}/`).map((x) => x.name.slice(`remotes/${name}/`.length));
      const branch = pickBranch(branches, opts.branch);
      let commit: string | null = null;
      let files = 0;
      if (branch) {
        commit = r.refs.get(`remotes/${name}/${branch}`)!;
        r.db.transaction(() => {
          r.refs.set(`heads/${branch}`, commit!);
          r.refs.setHeadBranch(branch);
        })();
        files = (await checkout(r, branch, { onProgress: opts.onProgress })).written.length;
      }
      return { root, remote: name, url: cfg.url, branch, commit, fetch: fetched, files };
    });
  } catch (e) {
    repo?.close();
    repo = undefined;
    if (existed) for (const f of fs.readdirSync(root)) fs.rmSync(path.join(root, f), { recursive: true, force: true });
    else fs.rmSync(root, { recursive: true, force: true });
    throw e;
  } finally {
    repo?.close();
    remote.close();
  }
}
