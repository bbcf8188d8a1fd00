// What every command needs: the repository and its global options.
import type { Repo } from '../repo/repo.js';
import { ProgressLine } from './output.js';

export interface GlobalOptions {
  quiet?: boolean;
}

/** A checkout killed half-way is finished before anything else looks at the workspace. */
async function finishCheckout(repo: Repo, globals: GlobalOptions): Promise<void> {
  const { finishInterruptedCheckout } = await import('../repo/checkout.js');
  try {
    const r = await finishInterruptedCheckout(repo);
    if (r && !globals.quiet) {
      process.stderr.write(`dv: finished an interrupted checkout of ${r.commit.slice(0, 12)} (${r.written.length} written, ${r.removed.length} removed)\n`);
    }
  } catch (e) {
    process.stderr.write(`dv: warning: an interrupted checkout could not be finished (${(e as Error).message}); 'dv checkout -f REF' puts the workspace on one version\n`);
  }
}

/** Opens the repository around the working directory for one command and closes it after. */
export async function withRepo<T>(globals: GlobalOptions, fn: (repo: Repo, progress: ProgressLine) => Promise<T>): Promise<T> {
  const { Repo } = await import('../repo/repo.js');
  const repo = Repo.open(process.cwd());
  const progress = new ProgressLine(globals.quiet);
  try {
    await finishCheckout(repo, globals);
    return await fn(repo, progress);
  } finally {
    progress.done();
    repo.close();
  }
}
