import { describe, expect, it } from 'vitest';
import { applyParamOverrides, parseConfig } from '../../src/pipeline/config.js';
import { interpolate, shellQuote } from '../../src/pipeline/interpolate.js';
import { workspaceBindings, datumsOf } from '../../src/pipeline/plan.js';
import { DvError } from '../../src/store/errors.js';

const GOOD = `
params: { threshold: 0.5, model: { lr: 0.01, depth: 3 } }
stages:
  clean:
    foreach: data/raw/*.csv
    cmd: python3 clean.py \${in} \${out} --t \${params.threshold}
    deps: [clean.py]
    outs: data/clean/
    retries: 2
  weekly:
    cmd: python3 aggregate.py data/clean \${out}
    deps: [aggregate.py, data/clean]
    outs: [data/weekly.csv]
    params: [model]
`;

const existing = new Set(['clean.py', 'aggregate.py', 'data/raw', 'data/raw/a.csv']);
const exists = (p: string): boolean => existing.has(p);

function err(text: string, opts = { exists }): string {
  try {
    parseConfig(text, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(DvError);
    const msg = (e as Error).message;
    expect(msg.split('\n')).toHaveLength(1);
    return msg;
  }
  throw new Error('expected an error');
}

function stage(body: string): string {
  return `params: { threshold: 1 }\nstages:\n  clean:\n${body.replace(/^/gm, '    ')}\n`;
}

describe('parseConfig', () => {
  it('accepts the documented example', () => {
    const c = parseConfig(GOOD, { exists });
    const clean = c.stages.get('clean')!;
    expect(clean.foreach).toBe('data/raw/*.csv');
    expect(clean.foreachBase).toBe('data/raw');
    expect(clean.outs).toEqual(['data/clean']);
    expect(clean.outDirs).toEqual(['data/clean']);
    expect(clean.params).toEqual(['threshold']); // picked up from ${params.threshold}
    expect(clean.retries).toBe(2);
    const weekly = c.stages.get('weekly')!;
    expect(weekly.params).toEqual(['model.depth', 'model.lr']);
    expect(weekly.foreach).toBeNull();
    expect(c.params).toEqual({ threshold: 0.5, 'model.lr': 0.01, 'model.depth': 3 });
  });

  it('accepts cmd as a list and env values', () => {
    const c = parseConfig(stage('cmd: [echo a, echo b]\nenv: { N: 3, MODE: "${threshold}" }\nouts: [x.txt]'));
    expect(c.stages.get('clean')!.cmd).toBe('echo a && echo b');
    expect(c.stages.get('clean')!.env).toEqual({ N: '3', MODE: '${threshold}' });
    expect(c.stages.get('clean')!.params).toEqual(['threshold']);
  });

  const cases: [string, string, string][] = [
    ['retries type', stage('cmd: x\nretries: -1'), 'dv.yaml: stages.clean.retries: expected a non-negative integer'],
    ['retries string', stage('cmd: x\nretries: "2"'), 'dv.yaml: stages.clean.retries: expected a non-negative integer'],
    ['unknown stage key', stage('cmd: x\nouts: [a]\nretry: 2'), 'dv.yaml: stages.clean.retry: unknown key (expected one of: cmd, foreach, deps, outs, params, retries, env, partition, after, timeout, desc, metrics, plots, wdir, frozen, always_changed, hooks, isolation, network, identity, resources, s3, executor, batch, image, data, slurm, kubernetes)'],
    ['unknown top key', 'stage: {}\n', 'dv.yaml: stage: unknown key (expected one of: params, stages, hooks, identity, identities)'],
    ['missing stages', 'params: {a: 1}\n', 'dv.yaml: stages: missing (a map of stage name: definition)'],
    ['missing cmd', stage('outs: [a]'), 'dv.yaml: stages.clean.cmd: missing (the command to run)'],
    ['cmd type', stage('cmd: 3'), 'dv.yaml: stages.clean.cmd: expected a non-empty string, got number 3'],
    ['deps type', stage('cmd: x\ndeps: [1]'), 'dv.yaml: stages.clean.deps[0]: expected a string, got number 1'],
    ['abs path', stage('cmd: x\ndeps: [/etc/passwd]'), 'dv.yaml: stages.clean.deps: /etc/passwd: expected a path relative to the project root'],
    ['dotdot', stage('cmd: x\nouts: [../x]'), "dv.yaml: stages.clean.outs: ../x: '..' is not allowed (paths stay inside the project)"],
    ['into .dv', stage('cmd: x\nouts: [.dv/x]'), 'dv.yaml: stages.clean.outs: .dv/x: paths under .dv/ belong to dv'],
    ['unknown param', stage('cmd: x\nparams: [nope]'), "dv.yaml: stages.clean.params[0]: unknown param 'nope'"],
    ['unknown placeholder', stage('cmd: echo ${thresh}'), 'dv.yaml: stages.clean.cmd: unknown placeholder ${thresh}'],
    ['shell var hint', stage('cmd: echo ${HOME}'), 'dv.yaml: stages.clean.cmd: unknown placeholder ${HOME} (write $${HOME} for a shell variable)'],
    ['unknown params.x', stage('cmd: echo ${params.nope}'), 'dv.yaml: stages.clean.cmd: unknown placeholder ${params.nope}'],
    ['in without foreach', stage('cmd: cat ${in}'), 'dv.yaml: stages.clean.cmd: ${in} needs foreach'],
    ['out ambiguous', stage('cmd: cat ${out}\nouts: [a, b]'), 'dv.yaml: stages.clean.cmd: ${out} needs exactly one out (this stage has 2; use ${outs})'],
    ['placeholder in env', stage('cmd: x\nenv: { A: "${nope}" }'), 'dv.yaml: stages.clean.env.A: unknown placeholder ${nope}'],
    ['DV_ env', stage('cmd: x\nenv: { DV_STAGE: a }'), 'dv.yaml: stages.clean.env.DV_STAGE: DV_* variables are set by dv'],
    ['bad glob', stage('cmd: x\nforeach: "data/raw/[a-z.csv"\nouts: out/'), "dv.yaml: stages.clean.foreach: bad glob data/raw/[a-z.csv: unbalanced '[]'"],
    ['foreach outs', stage('cmd: x\nforeach: data/raw/*.csv\nouts: [a/, b/]'), 'dv.yaml: stages.clean.outs: a foreach stage needs exactly one output directory (each datum writes its part under it)'],
    ['bad partition', stage('cmd: x\nforeach: data/raw/*.csv\nouts: o/\npartition: "(?<key>"'), 'dv.yaml: stages.clean.partition: bad regular expression: Invalid regular expression: /(?<key>/: Unterminated group'],
    ['partition pattern type', stage('cmd: x\nforeach: data/raw/*.csv\nouts: o/\npartition: { pattern: 3 }'), 'dv.yaml: stages.clean.partition.pattern: expected a regular expression string, got number 3'],
    ['partition without foreach', stage('cmd: x\npartition: "(\\\\d+)"'), 'dv.yaml: stages.clean.partition: needs foreach (the key is taken from each datum path)'],
    ['unknown after', stage('cmd: x\nafter: [ghost]'), "dv.yaml: stages.clean.after: unknown stage 'ghost'"],
    ['timeout', stage('cmd: x\ntimeout: 0'), 'dv.yaml: stages.clean.timeout: expected a positive number of seconds'],
    ['missing dep', stage('cmd: x\ndeps: [clean.py, nothere.py]'), 'dv.yaml: stages.clean.deps[1]: nothere.py does not exist and no stage outputs it'],
    ['missing foreach base', stage('cmd: x\nforeach: data/nope/*.csv\nouts: o/'), 'dv.yaml: stages.clean.foreach: data/nope does not exist and no stage outputs it'],
    ['dep is out', stage('cmd: x\ndeps: [clean.py]\nouts: [clean.py]'), 'dv.yaml: stages.clean: clean.py is both a dep and an out of the stage'],
    ['glob matches own outs', stage('cmd: x\nforeach: "data/**/*.csv"\nouts: data/out/'), 'dv.yaml: stages.clean: foreach data/**/*.csv would match its own outs data/out'],
    ['bad yaml', 'stages:\n  a: [\n', 'dv.yaml:3:1: Flow sequence in block collection must be sufficiently indented and end with a ]'],
    ['duplicate key', 'stages:\n  a: {cmd: x}\n  a: {cmd: y}\n', 'dv.yaml:3:3: Map keys must be unique'],
    ['param type', 'params: { a: [1] }\nstages: {}\n', 'dv.yaml: params.a: expected a string, number, boolean or map, got a list'],
    ['stage name', 'stages:\n  "a b": { cmd: x }\n', 'dv.yaml: stages.a b: a stage name is letters, digits, _ and - (not starting with -)'],
  ];
  for (const [what, text, msg] of cases) {
    it(`rejects: ${what}`, () => expect(err(text)).toBe(msg));
  }

  it('rejects overlapping outs of two stages', () => {
    const t = 'stages:\n  a: { cmd: x, outs: [data/out] }\n  b: { cmd: y, outs: [data/out/part.csv] }\n';
    expect(err(t)).toBe('dv.yaml: stages.b.outs: data/out/part.csv overlaps data/out, an out of stage a');
  });

  it('names the cycle', () => {
    const t = `stages:
  a: { cmd: x, deps: [c.out], outs: [a.out] }
  b: { cmd: y, deps: [a.out], outs: [b.out] }
  c: { cmd: z, deps: [b.out], outs: [c.out] }
`;
    expect(err(t)).toBe('dv.yaml: stages: dependency cycle: a -> b -> c -> a');
  });

  it('names a cycle made by after', () => {
    const t = 'stages:\n  a: { cmd: x, outs: [a.out], after: [b] }\n  b: { cmd: y, deps: [a.out] }\n';
    expect(err(t)).toBe('dv.yaml: stages: dependency cycle: a -> b -> a');
  });

  it('does not require deps that an upstream stage produces', () => {
    const t = 'stages:\n  a: { cmd: x, outs: [gen/] }\n  b: { cmd: y, deps: [gen/part.csv], foreach: "gen/*.csv", outs: [o/] }\n';
    expect(() => parseConfig(t, { exists: () => false })).not.toThrow();
  });
});

describe('interpolation', () => {
  it('quotes values for the shell', () => {
    expect(shellQuote('data/raw/a.csv')).toBe('data/raw/a.csv');
    expect(shellQuote("it's a file")).toBe(`'it'\\''s a file'`);
    expect(shellQuote('')).toBe("''");
    expect(shellQuote('$(rm -rf /)')).toBe("'$(rm -rf /)'");
  });

  it('expands builtins, params and escapes', () => {
    const c = parseConfig(`params: { t: 0.5, label: "a b" }
stages:
  s:
    foreach: "in/**/*.csv"
    cmd: run \${in} \${out} \${outdir} \${datum} \${name} \${stem} \${t} \${params.label} $\${HOME} \${stage}
    outs: out/
`);
    const s = c.stages.get('s')!;
    const [d] = datumsOf(s, new Map([['in/x/my file.csv', 'h']]));
    const cmd = interpolate(s.cmd, workspaceBindings(s, d!, c.params), 'shell');
    expect(cmd).toBe("run 'in/x/my file.csv' 'out/x/my file.csv' out 'x/my file.csv' 'my file.csv' 'my file' 0.5 'a b' ${HOME} s");
  });
});

describe('applyParamOverrides', () => {
  it('parses values as YAML scalars', () => {
    expect(applyParamOverrides({ t: 0.5, n: 'x' }, ['t=0.7', 'n=hello world'])).toEqual({ t: 0.7, n: 'hello world' });
    expect(applyParamOverrides({ b: false }, ['b=true'])).toEqual({ b: true });
  });
  it('rejects unknown params and bad syntax', () => {
    expect(() => applyParamOverrides({ t: 1 }, ['x=1'])).toThrow('-p x: unknown param (params: t)');
    expect(() => applyParamOverrides({ t: 1 }, ['t'])).toThrow('-p t: expected KEY=VALUE');
  });
});
