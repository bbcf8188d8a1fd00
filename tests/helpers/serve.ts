// Running `dv serve` as a real child process in tests, and environments for the real
// third-party S3 clients (AWS CLI, rclone, s3cmd, boto3) pointed at it.
import fs from 'node:fs';
import path from 'node:path';
import { dvJson, dvOk, spawnDv, waitFor, writeFile, type DvProcess, type TempDirs } from './cli.js';

export interface Key { id: string; secret: string; read: string[]; write: string[] }

export interface Served {
  proc: DvProcess;
  url: string;
  port: number;
  stderr(): string;
}

/** Starts `dv serve` and waits for the endpoint it prints. */
export async function startServe(cwd: string, args: string[], env: Record<string, string> = {}): Promise<Served> {
  const proc = spawnDv(cwd, ['serve', '--port', '0', ...args], { env });
  let out = '';
  let err = '';
  proc.child.stdout!.on('data', (d: Buffer) => { out += d; });
  proc.child.stderr!.on('data', (d: Buffer) => { err += d; });
  const ok = await waitFor(() => /endpoint: (\S+)/.test(out) || proc.exited(), 30_000);
  const m = /endpoint: (\S+)/.exec(out);
  if (!ok || !m) throw new Error(`dv serve did not start: ${out}${err}`);
  return { proc, url: m[1]!, port: Number(new URL(m[1]!).port), stderr: () => err };
}

export async function stopServe(s: Served): Promise<number | null> {
  if (s.proc.exited()) return (await s.proc.done).code;
  s.proc.child.kill('SIGTERM');
  return (await s.proc.done).code;
}

/** A clean environment for the AWS CLI (and boto3) with `key`, nothing from the user's. */
/**
 * The served project most client tests start from: `weather/` with data/a.csv
 * committed, a branch clients write to, a key reading everything and writing only
 * that branch, `dv serve` on it, and a home directory for the clients' config.
 */
export async function servedProject(tmp: TempDirs, prefix: string, branch: string, csv = 'x,y\n1,2\n'):
  Promise<{ proj: string; key: Key; s: Served; home: string }> {
  const proj = path.join(tmp.make(prefix), 'weather');
  fs.mkdirSync(proj);
  writeFile(proj, 'data/a.csv', csv);
  await dvOk(proj, ['init']);
  await dvOk(proj, ['add', 'data', '-m', 'v1']);
  await dvOk(proj, ['branch', branch]);
  const key = await dvJson<Key>(proj, ['keys', 'create', '--read', '*', '--write', branch, '--json']);
  const s = await startServe(proj, []);
  return { proj, key, s, home: tmp.make(`${prefix}home-`) };
}

export function awsEnv(home: string, key: Key): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH, HOME: home, AWS_ACCESS_KEY_ID: key.id, AWS_SECRET_ACCESS_KEY: key.secret,
    AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: path.join(home, 'aws-config'), AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'aws-credentials'),
  };
}

/** rclone with the README's config as the remote `dv:`, from the environment only (plain http: no CA bundle). */
export function rcloneEnv(home: string, key: Key, url: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH, HOME: home,
    RCLONE_CONFIG: path.join(home, 'rclone.conf'),
    RCLONE_CONFIG_DV_TYPE: 's3', RCLONE_CONFIG_DV_PROVIDER: 'Other', RCLONE_CONFIG_DV_ENDPOINT: url,
    RCLONE_CONFIG_DV_ACCESS_KEY_ID: key.id, RCLONE_CONFIG_DV_SECRET_ACCESS_KEY: key.secret,
    RCLONE_CONFIG_DV_FORCE_PATH_STYLE: 'true', RCLONE_CONFIG_DV_NO_CHECK_BUCKET: 'true',
  };
}

/** The first of `candidates` that exists: the Debian packages' paths (CI installs them in .ci/run). */
export function findTool(name: string, candidates = [`/usr/bin/${name}`, `/usr/local/bin/${name}`]): string {
  const hit = candidates.find((p) => fs.existsSync(p));
  if (!hit) throw new Error(`${name} not found (${candidates.join(', ')}): .ci/run installs it from Debian`);
  return hit;
}
