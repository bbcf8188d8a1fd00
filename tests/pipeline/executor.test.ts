import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/pipeline/config.js';
import { plainWords } from '../../src/pipeline/argv.js';
import type { Job } from '../../src/pipeline/executor.js';
import { LocalExecutor } from '../../src/pipeline/executors/local.js';
import { spawnImplementation, startProcess } from '../../src/pipeline/process.js';
import { NATIVE_ADDON_PATH } from '../../src/store/native-addon.js';
import { datumsOf } from '../../src/pipeline/plan.js';
import { backoffMs, runPool, runWithRetries } from '../../src/pipeline/scheduler.js';
import type { PipelineConfig } from '../../src/pipeline/types.js';

let root: string;
let log: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'dv-exec-'));
  log = join(root, 'ran.log');
  mkdirSync(join(root, 'data/raw'), { recursive: true });
  for (const n of ['a', 'b', 'c', 'd']) writeFileSync(join(root, `data/raw/${n}.txt`), `${n}\n`);
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

function config(stageYaml: string, params = '{ n: 2 }'): PipelineConfig {
  return parseConfig(`params: ${params}\nstages:\n  s:\n${stageYaml.replace(/^/gm, '    ')}\n`);
}

function jobs(cfg: PipelineConfig): Job[] {
  const stage = cfg.stages.get('s')!;
  const files = new Map(readdirSync(join(root, 'data/raw')).map((f) => [`data/raw/${f}`, 'h']));
  return datumsOf(stage, files).map((datum) => ({ runId: 'run1', stage, datum, params: cfg.params, attempt: 1 }));
}

function ranLines(): string[] {
  return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
}

const FOREACH = (cmd: string, extra = ''): string =>
  `foreach: data/raw/*.txt\nouts: data/out/\ncmd: ${JSON.stringify(cmd)}\n${extra}`;

