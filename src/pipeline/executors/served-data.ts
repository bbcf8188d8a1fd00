// The coordinator's half of `data: s3` (job-io.ts is the job's): cluster jobs that
// share no filesystem with dv run read their inputs from, and write their outputs
// to, dv serve with a temporary job key. Per batch this mints a key that reads only
// the run's inputs commit (the workspace as the run sees it, committed on no branch:
// inputs need not be committed yet) and writes only the upload branch; it writes out
// each datum's job-io spec. When a datum's status file arrived, its outputs are
// checked: every file the job reported is there with its size and SHA-256
// recomputed from the stored chunks, nothing unreported came along; only then are
// they handed to the run (as local files, stored and committed as for local runs).
// The proxy's writes land in the run's own open repository, so they nest inside the
// run's lock (src/s3proxy/job-endpoint.ts). With `remote` (dv run --data-endpoint) the
// jobs talk to a `dv serve --remote` instead, and keys, inputs and uploads travel
// through that remote (src/repo/remote/job-data.ts); the checks are the same.
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { jobCredentialEnv, mintJobKey, revokeJobKey } from '../../repo/job-keys.js';
import { resolveRemote } from '../../repo/remote/config.js';
import { dropUploads, fetchUploadPacks, JOB_UPLOAD_AREA, listUploads, publishJobKey, pushPacks, readUploadManifest, withdrawBatchKeys, withdrawJobKey } from '../../repo/remote/job-data.js';
import { Remote } from '../../repo/remote/remote.js';
import type { Repo } from '../../repo/repo.js';
import { buildTree } from '../../repo/trees.js';
import type { FileEntry } from '../../repo/types.js';
import type { Job, JobOutput } from '../executor.js';
import type { JobEndpoint, StartJobEndpoint } from '../job-access.js';
import type { JobIoSpec } from './job-io.js';
import { taskSpec } from './task-spec.js';

/** The branch jobs upload to; one per repository (runs hold the lock), gone once no journalled job needs it. */
export const UPLOAD_BRANCH = JOB_UPLOAD_AREA;

export interface ServedDataOptions {
  repo: Repo;
  runId: string;
  start: StartJobEndpoint;
  /** The commit the stage's inputs are read from (staged by the run). */
  inputs: (stage: string) => Promise<string>;
  /**
   * The remote that the `dv serve --remote` behind `start`'s endpoint serves: the
   * inputs' packs and the job keys go there, the uploads come back from there
   * (src/repo/remote/job-data.ts). Without it the endpoint is this run's own repository.
   */
  remote?: string;
}

export interface DatumStatus {
  rc: number;
  start: number;
  end: number;
  outputs: { path: string; size: number; sha256: string; mode: number }[];
  /** base64, the last MiB of each. */
  stdout?: string;
  stderr?: string;
}

