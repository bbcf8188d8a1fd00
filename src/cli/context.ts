// What every command needs: the repository and its global options.
import type { Repo } from '../repo/repo.js';
import { ProgressLine } from './output.js';

export interface GlobalOptions {
  quiet?: boolean;
  cwd?: string;
}

/** Opens the repository around the working directory for one command and closes it after. */
export async function withRepo<T>(globals: GlobalOptions, fn: (repo: Repo, progress: ProgressLine) => Promise<T>): Promise<T> {
  const { Repo } = await import('../repo/repo.js');
  const repo = Repo.open(globals.cwd ?? process.cwd());
  const progress = new ProgressLine(globals.quiet);
  try {
    return await fn(repo, progress);
  } finally {
    progress.done();
    repo.close();
  }
}
