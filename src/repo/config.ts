// .dv/config.json: frozen chunking parameters plus user settings (remotes).
import fs from 'node:fs';
import { DEFAULT_CHUNKER, validateParams, type ChunkerParams } from '../store/chunker.js';
import { DvError } from '../store/errors.js';
import { writeFileAtomic } from '../store/fsutil.js';

export const REPO_FORMAT = 1;

export interface RemoteConfig {
  url: string;
  endpoint?: string;
  region?: string;
}

export interface RepoConfig {
  format: number;
  chunker: ChunkerParams & { algorithm: 'fastcdc-2020' };
  remotes: Record<string, RemoteConfig>;
  /** The remote push/pull/fetch use when none is named (the first one added). */
  defaultRemote?: string;
  /** How long reflog entries keep what they name alive (gc roots), in days; default 30. */
  reflogExpireDays?: number;
  /**
   * Identities sandboxed stages may run as, shaped like dv.yaml's `identities:`
   * (`dv identity add`); validated where they are used (src/pipeline/config-sandbox.ts).
   */
  identities?: Record<string, unknown>;
}

export function defaultConfig(chunker: ChunkerParams = DEFAULT_CHUNKER): RepoConfig {
  validateParams(chunker);
  return { format: REPO_FORMAT, chunker: { algorithm: 'fastcdc-2020', ...chunker }, remotes: {} };
}

export function readConfig(file: string): RepoConfig {
  let cfg: RepoConfig;
  try {
    cfg = JSON.parse(fs.readFileSync(file, 'utf8')) as RepoConfig;
  } catch (e) {
    throw new DvError(`cannot read ${file}: ${(e as Error).message}`);
  }
  if (cfg.format !== REPO_FORMAT) throw new DvError(`${file}: unsupported repository format ${cfg.format}`);
  if (cfg.chunker?.algorithm !== 'fastcdc-2020') throw new DvError(`${file}: unknown chunker '${cfg.chunker?.algorithm}'`);
  validateParams(cfg.chunker);
  cfg.remotes ??= {};
  return cfg;
}

export function writeConfig(file: string, cfg: RepoConfig): void {
  writeFileAtomic(file, JSON.stringify(cfg, null, 2) + '\n');
}
