// Remote settings in .dv/config.json. Adding a remote does not contact it (as in
// git): a wrong endpoint or bucket surfaces at the first push or fetch, with its
// own one-line error. This module stays free of the AWS SDK so that commands that
// only need a remote's name (dv status --remote) start fast.
import { DvError } from '../../store/errors.js';
import type { RemoteConfig } from '../config.js';
import type { Repo } from '../repo.js';

// No '/': remote-tracking refs are `remotes/<remote>/<branch>` and must split unambiguously.
const REMOTE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface RemoteInfo extends RemoteConfig {
  name: string;
  default: boolean;
}

export interface AddRemoteOptions {
  endpoint?: string;
  region?: string;
  /** Make it the default even when another remote is. */
  makeDefault?: boolean;
}

export function checkRemoteName(name: string): void {
  if (!REMOTE_NAME.test(name)) throw new DvError(`invalid remote name '${name}' (use letters, digits, '.', '_' and '-')`, 2);
}

/** Validates the URL and endpoint the way the S3 backend will read them. */
export async function normalizeRemote(url: string, opts: { endpoint?: string; region?: string }): Promise<RemoteConfig> {
  // Loaded lazily: the SDK behind it costs ~150 ms of start-up.
  const { parseS3Url } = await import('../../store/s3backend.js');
  const { bucket, prefix } = parseS3Url(url);
  const cfg: RemoteConfig = { url: `s3://${bucket}${prefix ? '/' + prefix : ''}` };
  if (opts.endpoint !== undefined) {
    if (!/^https?:\/\/[^/\s]+/.test(opts.endpoint)) {
      throw new DvError(`--endpoint must be an http:// or https:// URL, got '${opts.endpoint}'`, 2);
    }
    cfg.endpoint = opts.endpoint.replace(/\/+$/, '');
  }
  if (opts.region) cfg.region = opts.region;
  return cfg;
}

export async function addRemote(repo: Repo, name: string, url: string, opts: AddRemoteOptions = {}): Promise<RemoteInfo> {
  checkRemoteName(name);
  const cfg = await normalizeRemote(url, opts);
  return repo.withLock('remote add', () => {
    if (repo.config.remotes[name]) throw new DvError(`remote '${name}' already exists (see dv remote list)`);
    // Written out even when it was implicit (a lone remote), so a second one cannot take its place.
    const previous = currentDefault(repo);
    repo.config.remotes[name] = cfg;
    repo.config.defaultRemote = opts.makeDefault || !previous ? name : previous;
    repo.saveConfig();
    return { name, ...cfg, default: repo.config.defaultRemote === name };
  });
}

/** Forgets the remote and its remote-tracking refs; the bucket is not touched. */
export async function removeRemote(repo: Repo, name: string): Promise<void> {
  await repo.withLock('remote remove', () => {
    if (!repo.config.remotes[name]) throw new DvError(`no remote named '${name}'`);
    delete repo.config.remotes[name];
    if (repo.config.defaultRemote === name) {
      const rest = Object.keys(repo.config.remotes).sort();
      if (rest.length) repo.config.defaultRemote = rest[0];
      else delete repo.config.defaultRemote;
    }
    repo.refs.batch(() => {
      for (const r of repo.refs.list(`remotes/${name}/`)) repo.refs.delete(r.name);
    });
    repo.saveConfig();
  });
}

export function listRemotes(repo: Repo): RemoteInfo[] {
  const def = currentDefault(repo);
  return Object.entries(repo.config.remotes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, cfg]) => ({ name, ...cfg, default: name === def }));
}

function currentDefault(repo: Repo): string | undefined {
  const d = repo.config.defaultRemote;
  if (d && repo.config.remotes[d]) return d;
  const names = Object.keys(repo.config.remotes);
  return names.length === 1 ? names[0] : undefined;
}

/** The named remote, or the default one. */
export function resolveRemote(repo: Repo, name?: string): { name: string; config: RemoteConfig } {
  if (name !== undefined) {
    const config = repo.config.remotes[name];
    if (!config) throw new DvError(`no remote named '${name}' (see dv remote list)`);
    return { name, config };
  }
  const def = currentDefault(repo);
  if (!def) {
    throw new DvError(Object.keys(repo.config.remotes).length
      ? 'several remotes and no default: name one'
      : 'no remote configured; add one with: dv remote add NAME s3://BUCKET[/PREFIX] [--endpoint URL]');
  }
  return { name: def, config: repo.config.remotes[def] };
}
