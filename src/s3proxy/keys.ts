// The access keys `dv serve` checks. Their storage moved down to src/repo
// (access-keys.ts) so the pipeline can mint job keys without importing the proxy
// (src/repo/job-keys.ts); this module keeps the proxy's import path.
export * from '../repo/access-keys.js';
