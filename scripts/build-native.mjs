#!/usr/bin/env node
// Builds dv's optional native workspace scanner (native/scan.c -> native/build/Release/dvscan.node)
// with the node-gyp that ships with npm. Run as the package's install script; it never fails
// the install: without the addon dv uses its JS scan (src/repo/native-scan.ts). The build log
// goes to native/build/build.log. Headers come from the configured nodedir (npm's `nodedir`
// setting, else the running node's own prefix when it has include/node), so nothing is
// downloaded. DV_NATIVE=0 skips the build.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const nativeDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'native');
const buildDir = path.join(nativeDir, 'build');
const addon = path.join(buildDir, 'Release', 'dvscan.node');
const BUILD_TIMEOUT_MS = 300_000;

function giveUp(reason) {
  console.warn(`dv: optional native scanner not built (${reason}); dv will use its JS workspace scan`);
  process.exit(0);
}

function findNodeGyp() {
  const require = createRequire(import.meta.url);
  const candidates = [
    process.env.npm_config_node_gyp, // set by npm for lifecycle scripts
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  try { candidates.push(require.resolve('node-gyp/bin/node-gyp.js')); } catch { /* not installed locally */ }
  return candidates.find((c) => c && c.endsWith('.js') && fs.existsSync(c));
}

function findNodedir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
}

try {
  if (process.env.DV_NATIVE === '0') process.exit(0);
  const gyp = findNodeGyp();
  if (!gyp) giveUp('node-gyp not found');
  const nodedir = findNodedir();
  const args = [gyp, 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
  const r = spawnSync(process.execPath, args, { cwd: nativeDir, encoding: 'utf8', timeout: BUILD_TIMEOUT_MS, maxBuffer: 64 << 20 });
  const log = `$ node ${args.join(' ')}\n${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error}\n` : ''}`;
  try {
    fs.mkdirSync(buildDir, { recursive: true });
    fs.writeFileSync(path.join(buildDir, 'build.log'), log);
  } catch { /* the log is a courtesy */ }
  if (r.error || r.status !== 0) {
    const why = r.error ? String(r.error.message) : (`${r.stderr}`.split('\n').find((l) => /error/i.test(l)) ?? `node-gyp exited with ${r.status}`);
    giveUp(`${why.trim().slice(0, 200)}; see native/build/build.log`);
  }
  // Load it once, so a broken addon is reported here rather than silently ignored later.
  const mod = createRequire(import.meta.url)(addon);
  if (typeof mod.scan !== 'function' || mod.scan(nativeDir, [], 1)?.count !== 0) giveUp('the built addon does not work');
} catch (e) {
  giveUp(String(e?.message ?? e).split('\n')[0].slice(0, 200));
}
