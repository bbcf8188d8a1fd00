// dv: command-line entry. Commands are registered per area (areas.ts); errors become one line.
import { Command, CommanderError } from 'commander';
import { DvError, printable } from '../store/errors.js';
import type { GlobalOptions } from './context.js';
import { installInterruptHandlers } from './interrupt.js';
import { areasFor } from './areas.js';

const program = new Command('dv')
  .description('data version control: chunked, deduplicated, versioned datasets')
  .version('0.1.0')
  .option('-q, --quiet', 'no progress or informational output')
  .option('-C, --cwd <dir>', 'run as if started in <dir>')
  .showHelpAfterError(false)
  .exitOverride()
  .configureOutput({ outputError: () => {} });

// Global options are resolved once, before the command's action runs: `-C DIR` is
// applied here and nowhere else (a relative DIR applied twice was a bug).
const resolved: GlobalOptions = {};
program.hook('preAction', () => {
  const o = program.opts();
  if (o.cwd) {
    try {
      process.chdir(o.cwd);
    } catch {
      throw new DvError(`cannot change to directory '${o.cwd}' (-C)`, 2);
    }
  }
  resolved.quiet = !!o.quiet;
});
const globals = (): GlobalOptions => resolved;

// Only the area of the command being run is loaded (all of them for help, or a name
// no area has: commander then lists or suggests from every command).
for (const load of areasFor(process.argv.slice(2))) (await load()).register(program, globals);

function fail(message: string, code: number): never {
  // One line of printable text: text read from damaged data may hold any bytes.
  const line = printable(message.replace(/\s*\n\s*/g, ' ').trim());
  process.stderr.write(`dv: error: ${line}\n`);
  process.exit(code);
}

installInterruptHandlers();
process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(0); });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') process.exit(0);
    fail(e.message.replace(/^error: /, ''), 2);
  }
  if (e instanceof DvError) fail(e.message, e.exitCode);
  const err = e as NodeJS.ErrnoException;
  if (err?.code && err.syscall) fail(`${err.syscall} ${err.path ?? ''}: ${err.code}`.replace(/\s+:/, ':'), 1);
  fail(`internal error: ${err?.stack ?? String(e)}`, 1);
}
