/** An error a user can cause (bad input, missing ref, corrupt data). The CLI prints
 * `dv: error: <message>` and exits with `exitCode`; anything else is a bug. */
export class DvError extends Error {
  constructor(message: string, readonly exitCode = 1, readonly code = 'DV_ERROR') {
    super(message);
    this.name = 'DvError';
  }
}

/** Raised when stored bytes do not hash to their id: never returned as data. */
export class CorruptionError extends DvError {
  constructor(message: string) {
    super(message, 1, 'CORRUPT');
    this.name = 'CorruptionError';
  }
}

/** Printable one-line form of text that may come from damaged data (errors, names). */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f-\x9f\p{Cs}\ufffd]/gu, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
