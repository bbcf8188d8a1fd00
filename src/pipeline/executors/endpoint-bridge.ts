// The host half of a network-isolated stage's way to its job endpoint: a unix socket
// (in a private directory made for it) whose connections are piped to the endpoint's
// loopback port. The directory is bound into the stage's sandbox containers, where
// the runner (sandbox-runner.ts) listens on the same port of the container's own
// loopback. A socket, unlike a shared network namespace, reaches this one server only.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class EndpointBridge {
  readonly dir: string;
  readonly socket: string;
  private readonly server: Server;
  private readonly listening: Promise<void>;

  constructor(readonly port: number, host = '127.0.0.1') {
    // Under the system temp directory: a unix socket path is limited to ~107 bytes.
    this.dir = mkdtempSync(join(tmpdir(), 'dv-ep-'));
    this.socket = join(this.dir, 's');
    this.server = createServer((c) => {
      const up = connect(port, host);
      c.pipe(up).pipe(c);
      const end = (): void => { c.destroy(); up.destroy(); };
      c.on('error', end);
      up.on('error', end);
    });
    this.listening = new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.socket, () => resolve());
    });
  }

  ready(): Promise<void> {
    return this.listening;
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.server.close(() => r()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
