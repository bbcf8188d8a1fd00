#!/usr/bin/env node
// The npm registry these machines reach carries only the Linux builds of
// @napi-rs/blake-hash, so `npm install` leaves the other platforms' optional packages
// out of package-lock.json and `npm ci` then refuses the lock file. This adds their
// entries (same version, with os/cpu/libc so npm skips them where they do not apply).
// Run it after any `npm install` that rewrites the lock file.
import fs from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
let added = 0;
for (const [key, pkg] of Object.entries(lock.packages)) {
  if (!key.endsWith('node_modules/@napi-rs/blake-hash')) continue;
  for (const [name, version] of Object.entries(pkg.optionalDependencies ?? {})) {
    const entry = `${key.slice(0, -'@napi-rs/blake-hash'.length)}${name}`;
    if (lock.packages[entry]) continue;
    const [, os, cpu, abi] = /blake-hash-([a-z0-9]+)-([a-z0-9]+)(?:-([a-z]+))?$/.exec(name) ?? [];
    const platform = { os: [os], cpu: [cpu] };
    if (os === 'linux') platform.libc = [abi === 'musl' ? 'musl' : 'glibc'];
    lock.packages[entry] = { version, license: 'MIT', optional: true, ...platform, engines: { node: '>= 10' } };
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)));
fs.writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
console.log(`lock-platforms: added ${added} entries`);
