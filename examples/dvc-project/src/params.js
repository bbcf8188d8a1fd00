// Reads params.yaml (two levels, `section:` then `  key: value`), as a DVC project's
// scripts do; no YAML library needed for this example.
const fs = require('fs');
module.exports = function params() {
  const out = {};
  let section = null;
  for (const line of fs.readFileSync('params.yaml', 'utf8').split('\n')) {
    const m = /^(\s*)([A-Za-z_][\w-]*):\s*(.*?)\s*(#.*)?$/.exec(line);
    if (!m) continue;
    const value = m[3] === '' ? null : isNaN(Number(m[3])) ? m[3] : Number(m[3]);
    if (m[1] === '') { section = m[2]; out[section] = value ?? {}; } else out[section][m[2]] = value;
  }
  return out;
};
