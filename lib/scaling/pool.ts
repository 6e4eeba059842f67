/**
 * Temporary re-export of `lib/pool.ts` for `lib/backup/catalog.ts`, which the backup move (issue #11) is
 * rewriting in parallel. After that merge, point its import at `lib/pool.ts` and delete this file.
 */
export * from "../pool.js";
