// Read patterns applied to what the console shows. The rule is the proxy's
// (src/s3proxy/keys.ts): a key reads the branches and tags its patterns match, and
// only a key with the pattern '*' may address versions by commit id, id prefix or
// ~N, since those can reach anything ever committed.
import type { Repo } from '../repo/repo.js';
import { canRead } from '../s3proxy/keys.js';
import { badRequest, forbidden, notFound } from './http.js';
import type { Principal } from './session.js';

export interface ResolvedRef {
  ref: string;
  commit: string;
  kind: 'branch' | 'tag' | 'commit';
}

export const readsAll = (p: Principal): boolean => p.read.includes('*');

export function mayRead(p: Principal, name: string, kind: ResolvedRef['kind']): boolean {
  return canRead({ id: p.id ?? '', read: p.read, write: [], created: '' }, name, kind);
}

/** A ref as the UI sends it, resolved and checked against the principal's read patterns. */
export async function resolveFor(repo: Repo, p: Principal, ref: string): Promise<ResolvedRef> {
  if (!ref || ref.length > 300) throw badRequest('missing or overlong ref');
  let name = ref;
  if (ref === 'HEAD') {
    const head = repo.head();
    if (head.branch) name = head.branch;
  }
  let kind: ResolvedRef['kind'] = 'commit';
  if (repo.refs.get(`heads/${name}`)) kind = 'branch';
  else if (repo.refs.get(`tags/${name}`)) kind = 'tag';
  if (!mayRead(p, name, kind)) {
    throw kind === 'commit' ? forbidden(`this key may not read versions by id ('${ref}'); it reads: ${p.read.join(' ')}`)
      : forbidden(`this key may not read ${kind} '${name}'`);
  }
  const commit = await repo.resolve(kind === 'commit' ? ref : kind === 'branch' ? `heads/${name}` : `tags/${name}`);
  return { ref: name, commit, kind };
}

/** A run is readable through the branch it ran on (runs of no branch: only with '*'). */
export function mayReadRun(p: Principal, branch: string | null): boolean {
  return branch === null ? readsAll(p) : mayRead(p, branch, 'branch');
}

export function checkRunAccess(p: Principal, branch: string | null, id: string): void {
  if (!mayReadRun(p, branch)) throw notFound(`unknown run '${id}'`);
}
