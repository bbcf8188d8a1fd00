// The checking primitives of pipeline-file validation: one DvError line naming the
// place (`dv.yaml: stages.clean.retries: ...`), type names for messages, key, string,
// path and boolean checks, and YAML text to data (syntax errors and alias bombs
// included). Shared by dv.yaml's and dvc.yaml's parsers.
import YAML from 'yaml';
import { DvError } from '../store/errors.js';
import { normalizePath } from './paths.js';

export type Raw = Record<string, unknown>;

export class Checker {
  constructor(readonly file: string) {}
  fail(place: string, msg: string): never {
    throw new DvError(`${this.file}: ${place ? place + ': ' : ''}${msg}`);
  }
}

export function isMap(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (isMap(v)) return 'a map';
  return `${typeof v} ${JSON.stringify(v)}`;
}

export function checkKeys(c: Checker, place: string, m: Raw, allowed: string[]): void {
  for (const k of Object.keys(m)) {
    if (!allowed.includes(k)) c.fail(place ? `${place}.${k}` : k, `unknown key (expected one of: ${allowed.join(', ')})`);
  }
}

export function stringList(c: Checker, place: string, v: unknown): string[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  return list.map((s, i) => {
    if (typeof s !== 'string') c.fail(Array.isArray(v) ? `${place}[${i}]` : place, `expected a string, got ${typeName(s)}`);
    return s;
  });
}

/** A path of the stage, relative to its wdir, as a project-relative path. */
export function stagePath(c: Checker, place: string, p: string, wdir: string): { path: string; dir: boolean } {
  const n = normalizePath(wdir ? `${wdir}/${p}` : p);
  if ('error' in n) c.fail(place, n.error);
  return n;
}

export function pathList(c: Checker, place: string, v: unknown, wdir = ''): { paths: string[]; dirs: string[] } {
  const paths: string[] = [];
  const dirs: string[] = [];
  for (const s of stringList(c, place, v)) {
    const n = stagePath(c, place, s, wdir);
    if (paths.includes(n.path)) c.fail(place, `${n.path} is listed twice`);
    paths.push(n.path);
    if (n.dir) dirs.push(n.path);
  }
  return { paths, dirs };
}

export function bool(c: Checker, place: string, v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') c.fail(place, `expected true or false, got ${typeName(v)}`);
  return v;
}

/** YAML text to plain data; syntax errors and alias bombs are one `file:line:col: ...` line. */
export function parseYaml(text: string, file: string): unknown {
  const lines = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter: lines });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lines.linePos(e.pos[0]);
    const first = e.message.split('\n')[0];
    throw new DvError(`${file}${pos ? `:${pos.line}:${pos.col}` : ''}: ${first}`);
  }
  try {
    return doc.toJS({ maxAliasCount: 1000 }) ?? {};
  } catch (e) {
    // The yaml package refuses documents whose aliases expand past maxAliasCount (a "billion laughs").
    throw new DvError(`${file}: ${(e as Error).message.split('\n')[0]}`);
  }
}
