// dvc.yaml as DVC defines it: params files, vars and ${...}, foreach/do over lists
// and dicts, matrix, DVC's output options, and one error naming any unsupported key.
import { describe, expect, it } from 'vitest';
import { overrideParamsText, parseDvcYaml } from '../../src/pipeline/dvc-yaml.js';

const PARAMS = `
prepare:
  split: 0.2
train:
  lr: 0.1
  layers: [8, 4]
models: [small, large]
`;

function parse(dvc: string, files: Record<string, string> = {}) {
  const all: Record<string, string> = { 'params.yaml': PARAMS, ...files };
  return parseDvcYaml(dvc, { readFile: (rel) => all[rel] ?? null });
}

function err(dvc: string, files: Record<string, string> = {}): string {
  try {
    parse(dvc, files);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected an error');
}

describe('dvc.yaml', () => {
  it('takes cmd lists, params keys and file groups, wdir, and DVC output options', () => {
    const c = parse(`
stages:
  train:
    wdir: sub
    cmd:
      - python train.py --lr \${train.lr}
      - echo done
    deps: [train.py]
    params:
      - train.lr
      - extra.yaml:
          - depth
      - other.json:
    outs:
      - model.pkl
      - cache/:
          persist: true
          cache: false
    metrics:
      - metrics.json: { cache: false }
    plots:
      - loss.csv: { x: step, y: loss }
    frozen: false
    always_changed: true
    desc: trains
    meta: { owner: me }
`, { 'extra.yaml': 'depth: 3\nother: 1\n', 'other.json': '{"a": {"b": true}}' });
    const s = c.stages.get('train')!;
    expect(s.cmd).toBe('python train.py --lr 0.1 && echo done');
    expect(s.wdir).toBe('sub');
    expect(s.deps).toEqual(['sub/train.py']);
    expect(s.outs).toEqual(['sub/model.pkl', 'sub/cache', 'sub/metrics.json', 'sub/loss.csv']);
    expect(s.persist).toEqual(['sub/cache']);
    expect(s.uncached).toEqual(['sub/cache', 'sub/metrics.json']);
    expect(s.metrics).toEqual(['sub/metrics.json']);
    expect(s.plots).toEqual([{ path: 'sub/loss.csv', x: 'step', y: ['loss'], template: 'linear', title: null }]);
    expect(s.params).toEqual(['extra.yaml:depth', 'other.json:a.b', 'train.lr']);
    expect(c.params['extra.yaml:depth']).toBe(3);
    expect(c.params['train.layers']).toBe('[8,4]');
    expect(s.alwaysChanged).toBe(true);
    expect(s.desc).toBe('trains');
    expect(c.paramFiles).toEqual({
      'params.yaml': ['prepare.split', 'train.lr', 'train.layers', 'models'],
      'extra.yaml': ['extra.yaml:depth'], 'other.json': ['other.json:a.b'],
    });
  });

  it('expands foreach over lists and dicts, matrix, and vars', () => {
    const c = parse(`
vars:
  - data_dir: data
  - extra.yaml:depth
stages:
  build:
    foreach: \${models}
    do:
      cmd: make \${item} --depth \${depth}
      outs: ['\${data_dir}/\${item}.bin']
  copy:
    foreach:
      us: { src: a.csv }
      eu: { src: b.csv }
    do:
      cmd: cp \${item.src} out/\${key}.csv
      outs:
        - out/\${key}.csv
  grid:
    matrix:
      lr: [0.1, 0.01]
      model: \${models}
    cmd: train --lr \${item.lr} --model \${item.model} --literal \\\${HOME}
    outs:
      - grid/\${item.model}-\${item.lr}.pkl
`, { 'extra.yaml': 'depth: 3\n' });
    expect([...c.stages.keys()]).toEqual([
      'build@small', 'build@large', 'copy@us', 'copy@eu',
      'grid@0.1-small', 'grid@0.1-large', 'grid@0.01-small', 'grid@0.01-large',
    ]);
    expect(c.stages.get('build@large')!.cmd).toBe('make large --depth 3');
    expect(c.stages.get('build@large')!.outs).toEqual(['data/large.bin']);
    expect(c.stages.get('copy@eu')!.cmd).toBe('cp b.csv out/eu.csv');
    // The escaped \${HOME} reaches the shell as a literal ${HOME}.
    expect(c.stages.get('grid@0.01-small')!.cmd).toBe('train --lr 0.01 --model small --literal $${HOME}');
  });

  it('one error naming what is not supported or wrong', () => {
    expect(err('stages:\n  a:\n    cmd: x\n    outs_no_cache: [y]\n')).toBe(
      'dvc.yaml: stages.a.outs_no_cache: not supported by dv (supported here: cmd, deps, outs, params, metrics, plots, wdir, frozen, always_changed, desc, meta, vars)');
    expect(err('artifacts: {}\nstages: {}\n')).toBe('dvc.yaml: artifacts: not supported by dv (supported here: stages, vars, params, metrics, plots)');
    expect(err('stages:\n  a:\n    cmd: echo ${nope.x}\n')).toBe('dvc.yaml: stages.a.cmd: unknown variable ${nope.x}');
    expect(err('stages:\n  a:\n    cmd: echo\n    params: [train.momentum]\n')).toBe("dvc.yaml: stages.a.params[0]: unknown param 'train.momentum' in params.yaml");
    expect(err('stages:\n  a:\n    foreach: [1]\n    cmd: x\n    do: {cmd: y}\n')).toBe('dvc.yaml: stages.a.cmd: with foreach, the stage goes under do');
    expect(err('stages:\n  a:\n    cmd: echo ${train}\n')).toBe('dvc.yaml: stages.a.cmd: ${train} is a map; only strings, numbers and booleans can be interpolated into text');
    expect(err('stages:\n  a:\n    cmd: x\n    outs: [{o: {cache: 1}}]\n')).toBe('dvc.yaml: stages.a.outs[0].o.cache: expected true or false');
  });

  it('bounds numbers and refuses alias bombs in one line', async () => {
    const { parseConfig } = await import('../../src/pipeline/config.js');
    const e = (t: string): string => { try { parseConfig(t); return 'no error'; } catch (x) { return (x as Error).message; } };
    expect(e('stages:\n  a:\n    cmd: x\n    timeout: 99999999\n')).toBe('dv.yaml: stages.a.timeout: at most 2147483 seconds (about 24 days)');
    expect(e('stages:\n  a:\n    cmd: x\n    retries: 1000000\n')).toBe('dv.yaml: stages.a.retries: at most 100');
    let bomb = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i < 9; i++) bomb += `a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]\n`;
    const msg = e(bomb + 'stages: {}\n');
    expect(msg.startsWith('dv.yaml: ')).toBe(true);
    expect(msg).toContain('alias');
    expect(msg.includes('\n')).toBe(false);
  });

  it('a project with both dv.yaml and dvc.yaml is refused; either alone is loaded', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { loadPipeline } = await import('../../src/pipeline/load.js');
    const dir = mkdtempSync(join(tmpdir(), 'dv-both-'));
    try {
      writeFileSync(join(dir, 'dvc.yaml'), 'stages:\n  a:\n    cmd: echo ${train.lr}\n');
      writeFileSync(join(dir, 'params.yaml'), 'train: {lr: 3}\n');
      expect(loadPipeline(dir).stages.get('a')!.cmd).toBe('echo 3');
      writeFileSync(join(dir, 'dv.yaml'), 'stages:\n  b:\n    cmd: echo\n');
      expect(() => loadPipeline(dir)).toThrow(`both dv.yaml and dvc.yaml exist in ${dir}: keep one (dv runs either)`);
      rmSync(join(dir, 'dvc.yaml'));
      expect([...loadPipeline(dir).stages.keys()]).toEqual(['b']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes overrides into a params file, keeping its comments', () => {
    const text = '# model settings\ntrain:\n  lr: 0.1 # learning rate\n  epochs: 10\n';
    expect(overrideParamsText(text, { 'train.lr': 0.01 })).toBe('# model settings\ntrain:\n  lr: 0.01 # learning rate\n  epochs: 10\n');
  });
});
