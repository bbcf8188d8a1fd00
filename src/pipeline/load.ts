// Which pipeline file a project has: dv.yaml (the native format) or dvc.yaml (DVC's,
// run unmodified). Both at once would leave it unclear which one runs: an error.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DvError } from '../store/errors.js';
import { CONFIG_FILE, loadConfig } from './config.js';
import { DVC_FILE, parseDvcYaml } from './dvc-yaml.js';
import type { PipelineConfig } from './types.js';

/** 'dv.yaml' or 'dvc.yaml', whichever `root` has. */
export function pipelineFile(root: string): string {
  const dv = existsSync(join(root, CONFIG_FILE));
  const dvc = existsSync(join(root, DVC_FILE));
  if (dv && dvc) throw new DvError(`both ${CONFIG_FILE} and ${DVC_FILE} exist in ${root}: keep one (dv runs either)`);
  if (!dv && !dvc) throw new DvError(`no ${CONFIG_FILE} (or ${DVC_FILE}) in ${root}`);
  return dv ? CONFIG_FILE : DVC_FILE;
}

/**
 * Loads and validates the project's pipeline; missing deps are checked against the
 * workspace. `repoRoot`: the repository whose config declares identities, when the
 * workspace is elsewhere (an experiment's copy).
 */
export function loadPipeline(root: string, repoRoot = root): PipelineConfig {
  if (pipelineFile(root) === CONFIG_FILE) return loadConfig(root, { repoRoot });
  const readFile = (rel: string): string | null => {
    try {
      return readFileSync(join(root, rel), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  };
  return parseDvcYaml(readFile(DVC_FILE)!, { readFile, exists: (p) => existsSync(join(root, p)) });
}
