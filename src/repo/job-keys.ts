// Temporary access keys made for one job, as AWS STS makes them: an access key id,
// a secret, a session token and an expiry. `dv serve` accepts such a key only with
// its session token (x-amz-security-token, header or presigned query) and only
// before it expires; the run revokes it when the job ends. The grant is narrow by
// construction: read the versions the job's inputs come from, write the run's output
// branch. This module sits below both the pipeline (which mints) and the proxy
// (which checks), so neither imports the other; keys live in .dv/keys.json with the
// long-lived ones (access-keys.ts).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import { DvError } from '../store/errors.js';
import { KeyStore, newId, newSecret, type KeyRecord } from './access-keys.js';
import type { Repo } from './repo.js';

export interface JobCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  /** ISO 8601, UTC. */
  expiration: string;
}

export interface JobGrant {
  /** Ref patterns or full commit ids the job may read. */
  read: string[];
  /** Branch patterns the job may write (normally just the run's output branch). */
  write: string[];
  ttlSeconds: number;
  identity: string | null;
  runId: string;
  /** Narrower still: only below these `<branch>/<path prefix>/` (a batch's upload area). */
  writePaths?: string[];
}

/** At most 12 hours, as STS's default session limit. */
export const MAX_TTL_SECONDS = 12 * 3600;

export const keyStoreOf = (repo: Repo): KeyStore => new KeyStore(path.join(repo.dvDir, 'keys.json'));

const tokenHash = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** `store`: where the record goes instead of .dv/keys.json (the remote, for dv serve --remote: job-data.ts). */
export async function mintJobKey(repo: Repo, grant: JobGrant, store?: { add(rec: KeyRecord, now: number): void | Promise<void> }): Promise<JobCredentials> {
  if (!(grant.ttlSeconds > 0) || grant.ttlSeconds > MAX_TTL_SECONDS) throw new DvError(`a job key lives 1 to ${MAX_TTL_SECONDS} seconds, not ${grant.ttlSeconds}`);
  if (grant.read.length === 0 && grant.write.length === 0) throw new DvError('a job key needs something to read or write');
  const now = Date.now();
  const sessionToken = `DVJ${randomBytes(48).toString('base64url')}`;
  const expiration = new Date(now + Math.round(grant.ttlSeconds * 1000)).toISOString();
  const rec: KeyRecord = {
    id: newId(), secret: newSecret(), read: [...grant.read], write: [...grant.write], created: new Date(now).toISOString(),
    description: `job key of run ${grant.runId}`, expires: expiration, identity: grant.identity, runId: grant.runId,
    tokenSha256: tokenHash(sessionToken), ...(grant.writePaths ? { writePaths: [...grant.writePaths] } : {}),
  };
  await (store ?? keyStoreOf(repo)).add(rec, now);
  return { accessKeyId: rec.id, secretAccessKey: rec.secret, sessionToken, expiration };
}

export async function revokeJobKey(repo: Repo, accessKeyId: string): Promise<void> {
  keyStoreOf(repo).remove(accessKeyId);
}

/** Why a request signed with `key` and carrying `token` may not proceed, or null when it may. */
export function sessionProblem(key: KeyRecord, token: string | undefined, now = Date.now()): 'missing' | 'invalid' | 'expired' | null {
  if (key.tokenSha256 === undefined) return token === undefined ? null : 'invalid';
  if (token === undefined) return 'missing';
  const want = Buffer.from(key.tokenSha256, 'hex');
  const got = Buffer.from(tokenHash(token), 'hex');
  if (want.length !== got.length || !timingSafeEqual(want, got)) return 'invalid';
  if (key.expires !== undefined && !(Date.parse(key.expires) > now)) return 'expired';
  return null;
}

/** The usual AWS_* variables plus DV_ENDPOINT: what an S3 client in the job needs, nothing dv-specific. */
export function jobCredentialEnv(creds: JobCredentials, endpoint: string, region = 'us-east-1'): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: creds.accessKeyId,
    AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
    AWS_SESSION_TOKEN: creds.sessionToken,
    // Not AWS_CREDENTIAL_EXPIRATION: botocore then refuses keys with under 15 minutes left.
    DV_CREDENTIAL_EXPIRATION: creds.expiration,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ENDPOINT_URL: endpoint,
    AWS_ENDPOINT_URL_S3: endpoint,
    DV_ENDPOINT: endpoint,
  };
}
