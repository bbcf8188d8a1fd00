// Most stage commands are one program with plain or single-quoted arguments
// (`cp ${in} ${out}` after quoting). Such a command means exactly the same with or
// without `/bin/sh -c`, and exec'ing it directly saves a shell per datum (from a
// process holding a large heap, each fork costs milliseconds). Anything the shell
// would interpret (variables, globs, redirections, pipes, builtins, assignments,
// double quotes, backslashes, comments) keeps going through the shell.
import fs from 'node:fs';
import path from 'node:path';

/** Characters a word may hold unquoted without the shell doing anything to them. */
const PLAIN = /[A-Za-z0-9_@%+=:,./-]/;

/** Builtins and keywords: these must run in the shell, even if a binary of the name exists. */
const SHELL_WORDS = new Set([
  '.', ':', '[', '[[', ']]', '!', '{', '}', 'alias', 'bg', 'break', 'case', 'cd', 'command', 'continue', 'do', 'done',
  'echo', 'elif', 'else', 'esac', 'eval', 'exec', 'exit', 'export', 'false', 'fc', 'fg', 'fi', 'for', 'function',
  'getopts', 'hash', 'if', 'in', 'jobs', 'kill', 'local', 'printf', 'pwd', 'read', 'readonly', 'return', 'select',
  'set', 'shift', 'source', 'test', 'then', 'time', 'times', 'trap', 'true', 'type', 'ulimit', 'umask', 'unalias',
  'unset', 'until', 'wait', 'while',
]);

/** The words of `cmd` if the shell would only split it into words, else null. */
export function plainWords(cmd: string): string[] | null {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (c === ' ' || c === '\t') {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === "'") {
      const end = cmd.indexOf("'", i + 1);
      if (end < 0) return null;
      word = (word ?? '') + cmd.slice(i + 1, end);
      i = end;
    } else if (PLAIN.test(c)) {
      word = (word ?? '') + c;
    } else {
      return null;
    }
  }
  if (word !== null) words.push(word);
  if (words.length === 0 || SHELL_WORDS.has(words[0]!) || /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]!)) return null;
  return words;
}

/** The executable `name` resolves to through PATH (as the shell would find it), or null. */
export function findProgram(name: string, pathVar: string | undefined, cwd: string): string | null {
  const isExe = (p: string): boolean => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (name.includes('/')) return isExe(path.resolve(cwd, name)) ? path.resolve(cwd, name) : null;
  for (const dir of (pathVar ?? '/usr/local/bin:/usr/bin:/bin').split(':')) {
    const p = path.resolve(cwd, dir === '' ? '.' : dir, name);
    if (isExe(p)) return p;
  }
  return null;
}
