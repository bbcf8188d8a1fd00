// The CLI loads only the area of the command it runs (src/cli/areas.ts). The table that
// routes a command to its area must say what the areas register, or a command would be
// unknown unless help loaded everything; and help, suggestions and global options must
// behave as when every area was loaded.
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AREAS, areasFor, COMMAND_AREAS, commandWord } from '../../src/cli/areas.js';
import { dv, dvOk, ensureBuilt, TempDirs, writeFile } from '../helpers/cli.js';

const tmp = new TempDirs();
afterAll(() => tmp.cleanup());
beforeAll(() => ensureBuilt());

describe('command areas', () => {
  it('route every command to the area that registers it, and no other', async () => {
    for (const [name, load] of Object.entries(AREAS)) {
      const program = new Command('dv');
      (await load()).register(program, () => ({}));
      const registered = program.commands.map((c) => c.name()).sort();
      const routed = Object.keys(COMMAND_AREAS).filter((c) => COMMAND_AREAS[c] === name).sort();
      expect(registered, name).toEqual(routed);
    }
  });

  it('find the command word after global options, and load everything without one', () => {
    expect(commandWord(['-C', 'data', '-q', 'status', 'x'])).toBe('status');
    expect(commandWord(['--cwd', 'log', 'log'])).toBe('log');
    expect(commandWord(['--cwd=d', '-q', 'push', 'origin'])).toBe('push');
    expect(commandWord(['--help'])).toBeUndefined();
    expect(areasFor(['-q', 'checkout', 'main'])).toEqual([AREAS.workspace]);
    expect(areasFor(['help', 'status'])).toEqual(Object.values(AREAS));
    expect(areasFor(['stauts'])).toEqual(Object.values(AREAS));
    expect(areasFor(['constructor'])).toEqual(Object.values(AREAS));
  });

  it('leave help, suggestions and -C as they were', async () => {
    const help = (await dvOk(tmp.make('dv-areas-'), ['--help'])).stdout;
    for (const c of Object.keys(COMMAND_AREAS)) expect(help).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    const typo = await dv(tmp.make('dv-areas-'), ['stauts']);
    expect([typo.code, typo.stderr.trim()]).toEqual([2, "dv: error: unknown command 'stauts' (Did you mean status?)"]);
    expect((await dvOk(tmp.make('dv-areas-'), ['help', 'fsck'])).stdout).toMatch(/^Usage: dv fsck/);

    // A directory named like a command: -C's value must not be taken for the command word.
    const parent = tmp.make('dv-areas-');
    const root = path.join(parent, 'log');
    fs.mkdirSync(root);
    await dvOk(root, ['init', '-q']);
    writeFile(root, 'data/a.csv', '1\n');
    await dvOk(root, ['add', 'data', '-q']);
    writeFile(root, 'data/a.csv', '2\n');
    const st = await dvOk(parent, ['-C', 'log', 'status']);
    expect(st.stdout).toMatch(/modified: data\/a\.csv/);
  });
});
