import { mkdtemp, rm, statfs } from "node:fs/promises";
import { join } from "node:path";

/** A directory a runbook may fill and must remove. */
export interface TempDir {
  path: string;
  /** Removes it and everything in it; never throws (a leftover is logged by the caller, not fatal). */
  remove(): Promise<void>;
}

/**
 * Scratch space as a runbook reaches it (`ctx.tempDir`): the edge decides where (the Lambda's `/tmp`,
 * the Fargate task's ephemeral storage, `TMPDIR` for the CLI), the runbook only asks for a fresh one.
 */
export interface TempDirPort {
  /** The parent every directory is made in. */
  root: string;
  /** A new, empty, private directory named `<prefix>XXXXXX`. */
  create(prefix: string): Promise<TempDir>;
  /** Free bytes under `root`; undefined when it cannot be told (a drill then assumes there is room). */
  freeBytes(): Promise<number | undefined>;
}

/** The real port under `root`. */
export function createTempDirPort(root: string): TempDirPort {
  return {
    root,
    async create(prefix) {
      const path = await mkdtemp(join(root, prefix));
      return { path, remove: () => rm(path, { recursive: true, force: true }).catch(() => {}) };
    },
    async freeBytes() {
      try {
        const info = await statfs(root);
        return info.bavail * info.bsize;
      } catch {
        return undefined;
      }
    },
  };
}
