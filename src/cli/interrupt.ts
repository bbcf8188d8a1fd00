// Ctrl-C and SIGTERM: one line, then exit 130 (143 for SIGTERM). Every write dv makes
// is atomic (temp file, fsync, rename; SQLite transactions), the repository lock is a
// kernel lock that goes with the process, and an interrupted checkout is finished by
// the next command (its journal), so stopping at once is safe and a re-run resumes.
// A command with its own graceful stop (dv run: stop launching, cancel running
// commands, record the run; dv serve: drain and release its lease) listens for the
// signal itself while it runs, and then this handler stands aside.
const EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

function stop(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  process.stderr.write(`dv: interrupted (${signal}); nothing is half-written: run the command again to resume\n`);
  process.exit(EXIT[signal as keyof typeof EXIT]);
}

export function installInterruptHandlers(): void {
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
