// Which file registers which command. A command's area is loaded only when that command
// runs: importing every area (and, through them, most of dv) cost each command ~40 ms
// of start-up on a 2-core machine, a sixth of a no-op `dv status` on 2,000 files. Help, no command,
// and a name found here in no area load every area, so commander lists and suggests
// from all of them. tests/e2e/areas.test.ts checks this table against what each area
// registers.
import type { Command } from 'commander';
import type { GlobalOptions } from './context.js';

export interface Area {
  register(program: Command, g: () => GlobalOptions): void;
}

export const AREAS = {
  workspace: () => import('./commands/workspace.js'),
  history: () => import('./commands/history.js'),
  merge: () => import('./commands/merge.js'),
  maintenance: () => import('./commands/maintenance.js'),
  pipeline: () => import('./commands/pipeline.js'),
  remote: () => import('./commands/remote.js'),
  serve: () => import('./commands/serve.js'),
  ui: () => import('./commands/ui.js'),
  identity: () => import('./commands/identity.js'),
} satisfies Record<string, () => Promise<Area>>;

export type AreaName = keyof typeof AREAS;

/** The area of each top-level command. */
export const COMMAND_AREAS: Record<string, AreaName> = {
  init: 'workspace', add: 'workspace', commit: 'workspace', status: 'workspace', diff: 'workspace', checkout: 'workspace',
  log: 'history', branch: 'history', tag: 'history', ls: 'history', cat: 'history', export: 'history', import: 'history',
  merge: 'merge', reflog: 'merge',
  gc: 'maintenance', fsck: 'maintenance',
  metrics: 'pipeline', params: 'pipeline', plots: 'pipeline', exp: 'pipeline', run: 'pipeline', dag: 'pipeline', runs: 'pipeline', lineage: 'pipeline',
  remote: 'remote', push: 'remote', fetch: 'remote', pull: 'remote', clone: 'remote',
  serve: 'serve', keys: 'serve',
  ui: 'ui',
  identity: 'identity',
};

/** Global options that take a value (main.ts): the word after them is not the command. */
const TAKES_VALUE = new Set(['-C', '--cwd']);

/** The command word of `args` (argv after the script), or undefined. */
export function commandWord(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (TAKES_VALUE.has(a)) i++;
    else if (a === '--') return args[i + 1];
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

/** The areas to load for this command line: its command's, else every one. */
export function areasFor(args: string[]): (() => Promise<Area>)[] {
  const w = commandWord(args);
  const area = w !== undefined && Object.hasOwn(COMMAND_AREAS, w) ? COMMAND_AREAS[w]! : null;
  return area ? [AREAS[area]] : Object.values(AREAS);
}