// The native spawner (posix_spawn, output to files) and Node's child_process must behave alike.
describe.each(['native', 'node'] as const)('LocalExecutor (%s spawn)', (via) => {
  it('runs the command in the project root, writes outputs to scratch only, sets DV_* vars', async () => {
    const cfg = config(FOREACH('echo "$DV_DATUM" >> ran.log; tr a-z A-Z < ${in} > ${out}; ' +
      'echo "$DV_STAGE|$DV_RUN_ID|$DV_PARAMS_JSON|$DV_WORKSPACE|$DV_INPUT|$DV_ATTEMPT|$PWD|${n}"; [ "$OUT" = "$DV_OUTPUT" ]',
      'params: [n]\nenv: { OUT: "${out}" }'));
    const ex = new LocalExecutor({ root, spawnVia: via });
    const [job] = jobs(cfg);
    const r = await ex.run(job!);
    expect(r.error).toBeNull();
    expect(r.status).toBe('succeeded');
    expect(r.exitCode).toBe(0);
    expect(ranLines()).toEqual(['data/raw/a.txt']);
    expect(r.stdout.toString().trim()).toBe(`s|run1|{"n":2}|${root}|${join(root, 'data/raw/a.txt')}|1|${root}|2`);
    expect(r.outputs).toHaveLength(1);
    expect(r.outputs[0]!.path).toBe('data/out/a.txt');
    expect(r.outputs[0]!.file.startsWith(join(root, '.dv/tmp/'))).toBe(true);
    expect(readFileSync(r.outputs[0]!.file, 'utf8')).toBe('A\n');
    expect(existsSync(join(root, 'data/out'))).toBe(false);
    await r.dispose();
    await ex.close(); // the scratch directory it made ahead for a next job
    expect(readdirSync(join(root, '.dv/tmp'))).toEqual([]);
  });

  it('reuses a scratch directory its job left clean, and never one a job still holds or left dirty', async () => {
    // Creating files and directories is what a datum costs most on ext4; a directory
    // given back with only its empty outs and logs serves the next job.
    const cfg = config(FOREACH('echo "$DV_SCRATCH" >> ran.log; cp ${in} ${out}; [ "$DV_DATUM" != data/raw/c.txt ] || echo x > "$DV_SCRATCH/left"'));
    const ex = new LocalExecutor({ root, spawnVia: via });
    const [a, b, c, d] = jobs(cfg);
    const ra = await ex.run(a!);
    const rb = await ex.run(b!); // a still holds its directory
    expect(rb.outputs[0]!.file).not.toBe(ra.outputs[0]!.file);
    rmSync(ra.outputs[0]!.file); // its output moved out (as dv run does), then given back
    await ra.dispose();
    await ra.dispose(); // a second call does nothing (it must not lend the directory twice)
    rmSync(rb.outputs[0]!.file);
    await rb.dispose();
    const rc = await ex.run(c!); // leaves a stray file: its directory is not reused
    rmSync(rc.outputs[0]!.file);
    await rc.dispose();
    const rd = await ex.run(d!);
    const dirs = ranLines();
    expect(new Set(dirs).size).toBe(2);
    expect([dirs[0], dirs[1]]).toContain(dirs[2]);
    expect(existsSync(dirs[2]!)).toBe(false);
    expect([dirs[0], dirs[1]]).toContain(dirs[3]);
    expect(dirs[3]).not.toBe(dirs[2]);
    expect(readFileSync(rd.outputs[0]!.file, 'utf8')).toBe('d\n');
    rmSync(rd.outputs[0]!.file);
    await rd.dispose();
    await ex.close();
    expect(readdirSync(join(root, '.dv/tmp'))).toEqual([]);
  });

  it('a failing command leaves nothing behind and reports why', async () => {
    writeFileSync(join(root, 'data/out.keep'), 'x');
    const cfg = config(FOREACH('echo partial > ${out}; echo boom >&2; exit 3'));
    const ex = new LocalExecutor({ root, spawnVia: via });
    const r = await ex.run(jobs(cfg)[0]!);
    await ex.close();
    expect(r.status).toBe('failed');
    expect(r.exitCode).toBe(3);
    expect(r.error).toBe('exited with status 3');
    expect(r.stderr.toString()).toBe('boom\n');
    expect(r.outputs).toEqual([]);
    expect(existsSync(join(root, 'data/out'))).toBe(false);
    expect(readdirSync(join(root, '.dv/tmp'))).toEqual([]);
  });

  it('takes an output written in place, where the stage declares it', async () => {
    writeFileSync(join(root, 'gen.sh'), 'echo x > result.txt\n');
    const cfg = config('cmd: sh gen.sh\nouts: [result.txt]');
    const r = await new LocalExecutor({ root, spawnVia: via }).run(jobs(cfg)[0]!);
    expect(r.status).toBe('succeeded');
    expect(r.outputs.map((o) => [o.path, o.file, o.inPlace])).toEqual([['result.txt', join(root, 'result.txt'), true]]);
  });

  it('fails when a declared output is missing everywhere', async () => {
    const cfg = config('cmd: "true"\nouts: [result.txt]');
    const r = await new LocalExecutor({ root, spawnVia: via }).run(jobs(cfg)[0]!);
    expect(r.status).toBe('failed');
    expect(r.error).toBe('did not write output result.txt');
  });

  it('collects directory outs recursively and keeps modes', async () => {
    const cfg = config('cmd: "mkdir -p ${out}/sub && echo 1 > ${out}/x && echo 2 > ${out}/sub/y && chmod +x ${out}/x"\nouts: [gen/]');
    const r = await new LocalExecutor({ root, spawnVia: via }).run(jobs(cfg)[0]!);
    expect(r.outputs.map((o) => [o.path, o.mode, o.size])).toEqual([['gen/sub/y', 0o644, 2], ['gen/x', 0o755, 2]]);
    await r.dispose();
  });

  it('keeps only the tail of long logs', async () => {
    const cfg = config('cmd: "i=0; while [ $i -lt 2000 ]; do echo line$i; i=$((i+1)); done"');
    const r = await new LocalExecutor({ root, spawnVia: via, maxLogBytes: 100 }).run(jobs(cfg)[0]!);
    expect(r.stdout.length).toBe(100);
    expect(r.truncated).toBe(true);
    expect(r.stdout.toString().endsWith('line1999\n')).toBe(true);
  });

  it('cancels and times out whole process groups', async () => {
    const ctl = new AbortController();
    const cfg = config('cmd: "sleep 30 & wait"');
    const p = new LocalExecutor({ root, spawnVia: via, killGraceMs: 200 }).run(jobs(cfg)[0]!, ctl.signal);
    setTimeout(() => ctl.abort(), 100);
    const t0 = Date.now();
    const r = await p;
    expect(r.status).toBe('cancelled');
    expect(Date.now() - t0).toBeLessThan(5000);
    const timed = config('cmd: sleep 30\ntimeout: 0.2');
    const r2 = await new LocalExecutor({ root, spawnVia: via, killGraceMs: 200 }).run(jobs(timed)[0]!);
    expect(r2.status).toBe('failed');
    expect(r2.error).toBe('timed out after 0.2s');
  });

  it('reports signals, unstartable shells, and gives the command no stdin', async () => {
    if (via === 'native' && process.env.DV_NATIVE !== '0' && existsSync(NATIVE_ADDON_PATH)) {
      expect(spawnImplementation()).toBe('native');
    }
    const killed = await new LocalExecutor({ root, spawnVia: via }).run(jobs(config('cmd: "echo before; kill -9 $$"'))[0]!);
    expect(killed.error).toBe('killed by SIGKILL');
    expect(killed.signal).toBe('SIGKILL');
    expect(killed.stdout.toString()).toBe('before\n');
    const noShell = await new LocalExecutor({ root, spawnVia: via, shell: '/nonexistent/sh' }).run(jobs(config('cmd: "true"'))[0]!);
    expect(noShell.status).toBe('failed');
    expect(noShell.error).toMatch(/^could not start: .*(ENOENT|No such file)/);
    const stdin = await new LocalExecutor({ root, spawnVia: via }).run(jobs(config('cmd: "cat; echo read-all"'))[0]!);
    expect(stdin.stdout.toString()).toBe('read-all\n');
  });
});

