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
