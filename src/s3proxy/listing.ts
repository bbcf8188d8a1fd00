// Keys are `<ref>/<path>`. This module maps keys to versions and lists a bucket as
// one sorted key space spanning every readable ref.
//
// Ref names may contain slashes (`feature/x`), so a key is matched against the known
// branch and tag names first (longest match wins) and only then is its first segment
// tried as a commit id, prefix or HEAD~N. Like git, dv cannot have both `a` and
// `a/b` as refs, so the longest match is never ambiguous.
import type { FileEntry } from '../repo/types.js';
import { s3err } from './errors.js';
import { type Ctx, requireRead } from './request.js';
import type { RefInfo } from './types.js';
import { cmpKey } from './key-order.js';

export { cmpKey };

export interface Located {
  ref: string;
  kind: 'branch' | 'tag' | 'commit';
  commit: string;
  time: Date;
  /** Path inside the version ('' when the key is just the ref). */
  path: string;
}

function longestRef(refs: RefInfo[], key: string): RefInfo | undefined {
  let best: RefInfo | undefined;
  for (const r of refs) {
    if ((key === r.name || key.startsWith(`${r.name}/`)) && (!best || r.name.length > best.name.length)) best = r;
  }
  return best;
}

/** The version a key points into, or null when its ref does not exist. */
export async function locate(ctx: Ctx, bucket: string, key: string): Promise<Located | null> {
  const refs = await ctx.backend.listRefs(bucket);
  const hit = longestRef(refs, key);
  if (hit) return { ref: hit.name, kind: hit.kind, commit: hit.commit, time: hit.time, path: key.slice(hit.name.length + 1) };
  const slash = key.indexOf('/');
  const name = slash < 0 ? key : key.slice(0, slash);
  if (name === '') return null;
  const r = await ctx.backend.resolve(bucket, name);
  if (!r) return null;
  return { ref: name, kind: r.kind, commit: r.commit, time: r.time, path: slash < 0 ? '' : key.slice(slash + 1) };
}

export interface Listed {
  key: string;
  entry: FileEntry;
  time: Date;
}

export interface ListParams {
  prefix: string;
  delimiter: string;
  /** List keys strictly after this one (marker, start-after or continuation token). */
  after: string | undefined;
  maxKeys: number;
}

export interface ListOutcome {
  contents: Listed[];
  commonPrefixes: string[];
  isTruncated: boolean;
  /** The last key or common prefix returned: where the next page starts. */
  last: string | undefined;
}

interface Source {
  name: string;
  commit: string;
  time: Date;
  subPrefix: string;
}

async function sourcesFor(ctx: Ctx, bucket: string, prefix: string): Promise<Source[]> {
  const refs = await ctx.backend.listRefs(bucket);
  let single: RefInfo | undefined;
  for (const r of refs) {
    if (prefix.startsWith(`${r.name}/`) && (!single || r.name.length > single.name.length)) single = r;
  }
  if (single) {
    requireRead(ctx, single.name, single.kind);
    return [{ name: single.name, commit: single.commit, time: single.time, subPrefix: prefix.slice(single.name.length + 1) }];
  }
  const matching = refs
    .filter((r) => `${r.name}/`.startsWith(prefix))
    .filter((r) => {
      try {
        requireRead(ctx, r.name, r.kind);
        return true;
      } catch {
        return false; // unreadable refs are left out of bucket-wide listings
      }
    })
    .sort((a, b) => cmpKey(`${a.name}/`, `${b.name}/`));
  if (matching.length > 0 || refs.some((r) => `${r.name}/`.startsWith(prefix))) {
    return matching.map((r) => ({ name: r.name, commit: r.commit, time: r.time, subPrefix: '' }));
  }
  const slash = prefix.indexOf('/');
  if (slash <= 0) return [];
  const name = prefix.slice(0, slash);
  const r = await ctx.backend.resolve(bucket, name);
  if (!r) return [];
  requireRead(ctx, name, r.kind);
  return [{ name, commit: r.commit, time: r.time, subPrefix: prefix.slice(slash + 1) }];
}

async function* scan(ctx: Ctx, bucket: string, sources: Source[], after: string | undefined): AsyncGenerator<Listed> {
  for (const src of sources) {
    const base = `${src.name}/`;
    let subAfter: string | undefined;
    if (after !== undefined) {
      if (after.startsWith(base)) subAfter = after.slice(base.length);
      else if (cmpKey(after, base) > 0) continue; // every key of this ref sorts before `after`
    }
    for await (const item of ctx.backend.walk(bucket, src.commit, src.subPrefix, subAfter)) {
      yield { key: base + item.path, entry: item.entry, time: src.time };
    }
  }
}

// Larger than any code point a key can hold: seeking past `prefix + SKIP` skips
// everything under `prefix`, so a common prefix costs one seek, not a walk of its keys.
const SKIP = '\u{10FFFF}';

/**
 * One page of a listing. Each page seeks with `after` and stops one key past the
 * page, so listing n keys page by page is O(n) in total.
 */
export async function listPage(ctx: Ctx, bucket: string, p: ListParams): Promise<ListOutcome> {
  // S3 answers max-keys=0 with an empty, untruncated page (nothing to continue from).
  if (p.maxKeys === 0) return { contents: [], commonPrefixes: [], isTruncated: false, last: undefined };
  const sources = await sourcesFor(ctx, bucket, p.prefix);
  const contents: Listed[] = [];
  const commonPrefixes: string[] = [];
  let last: string | undefined;
  let isTruncated = false;
  let lastCp: string | undefined;
  let after = p.after;
  // A marker that is itself a common prefix (as we hand out) means "after everything under it".
  if (p.delimiter && after !== undefined && after.startsWith(p.prefix) && after.length > p.prefix.length && after.endsWith(p.delimiter)) {
    lastCp = after;
    after = after + SKIP;
  }
  let it = scan(ctx, bucket, sources, after);
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      const item = r.value;
      if (!item.key.startsWith(p.prefix)) continue;
      if (after !== undefined && cmpKey(item.key, after) <= 0) continue;
      if (lastCp !== undefined && item.key.startsWith(lastCp)) continue;
      let cp: string | undefined;
      if (p.delimiter) {
        const i = item.key.indexOf(p.delimiter, p.prefix.length);
        if (i >= 0) cp = item.key.slice(0, i + p.delimiter.length);
      }
      if (contents.length + commonPrefixes.length >= p.maxKeys) {
        isTruncated = true;
        break;
      }
      if (cp !== undefined) {
        commonPrefixes.push(cp);
        last = lastCp = cp;
        await it.return(undefined);
        it = scan(ctx, bucket, sources, cp + SKIP);
      } else {
        contents.push(item);
        last = item.key;
      }
    }
  } finally {
    await it.return(undefined);
  }
  return { contents, commonPrefixes, isTruncated, last };
}

/** Parse max-keys / max-parts style parameters: default, cap at 1000, reject garbage. */
export function parseMax(v: string | undefined, name: string, def = 1000): number {
  if (v === undefined || v === '') return def;
  if (!/^\d{1,10}$/.test(v)) throw s3err('InvalidArgument', `Provided ${name} not an integer or within integer range`, { ArgumentName: name, ArgumentValue: v });
  return Math.min(Number(v), 1000);
}
