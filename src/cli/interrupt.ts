// Ctrl-C and SIGTERM: one line, then exit 130 (143 for SIGTERM). Every write dv makes
// is atomic (temp file, fsync, rename; SQLite transactions), the repository lock is a
// kernel lock that goes with the process, and an interrupted checkout is finished by
// the next command (its journal), so stopping at once is safe and a re-run resumes.
// A command with its own graceful stop (dv run: stop launching, cancel running
// commands, record the run; dv serve: drain and release its lease) installs a handler
// for the duration instead, through withInterruptHandler or its own process listener.
type Handler = (signal: NodeJS.Signals) => void;

const handlers: Handler[] = [];
const EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

function defaultStop(signal: NodeJS.Signals): void {
  process.stderr.write(`dv: interrupted (${signal}); nothing is half-written: run the command again to resume\n`);
  process.exit(EXIT[signal as keyof typeof EXIT] ?? 1);
}

let seen = 0;
function dispatch(signal: NodeJS.Signals): void {
  // A command listening for the signal itself stops in its own way.
  if (handlers.length === 0 && process.listenerCount(signal) > 1) return;
  // A second Ctrl-C always stops at once.
  if (++seen > 1 || handlers.length === 0) return defaultStop(signal);
  handlers[handlers.length - 1](signal);
}

export function installInterruptHandlers(): void {
  process.on('SIGINT', dispatch);
  process.on('SIGTERM', dispatch);
}

/** Runs `fn` with `handler` answering the first interrupt instead of exiting. */
export async function withInterruptHandler<T>(handler: Handler, fn: () => Promise<T>): Promise<T> {
  handlers.push(handler);
  try {
    return await fn();
  } finally {
    handlers.splice(handlers.indexOf(handler), 1);
    seen = 0;
  }
}
