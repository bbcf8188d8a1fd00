// Progress of a transfer, reported through the caller's onProgress (the CLI draws it).
export interface TransferProgress {
  phase: string;
  /** Packs finished so far / to move. */
  files: number;
  totalFiles: number;
  bytes: number;
  totalBytes: number;
  unit: 'packs';
}

export type OnProgress = (p: TransferProgress) => void;

/** Running totals shared by the parallel workers of one transfer. */
export class Meter {
  readonly p: TransferProgress;

  constructor(phase: string, totalFiles: number, totalBytes: number, private onProgress?: OnProgress) {
    this.p = { phase, files: 0, totalFiles, bytes: 0, totalBytes, unit: 'packs' };
    onProgress?.({ ...this.p });
  }

  /** Negative after a failed attempt, so a retried download is not counted twice. */
  bytes(n: number): void {
    this.p.bytes += n;
    this.onProgress?.({ ...this.p });
  }

  fileDone(): void {
    this.p.files++;
    this.onProgress?.({ ...this.p });
  }
}
