// dv: command-line entry. Commands are registered per area; errors become one line.
import { Command, CommanderError } from 'commander';
import { DvError } from '../store/errors.js';
import type { GlobalOptions } from './context.js';
import { register as registerWorkspace } from './commands/workspace.js';
import { register as registerHistory } from './commands/history.js';
import { register as registerMaintenance } from './commands/maintenance.js';
import { register as registerPipeline } from './commands/pipeline.js';
import { register as registerRemote } from './commands/remote.js';
import { register as registerServe } from './commands/serve.js';

const program = new Command('dv')
  .description('data version control: chunked, deduplicated, versioned datasets')
  .version('0.1.0')
  .option('-q, --quiet', 'no progress or informational output')
  .option('-C, --cwd <dir>', 'run as if started in <dir>')
  .showHelpAfterError(false)
  .exitOverride()
  .configureOutput({ outputError: () => {} });

const globals = (): GlobalOptions => {
  const o = program.opts();
  if (o.cwd) process.chdir(o.cwd);
  return { quiet: o.quiet };
};

registerWorkspace(program, globals);
registerHistory(program, globals);
registerMaintenance(program, globals);
registerPipeline(program, globals);
registerRemote(program, globals);
registerServe(program, globals);

function fail(message: string, code: number): never {
  // One line of printable text: text read from damaged data may hold any bytes.
  const line = message.replace(/\s*\n\s*/g, ' ').trim()
    .replace(/[\x00-\x1f\x7f-\x9f]|\p{Cs}/gu, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`); // eslint-disable-line no-control-regex
  process.stderr.write(`dv: error: ${line}\n`);
  process.exit(code);
}

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
