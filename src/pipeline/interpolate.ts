// `${...}` placeholders in stage commands and env values. The same template is
// expanded twice: with workspace paths (what the planner compares and the run-cache
// keys on, so scratch locations never leak into a key) and with the executor's own
// paths (what actually runs).
import type { ParamValue, Params, StageConfig } from './types.js';

export const BUILTINS = ['in', 'out', 'outdir', 'datum', 'name', 'stem', 'key', 'outs', 'deps', 'stage'] as const;
export type Builtin = (typeof BUILTINS)[number];

const PLACEHOLDER = /\$(\$?)\{([^}]*)\}/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export interface Placeholder {
  raw: string;
  name: string;
}

/** Every `${name}` of a template (escaped `$${...}` excluded), in order. */
export function placeholders(template: string): Placeholder[] {
  const found: Placeholder[] = [];
  for (const m of template.matchAll(PLACEHOLDER)) {
    if (m[1] === '') found.push({ raw: m[0], name: m[2]!.trim() });
  }
  return found;
}

export function isValidPlaceholderName(name: string): boolean {
  return NAME.test(name);
}

/** The param a placeholder name refers to, or null for a builtin. */
export function paramOf(name: string): string | null {
  if (name.startsWith('params.')) return name.slice('params.'.length);
  return (BUILTINS as readonly string[]).includes(name) ? null : name;
}

/** Why `name` cannot be used in this stage, or null when it can. */
export function placeholderProblem(name: string, stage: StageConfig, params: Params): string | null {
  if (!isValidPlaceholderName(name)) return `bad placeholder \${${name}}`;
  const param = paramOf(name);
  if (param !== null) {
    if (Object.prototype.hasOwnProperty.call(params, param)) return null;
    const hint = /^[A-Z_][A-Z0-9_]*$/.test(name) ? ` (write $\${${name}} for a shell variable)` : '';
    const isPrefix = Object.keys(params).some((k) => k.startsWith(param + '.'));
    if (isPrefix) return `\${${name}} names a group of params, not a value`;
    return `unknown placeholder \${${name}}${hint}`;
  }
  const b = name as Builtin;
  const needsForeach: Builtin[] = ['in', 'outdir', 'datum', 'name', 'stem'];
  if (needsForeach.includes(b) && stage.foreach === null) return `\${${name}} needs foreach`;
  if (b === 'key' && stage.partition === null) return '${key} needs partition';
  if (b === 'out' && stage.foreach === null && stage.outs.length !== 1) {
    return `\${out} needs exactly one out (this stage has ${stage.outs.length}; use \${outs})`;
  }
  if (b === 'outs' && stage.outs.length === 0) return '${outs} needs outs';
  return null;
}

/** Values of the builtins for one datum; paths already in the form the command should see. */
export interface Bindings {
  stage: string;
  in?: string | null;
  out?: string | null;
  outdir?: string | null;
  datum?: string | null;
  name?: string | null;
  stem?: string | null;
  key?: string | null;
  outs: string[];
  deps: string[];
  params: Params;
}

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** One shell word that the shell turns back into exactly `s`. */
export function shellQuote(s: string): string {
  if (s === '') return "''";
  if (SAFE.test(s)) return s;
  return "'" + s.replace(/'/g, `'\\''`) + "'";
}

function paramText(v: ParamValue): string {
  return v === null ? '' : String(v);
}

/**
 * Expands a template. `shell` quotes every substituted value as one shell word
 * (lists become several words); `raw` inserts plain text (for env values).
 * Unknown placeholders throw: config validation has already rejected them.
 */
export function interpolate(template: string, b: Bindings, mode: 'shell' | 'raw'): string {
  const q = mode === 'shell' ? shellQuote : (s: string) => s;
  return template.replace(PLACEHOLDER, (whole, esc: string, inner: string) => {
    if (esc === '$') return whole.slice(1);
    const name = inner.trim();
    const param = paramOf(name);
    if (param !== null) {
      if (!Object.prototype.hasOwnProperty.call(b.params, param)) throw new Error(`unbound placeholder ${whole}`);
      const v = b.params[param]!;
      return typeof v === 'string' ? q(v) : paramText(v);
    }
    if (name === 'outs' || name === 'deps') {
      const list = name === 'outs' ? b.outs : b.deps;
      return mode === 'shell' ? list.map(shellQuote).join(' ') : list.join(' ');
    }
    if (name === 'stage') return q(b.stage);
    const v = b[name as Exclude<Builtin, 'outs' | 'deps' | 'stage'>];
    if (v === undefined || v === null) throw new Error(`unbound placeholder ${whole}`);
    return q(v);
  });
}