describe('the native spawner under load', () => {
  it('starts hundreds of short processes, many at once, and reports each exit exactly once', async () => {
    const scratch = join(root, 'scratch');
    const results = await runPool(Array.from({ length: 400 }, (_, i) => i), async (i) => {
      const dir = join(scratch, String(i));
      mkdirSync(dir, { recursive: true });
      const p = startProcess({ file: '/bin/sh', args: ['-c', `echo out-${i}; echo err-${i} >&2; exit ${i % 7}`], cwd: root,
        env: { PATH: '/usr/bin:/bin' }, scratch: dir, maxLogBytes: 1024 });
      const exit = await p.exited;
      return exit.code === i % 7 && exit.stdout.toString() === `out-${i}\n` && exit.stderr.toString() === `err-${i}\n`;
    }, { concurrency: 32 });
    expect(results.results.filter((ok) => ok !== true)).toEqual([]);
  });

  it('delivers a signal sent before the child\'s pid is known, and a cancel that early stops the datum', async () => {
    // The child starts on the addon's thread: right after startProcess returns, no pid yet.
    const p = startProcess({ file: '/bin/sleep', args: ['30'], cwd: root, env: { PATH: '/usr/bin:/bin' }, scratch: root, maxLogBytes: 1024 });
    expect(p.pid).toBeUndefined();
    p.kill!('SIGTERM');
    expect(await p.exited).toMatchObject({ code: null, signal: 'SIGTERM' });
    // The same through the executor: aborted as the command starts, not after it ran.
    const cfg = config('cmd: sleep 30\nouts: [never.txt]');
    const ac = new AbortController();
    const ex = new LocalExecutor({ root });
    const r = ex.run(jobs(cfg)[0]!, ac.signal);
    setImmediate(() => ac.abort());
    expect((await r).status).toBe('cancelled'); // a lost cancel: 'failed' (no never.txt), 30 s later
    await ex.close();
  });
});

