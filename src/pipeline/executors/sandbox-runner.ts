// The program inside a batch sandbox (executors/sandbox-pool.ts): one Node process
// per bubblewrap container, running the datums dv sends it one line of JSON each on
// stdin. Each datum starts through the native addon's spawnIsolated, in a mount
// namespace of its own where it sees only its own input, scratch and outs (the ops
// dv computed), then the runner says `started` (the pid, for nothing but logs) and
// `exit` (code, signal) on stdout. `kill` signals a datum's process group (a cancel
// or timeout). Standalone on purpose: inside the sandbox only this file and the
// addon are visible to it, not the rest of dv. argv: the addon's path, then for a
// stage with S3 access `PORT SOCKET`: the runner listens on 127.0.0.1:PORT of the
// container's own network namespace and forwards each connection to the unix socket
// dv bridges to its job endpoint, so DV_ENDPOINT (http://127.0.0.1:PORT) works for
// unmodified S3 clients while nothing else of the host's network is reachable.
// `--exec PORT SOCKET -- ARGV...` is the same front for one datum in a bwrap of its own
// (sandbox.ts's fallback, without root or the addon): forward, run ARGV, exit as it did.
import { spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

interface RunMsg { t: 'run'; id: number; file: string; argv: string[]; env: string[]; out: string; err: string; ops: string[] }
interface KillMsg { t: 'kill'; id: number; sig: string }
type SpawnIsolated = (file: string, argv: string[], envp: string[], out: string, err: string, ops: string[],
  onExit: (code: number, signal: number) => void) => number;

let addon: { spawnIsolated: SpawnIsolated };
const pids = new Map<number, number>();
let closing = false;
const send = (m: object): void => void process.stdout.write(`${JSON.stringify(m)}\n`);

function run(m: RunMsg): void {
  try {
    const pid = addon.spawnIsolated(m.file, m.argv, m.env, m.out, m.err, m.ops, (code, signal) => {
      pids.delete(m.id);
      send({ t: 'exit', id: m.id, code, signal });
      if (closing && pids.size === 0) process.exit(0);
    });
    pids.set(m.id, pid);
    send({ t: 'started', id: m.id, pid });
  } catch (e) {
    send({ t: 'error', id: m.id, message: (e as Error).message });
  }
}

function kill(m: KillMsg): void {
  const pid = pids.get(m.id);
  if (pid === undefined) return;
  try { process.kill(-pid, m.sig as NodeJS.Signals); } catch { /* already gone */ }
}

function serve(): void {
  addon = createRequire(import.meta.url)(process.argv[2]!) as { spawnIsolated: SpawnIsolated };
  createInterface({ input: process.stdin }).on('line', (line) => {
    const m = JSON.parse(line) as RunMsg | KillMsg;
    if (m.t === 'run') run(m);
    else if (m.t === 'kill') kill(m);
  }).on('close', () => {
    // Retired: the running datums finish first (this process ending ends the container).
    closing = true;
    if (pids.size === 0) process.exit(0);
  });
  send({ t: 'ready' });
}

/** One datum in its own container: run it, pass signals on, end as it ended. */
function exec(argv: string[]): void {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));
  child.on('error', (e) => { process.stderr.write(`${argv[0]}: ${e.message}\n`); process.exit(127); });
  child.on('exit', (code, signal) => {
    if (signal) { process.removeAllListeners(signal); process.kill(process.pid, signal); }
    process.exit(code ?? 1);
  });
}

/** Listens on 127.0.0.1:PORT, each connection piped to the unix socket dv bridges to the job endpoint. */
function forward(port: string, socket: string, then: () => void): void {
  createServer((c) => {
    const up = connect(socket);
    c.pipe(up).pipe(c);
    const end = (): void => { c.destroy(); up.destroy(); };
    c.on('error', end);
    up.on('error', end);
  }).listen(Number(port), '127.0.0.1', then);
}

const args = process.argv.slice(2);
if (args[0] === '--exec') forward(args[1]!, args[2]!, () => exec(args.slice(args.indexOf('--') + 1)));
else if (args[1] && args[2]) forward(args[1], args[2], serve);
else serve();
