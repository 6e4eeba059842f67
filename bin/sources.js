// Which sources make up the runtime, and how recent the newest is: shared by bin/ops.js (is dist/
// current?) and scripts/build.mjs (what to compile). Plain JavaScript, so it runs before any build.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/** Folders whose TypeScript the CLI and the Lambda functions run. */
export const SOURCE_DIRS = ["cli", "lib", "runbooks", "systems", "schedules", "alarms", "functions", "deploy"];

/** Newest modification time (ms) of any `.ts` file under the source folders, or 0. */
export function newestSourceMtime(root) {
  let newest = 0;
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts")) newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  for (const dir of SOURCE_DIRS) walk(join(root, dir));
  return newest;
}
