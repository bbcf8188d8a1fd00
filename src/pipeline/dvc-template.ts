// DVC's templating for dvc.yaml, as DVC defines it: `${a.b[0]}` looks a value up in
// the context (params.yaml, then `vars`, then the `item`/`key` of foreach and
// matrix). A string that is exactly one `${...}` keeps the value's type (a list for
// foreach); anywhere else values are rendered as text. `\${` is a literal `${`.
import { DvError } from '../store/errors.js';

export type Context = Record<string, unknown>;

const EXPR = /(\\)?\$\{([^}]*)\}/g;
const WHOLE = /^\$\{([^}]*)\}$/;

/** Looks `a.b[0].c` up in the context; undefined when any step is missing. */
export function lookup(ctx: Context, expr: string): unknown {
  const steps = expr.trim().replace(/\[(\d+)\]/g, '.$1').split('.');
  let v: unknown = ctx;
  for (const s of steps) {
    if (s === '' || v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[s];
  }
  return v;
}

function text(v: unknown, where: string, expr: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null) return 'None';
  throw new DvError(`${where}: \${${expr}} is ${Array.isArray(v) ? 'a list' : 'a map'}; only strings, numbers and booleans can be interpolated into text`);
}

/**
 * Resolves every `${...}` in a string. Unknown names are an error naming the place.
 * Literal `${` left in the result (from `\${`) comes back as `$${`, the native
 * escape, so the stage's own placeholders never see it.
 */
export function resolveString(s: string, ctx: Context, where: string): unknown {
  const whole = WHOLE.exec(s);
  if (whole) {
    const v = lookup(ctx, whole[1]!);
    if (v === undefined) throw new DvError(`${where}: unknown variable \${${whole[1]!.trim()}}`);
    return v;
  }
  return s.replace(EXPR, (_m, esc: string | undefined, expr: string) => {
    if (esc) return '$${' + expr + '}';
    const v = lookup(ctx, expr);
    if (v === undefined) throw new DvError(`${where}: unknown variable \${${expr.trim()}}`);
    return text(v, where, expr).replace(/\$\{/g, '$${');
  });
}

/** Resolves every string inside a YAML value (keys included). */
export function resolveDeep(v: unknown, ctx: Context, where: string): unknown {
  if (typeof v === 'string') return resolveString(v, ctx, where);
  if (Array.isArray(v)) return v.map((x, i) => resolveDeep(x, ctx, `${where}[${i}]`));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const key = resolveString(k, ctx, where);
      out[String(key)] = resolveDeep(x, ctx, `${where}.${k}`);
    }
    return out;
  }
  return v;
}

/** Deep merge of plain maps (b wins); lists and scalars are replaced. */
export function merge(a: Context, b: Context): Context {
  const out: Context = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const old = out[k];
    const isMap = (x: unknown): x is Context => x !== null && typeof x === 'object' && !Array.isArray(x);
    out[k] = isMap(old) && isMap(v) ? merge(old, v) : v;
  }
  return out;
}