describe('retries and the pool', () => {
  it('retries with backoff until success', async () => {
    // Fails on the first two attempts, counted in a file the command keeps.
    writeFileSync(join(root, 'flaky.sh'), 'echo "$DV_ATTEMPT" >> ran.log\nn=$(wc -l < ran.log)\n[ "$n" -ge 3 ] || exit 1\necho ok > "$DV_OUTPUT"\n');
    const cfg = config('cmd: sh flaky.sh\nouts: [ok.txt]\nretries: 2');
    const delays: number[] = [];
    const r = await runWithRetries(new LocalExecutor({ root }), jobs(cfg)[0]!, { retries: 2, baseDelayMs: 5 }, undefined,
      (_f, d) => delays.push(d));
    expect(r.status).toBe('succeeded');
    expect(r.attempts.map((a) => a.exitCode)).toEqual([1, 1, 0]);
    expect(ranLines()).toEqual(['1', '2', '3']);
    expect(delays).toEqual([5, 10]);
    expect(readFileSync(r.outputs[0]!.file, 'utf8')).toBe('ok\n');
    await r.dispose();
    expect(backoffMs(1)).toBe(1000);
    expect(backoffMs(10)).toBe(30_000);
  });

  it('gives up after the last retry', async () => {
    const cfg = config('cmd: "echo x >> ran.log; exit 7"');
    const r = await runWithRetries(new LocalExecutor({ root }), jobs(cfg)[0]!, { retries: 1, baseDelayMs: 1 });
    expect(r.status).toBe('failed');
    expect(r.attempts).toHaveLength(2);
    expect(ranLines()).toHaveLength(2);
  });

  it('-j 2 runs two datums at a time', async () => {
    const cfg = config(FOREACH('echo "start $DV_DATUM" >> ran.log; sleep 0.3; echo "end $DV_DATUM" >> ran.log; cp ${in} ${out}'));
    const ex = new LocalExecutor({ root });
    const { results, failed } = await runPool(jobs(cfg), (j) => ex.run(j), { concurrency: 2, isFailure: (r) => r.status !== 'succeeded' });
    expect(failed).toBe(false);
    expect(results.map((r) => r!.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    let live = 0;
    let peak = 0;
    for (const l of ranLines()) {
      live += l.startsWith('start') ? 1 : -1;
      peak = Math.max(peak, live);
    }
    expect(peak).toBe(2);
    expect(ranLines()).toHaveLength(8);
    await Promise.all(results.map((r) => r!.dispose()));
  });

  it('stops starting datums after a failure unless told to keep going', async () => {
    const cfg = config(FOREACH('echo "$DV_DATUM" >> ran.log; [ "$DV_DATUM" != data/raw/b.txt ]'));
    const ex = new LocalExecutor({ root });
    const isFailure = (r: { status: string }): boolean => r.status !== 'succeeded';
    const stop = await runPool(jobs(cfg), (j) => ex.run(j), { concurrency: 1, isFailure });
    expect(stop.failed).toBe(true);
    expect(ranLines()).toEqual(['data/raw/a.txt', 'data/raw/b.txt']);
    expect(stop.results[2]).toBeUndefined();
    rmSync(log);
    const go = await runPool(jobs(cfg), (j) => ex.run(j), { concurrency: 1, isFailure, keepGoing: true });
    expect(go.failed).toBe(true);
    expect(ranLines()).toHaveLength(4);
  });
});

describe('commands without a shell', () => {
  it('only commands the shell would merely split into words qualify', () => {
    expect(plainWords("cp data/raw/a.txt '/tmp/x y/o.txt'")).toEqual(['cp', 'data/raw/a.txt', '/tmp/x y/o.txt']);
    expect(plainWords("python3  clean.py --t=0.5 ''")).toEqual(['python3', 'clean.py', '--t=0.5', '']);
    expect(plainWords("x'a b'c")).toEqual(['xa bc']);
    for (const cmd of ['echo hi', 'exit 3', 'cd data', 'A=1 tool', 'cp a b; rm c', 'cat *.txt', 'ls ~', 'cp "a" b',
      "cp 'it'\\''s' b", 'tool $HOME', 'tool > out', 'a | b', 'tool # note', '', '   ', "tool 'unclosed", 'tool\nother']) {
      expect(plainWords(cmd), cmd).toBeNull();
    }
  });

  it('execs plain commands found on the job PATH and keeps the shell for the rest', async () => {
    mkdirSync(join(root, 'bin'));
    writeFileSync(join(root, 'bin/upper'), '#!/bin/sh\necho "$2" >> ran.log\ntr a-z A-Z < "$1" > "$2"\n');
    chmodSync(join(root, 'bin/upper'), 0o755);
    writeFileSync(join(root, 'data/raw/it is.txt'), 'spaced\n');
    const ex = new LocalExecutor({ root });
    const env = { PATH: `${join(root, 'bin')}:/usr/bin:/bin` };
    expect(ex.launch("upper 'a b' c", env)).toEqual({ file: join(root, 'bin/upper'), args: ['a b', 'c'], argv0: 'upper' });
    expect(ex.launch('upper a; true', env).file).toBe('/bin/sh');
    expect(ex.launch('no-such-program a', env).file).toBe('/bin/sh');
    expect(new LocalExecutor({ root, shell: '/bin/bash' }).launch('upper a b', env).file).toBe('/bin/bash');

    const cfg = config(FOREACH('upper ${in} ${out}', `env: { PATH: "${env.PATH}" }`));
    const spaced = jobs(cfg).find((j) => j.datum.id === 'data/raw/it is.txt')!;
    const r = await ex.run(spaced);
    expect(r.error).toBeNull();
    expect(readFileSync(r.outputs[0]!.file, 'utf8')).toBe('SPACED\n');
    await r.dispose();

    const builtin = await ex.run(jobs(config(FOREACH('exit 3')))[0]!);
    expect(builtin.error).toBe('exited with status 3');
    const missing = await ex.run(jobs(config(FOREACH('no-such-program ${in}')))[0]!);
    expect(missing.error).toBe('exited with status 127');
  });
});
