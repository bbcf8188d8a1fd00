// Identities declared in the repository config (.dv/config.json `identities`, written
// by `dv identity add`) as well as in dv.yaml. Both are validated by the same parser
// (config-sandbox.ts), errors naming the file they come from. A name declared in both
// places is an error rather than one silently winning: the repository config is the
// machine's (not versioned), dv.yaml the workflow's (versioned, edited by whoever
// changes the pipeline), and letting either redefine the other's uid or write
// patterns would let a pipeline change quietly widen what an identity may do.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Repo } from '../repo/repo.js';
import { DvError } from '../store/errors.js';
import { Checker, isMap } from './config-check.js';
import { parseIdentities, type IdentityConfig } from './config-sandbox.js';

export const REPO_CONFIG_PLACE = '.dv/config.json';

/** The raw `identities` of `<root>/.dv/config.json`, or undefined (no repository there, none declared). */
export function repoConfigIdentities(root: string): unknown {
  let text: string;
  try { text = readFileSync(join(root, '.dv', 'config.json'), 'utf8'); } catch { return undefined; }
  try {
    const cfg = JSON.parse(text) as { identities?: unknown };
    return cfg.identities;
  } catch {
    return undefined; // the repository itself reports a broken config when opened
  }
}

/** dv.yaml's identities plus the repository config's; a name in both is an error naming both places. */
export function mergeIdentities(c: Checker, fromYaml: Map<string, IdentityConfig>, repoRaw: unknown): Map<string, IdentityConfig> {
  const fromRepo = parseIdentities(new Checker(REPO_CONFIG_PLACE), repoRaw);
  const out = new Map(fromYaml);
  for (const [name, id] of fromRepo) {
    if (out.has(name)) c.fail(`identities.${name}`, `also declared in ${REPO_CONFIG_PLACE} (dv identity): declare an identity in one place`);
    out.set(name, id);
  }
  return out;
}

export interface IdentityDef {
  user?: string;
  uid?: number;
  gid?: number;
  write?: string[];
}

/** The repository config's identities, validated. */
export function listRepoIdentities(repo: Repo): IdentityConfig[] {
  return [...parseIdentities(new Checker(REPO_CONFIG_PLACE), repo.config.identities).values()];
}

/** Declares (or redefines) an identity in the repository config; checked before anything is written. */
export function addRepoIdentity(repo: Repo, name: string, def: IdentityDef): IdentityConfig {
  const raw: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(def)) if (v !== undefined) raw[k] = v;
  const parsed = parseIdentities(new Checker(REPO_CONFIG_PLACE), { [name]: raw }).get(name)!;
  const all = isMap(repo.config.identities) ? { ...repo.config.identities } : {};
  all[name] = raw;
  repo.config.identities = all;
  repo.saveConfig();
  return parsed;
}

export function removeRepoIdentity(repo: Repo, name: string): void {
  const all = isMap(repo.config.identities) ? { ...repo.config.identities } : {};
  if (!(name in all)) throw new DvError(`no identity '${name}' in ${REPO_CONFIG_PLACE}`);
  delete all[name];
  repo.config.identities = all;
  repo.saveConfig();
}
