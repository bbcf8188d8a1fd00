// The outputs a cluster job left in its scratch directory: the files under each of
// the stage's outs, or why they are not acceptable (a symlink, a missing out).
// Cluster jobs write where ${out} points; in-place writes to the workspace are a
// local-executor feature.
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Job, JobOutput } from '../executor.js';
import { walkFiles } from './local.js';

export async function collectScratch(job: Job, scratch: string): Promise<JobOutput[] | string> {
  const outputs: JobOutput[] = [];
  const add = async (rel: string, abs: string): Promise<void> => {
    const st = await lstat(abs);
    outputs.push({ path: rel, file: abs, size: st.size, mode: st.mode & 0o111 ? 0o755 : 0o644 });
  };
  for (const o of job.stage.outs) {
    const abs = join(scratch, o);
    const st = await lstat(abs).catch(() => null);
    if (st?.isSymbolicLink()) return `output ${o} is a symbolic link (dv stores regular files only)`;
    if (st?.isFile()) {
      await add(o, abs);
      continue;
    }
    const files: { rel: string; abs: string }[] = [];
    if (st?.isDirectory()) {
      const err = await walkFiles(abs, o, files);
      if (err) return err;
    }
    for (const f of files) await add(f.rel, f.abs);
    if (files.length === 0 && !job.stage.outDirs.includes(o)) return `did not write output ${o} (cluster jobs write their outputs where \${out} points)`;
  }
  return outputs;
}
