// The MD5s (S3 ETags) of the files dv serve answered for lately, by content checksum,
// in memory and bounded. The MD5 index is keyed by a hash, so a lookup descends a
// B-tree whose depth grows with the number of files stored (1,000 lookups: ~3 ms more
// in a 1,000,000-file repository than in a 10,000-file one, in one read transaction);
// clients list the same pages and GET the same objects again and again, and an MD5
// never changes for a content checksum, so those requests cost no index lookup at all.
import type { StoredFile } from '../repo/types.js';

/** 64 + 32 hex characters and a Map entry: ~160 bytes each, ~5 MiB in all. */
const MAX_ENTRIES = 32_768;

/**
 * Two generations instead of an exact LRU: entries go to the young map, a hit in the old
 * one moves there, and a full young map becomes the old one (the old one is dropped). An
 * LRU evicting a Map's first key cost ~18 ms a page of 1,000 new keys (V8 steps over the
 * deleted slots at the start of the table), more than the lookups it saves.
 */
export class Md5Cache {
  private young = new Map<string, string>();
  private old = new Map<string, string>();

  /** At most `max` entries in all (two generations of max / 2). */
  constructor(private readonly max = MAX_ENTRIES) {}

  /** The MD5s of `files` in order: cached ones from memory, the rest from `lookup` (one call). */
  async md5s(files: StoredFile[], lookup: (missing: StoredFile[]) => Promise<string[]>): Promise<string[]> {
    const out = files.map((f) => this.hit(f.hash));
    const missing = files.filter((_, i) => out[i] === undefined);
    if (missing.length) {
      const found = await lookup(missing);
      let j = 0;
      for (const [i, f] of files.entries()) {
        if (out[i] !== undefined) continue;
        out[i] = found[j++]!;
        this.add(f.hash, out[i]!);
      }
    }
    return out as string[];
  }

  private hit(hash: string): string | undefined {
    const v = this.young.get(hash);
    if (v !== undefined) return v;
    const o = this.old.get(hash);
    if (o !== undefined) this.add(hash, o);
    return o;
  }

  private add(hash: string, md5: string): void {
    if (this.young.size >= Math.max(1, this.max >> 1)) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(hash, md5);
  }
}
