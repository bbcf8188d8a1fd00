// A temp project with a dv repository for library-level pipeline tests: write files,
// run the pipeline through the real Repo, remove it all afterwards.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Repo } from '../../src/repo/repo.js';

export class Project {
  readonly root: string;
  readonly repo: Repo;
  constructor(prefix: string) {
    this.root = mkdtempSync(join(tmpdir(), prefix));
    this.repo = Repo.init(this.root);
  }

  write(p: string, text: string | Buffer): void {
    mkdirSync(join(this.root, p, '..'), { recursive: true });
    writeFileSync(join(this.root, p), text);
  }

  close(): void {
    this.repo.close();
    rmSync(this.root, { recursive: true, force: true });
  }
}
