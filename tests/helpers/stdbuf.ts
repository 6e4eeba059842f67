import { execFileSync } from "node:child_process";

/** This machine's coreutils `stdbuf`, which the backup pipeline puts pg_dump under when there is one. */
export const realStdbuf: string | undefined = (() => {
  try {
    return execFileSync("sh", ["-c", "command -v stdbuf"], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
})();