/** The job-io program as shipped to the jobs (the compiled file, without its export lines). */
export function jobIoSource(): string {
  // From src/ (tests importing the sources) the compiled file is the one under dist/.
  const here = fileURLToPath(new URL('./job-io.js', import.meta.url));
  const file = existsSync(here) ? here : fileURLToPath(new URL('../../../dist/pipeline/executors/job-io.js', import.meta.url));
  return readFileSync(file, 'utf8').replace(/^\/\/# sourceMappingURL.*$/m, '');
}

/** What a datum's job runs and moves; `scratch` is node-local. */
export function jobIoSpecs(jobs: Job[], from: string, to: string, scratchBase: string): JobIoSpec[] {
  return jobs.map((job, i) => {
    const scratch = `${scratchBase}-${i}`;
    const t = taskSpec(job, join(scratch, 'w'), join(scratch, 'o'));
    const { stage, datum } = job;
    const inputs = stage.foreach !== null
      ? [...(datum.input ? [datum.input] : []), ...stage.deps.filter((d) => stage.foreachBase === null || !(stage.foreachBase + '/').startsWith(d.replace(/\/?$/, '/')))]
      : [...stage.deps];
    return { from, inputs: [...new Set(inputs)], to: `${to}/${i}`, scratch, outs: stage.outs, ...t };
  });
}

export class ServedData {
  private endpoint: Promise<JobEndpoint> | null = null;
  private readonly keys: string[] = [];
  /** Made once per run, before the first batch's key (batches are prepared concurrently). */
  private branch: Promise<void> | null = null;
  private remote: Remote | null = null;
  /** Batches whose uploads this run looked at (on a remote, what close drops). */
  private readonly batches = new Set<string>();
  /** Inputs commits already on the remote. */
  private readonly pushed = new Map<string, Promise<number>>();

  constructor(private readonly opts: ServedDataOptions) {}

  /** Endpoint, key and specs for one batch; the environment carries the key (never the script). */
  async prepare(jobs: Job[], batch: string, scratchBase: string): Promise<{ env: Record<string, string>; specs: JobIoSpec[] }> {
    const { repo } = this.opts;
    this.endpoint ??= this.opts.start(repo);
    const ep = await this.endpoint;
    const commit = await this.opts.inputs(jobs[0]!.stage.name);
    const ttl = Math.min(12 * 3600, Math.ceil(jobs.reduce((s, j) => s + (j.stage.timeoutSec ?? 600), 0)) + 3600);
    const grant = { read: [commit], write: [UPLOAD_BRANCH], writePaths: [`${UPLOAD_BRANCH}/${batch}/`], ttlSeconds: ttl, identity: null, runId: this.opts.runId };
    const remote = this.connect();
    let creds;
    if (remote) {
      // The inputs' packs first: a server that sees the key re-syncs and then finds them.
      if (!this.pushed.has(commit)) this.pushed.set(commit, pushPacks(repo, remote));
      await this.pushed.get(commit);
      creds = await mintJobKey(repo, grant, { add: (rec) => publishJobKey(remote, rec) });
      this.batches.add(batch);
    } else {
      this.branch ??= (async () => {
        if (repo.refs.get(`heads/${UPLOAD_BRANCH}`)) return; // a killed run's jobs may still report there
        const tree = await buildTree(repo.objects, []);
        repo.refs.set(`heads/${UPLOAD_BRANCH}`, await repo.writeCommit({ tree, parents: [], paths: [], message: 'cluster job uploads', git: null }));
      })();
      await this.branch;
      creds = await mintJobKey(repo, grant);
    }
    this.keys.push(creds.accessKeyId);
    const env = { ...jobCredentialEnv(creds, ep.url), DV_BUCKET: ep.bucket };
    return { env, specs: jobIoSpecs(jobs, `s3://${ep.bucket}/${commit}`, `s3://${ep.bucket}/${UPLOAD_BRANCH}/${batch}`, scratchBase) };
  }

  private connect(): Remote | null {
    if (!this.opts.remote) return null;
    if (!this.remote) {
      const { name, config } = resolveRemote(this.opts.repo, this.opts.remote);
      this.remote = Remote.connect(name, config);
    }
    return this.remote;
  }

  /** Paths under `prefix` of what the jobs uploaded. */
  private async *uploaded(prefix: string): AsyncGenerator<string> {
    const remote = this.connect();
    if (remote) {
      yield* await listUploads(remote, prefix);
      return;
    }
    const head = this.opts.repo.refs.get(`heads/${UPLOAD_BRANCH}`);
    if (head) for await (const item of this.opts.repo.walk(head, prefix || undefined)) yield item.path;
  }

  /** The stored file a job uploaded at `path` (its chunks made local first when they are on the remote). */
  private async entryAt(path: string): Promise<FileEntry | null> {
    const { repo } = this.opts;
    const remote = this.connect();
    if (remote) {
      const m = await readUploadManifest(remote, path);
      if (!m) return null;
      await fetchUploadPacks(repo, remote, m);
      return { name: path.slice(path.lastIndexOf('/') + 1), type: 'file', mode: 0o644, size: m.size, hash: m.hash, chunks: m.chunks };
    }
    const head = repo.refs.get(`heads/${UPLOAD_BRANCH}`);
    const entry = head ? await repo.lookup(head, path) : null;
    return entry?.type === 'file' ? entry : null;
  }

  /** `batch/i` of every datum whose status file arrived. */
  async finished(): Promise<Set<string>> {
    const out = new Set<string>();
    for await (const p of this.uploaded('')) {
      const m = /^([^/]+)\/(\d+)\.json$/.exec(p);
      if (m) out.add(`${m[1]}/${m[2]}`);
    }
    return out;
  }

  private async read(path: string): Promise<{ entry: FileEntry; body: Buffer } | null> { // small files: the status
    const entry = await this.entryAt(path);
    if (!entry) return null;
    const parts: Buffer[] = [];
    for await (const b of this.opts.repo.openFile(entry)) parts.push(b as Buffer);
    return { entry, body: Buffer.concat(parts) };
  }

  /** A datum's status and logs, and its outputs checked and written under `dir`; `error` says what did not match. */
  async result(batch: string, i: number, dir: string): Promise<{ status: DatumStatus | null; stdout: Buffer; stderr: Buffer; outputs: JobOutput[]; error: string | null }> {
    const at = `${batch}/${i}`;
    this.batches.add(batch);
    const json = await this.read(`${at}.json`);
    let status: DatumStatus | null = null;
    try {
      status = json ? JSON.parse(json.body.toString('utf8')) as DatumStatus : null;
    } catch { /* reported below */ }
    const logs = { stdout: Buffer.from(status?.stdout ?? '', 'base64'), stderr: Buffer.from(status?.stderr ?? '', 'base64') };
    if (!status || !Array.isArray(status.outputs)) return { status: null, ...logs, outputs: [], error: 'the job uploaded no readable status' };
    if (status.rc !== 0) return { status, ...logs, outputs: [], error: null };
    const reported = new Set(status.outputs.map((o) => o.path));
    for await (const p of this.uploaded(`${at}/o/`)) {
      const rel = p.slice(`${at}/o/`.length);
      if (!reported.has(rel)) return { status, ...logs, outputs: [], error: `output ${rel} arrived but the job did not report it` };
    }
    const outputs: JobOutput[] = [];
    for (const o of status.outputs) {
      const entry = await this.entryAt(`${at}/o/${o.path}`);
      if (!entry) return { status, ...logs, outputs: [], error: `output ${o.path} was reported but never arrived` };
      // Hashed from the stored chunks while written out: outputs need not fit in memory.
      const file = join(dir, o.path);
      await mkdir(dirname(file), { recursive: true });
      const h = createHash('sha256');
      let size = 0;
      await pipeline(this.opts.repo.openFile(entry), new Transform({
        transform(b: Buffer, _e, cb) { h.update(b); size += b.length; cb(null, b); },
      }), createWriteStream(file));
      const sha = h.digest('hex');
      if (size !== o.size || sha !== o.sha256) {
        return { status, ...logs, outputs: [], error: `output ${o.path} arrived damaged: ${size} bytes with SHA-256 ${sha.slice(0, 12)}…, the job reported ${o.size} bytes with ${String(o.sha256).slice(0, 12)}…` };
      }
      outputs.push({ path: o.path, file, size: o.size, mode: o.mode === 0o755 ? 0o755 : 0o644 });
    }
    return { status, ...logs, outputs, error: null };
  }

  /** Revokes this run's keys, drops the upload branch when `keep` is false, stops the endpoint. */
  async close(keep: boolean): Promise<void> {
    const remote = this.remote;
    for (const id of this.keys.splice(0)) await (remote ? withdrawJobKey(remote, id) : revokeJobKey(this.opts.repo, id));
    if (remote) await withdrawBatchKeys(remote, this.batches);
    if (!keep) {
      if (remote) for (const b of this.batches) await dropUploads(remote, b);
      else this.opts.repo.refs.delete(`heads/${UPLOAD_BRANCH}`);
    }
    this.remote = null;
    remote?.close();
    const ep = this.endpoint;
    this.endpoint = null;
    if (ep) await (await ep.catch(() => null))?.stop();
  }
}

/**
 * The shell lines that write job-io to the node and define `spec_of I` (datum I's spec).
 * One node process then runs all the datums of a batch (`node "$io" run SPEC...`), so
 * its start-up is paid once per batch like the engine's.
 */
export function servedCases(specs: JobIoSpec[], quote: (s: string) => string): string[] {
  // Removed on any exit, a cancelled job's (scancel, a deleted Job) included.
  const lines = ['io="${TMPDIR:-/tmp}/dv-job-io-$$.mjs"', 'trap \'rm -f "$io"\' EXIT', "cat > \"$io\" <<'DV_JOB_IO'", jobIoSource().trimEnd(), 'DV_JOB_IO',
    'spec_of() {', '  case "$1" in'];
  specs.forEach((s, i) => lines.push(`  ${i}) printf '%s' ${quote(JSON.stringify(s))} ;;`));
  lines.push('  *) echo "dv: no datum $1 here" >&2; return 1 ;;', '  esac', '}');
  return lines;
}
