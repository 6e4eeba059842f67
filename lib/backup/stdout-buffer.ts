import { execFile } from "node:child_process";
import { access, constants } from "node:fs/promises";
import { delimiter, isAbsolute, join } from "node:path";

/**
 * pg_dump's stdout buffer under `stdbuf`, in bytes. Why: pg_dump writes its custom-format output through
 * stdio, whose buffer on a pipe is one 4 KiB page, so the reader wakes for every 6–10 KB and pays Node's
 * stream machinery each time (bench/backup: ~17,000 reads per 177 MB dump). With a 128 KiB buffer pg_dump
 * writes in pipe-sized blocks, the reads fall to ~2,900 (each a full 64 KiB pipe), and the pipeline's CPU
 * per MB of dump drops by about a quarter. 128 KiB rather than 1 MiB: pg_dump blocks while a write drains,
 * and two pipes' worth keeps that short (1 MiB was slower in wall time, 64 KiB cost more CPU).
 */
export const PG_DUMP_STDOUT_BUFFER = 128 * 1024;

/** What was found for each PATH and program: a probe spawns processes, so it runs once per process for each. */
const probed = new Map<string, Promise<string | undefined>>();

/**
 * The path of a `stdbuf` on `path` that works here for `program`, or undefined. Works means the probe
 * `stdbuf -o… <program> --version` exits 0: stdbuf found its preload library, and the program runs
 * with it preloaded (a program built against another libc or loader than stdbuf's would not). Absent
 * (a Lambda layer without coreutils) or broken, the program runs unbuffered: slower, never wrong, since
 * the buffer only changes how the same bytes are grouped into writes.
 */
export function findStdbuf(path: string | undefined, program: string): Promise<string | undefined> {
  const key = `${path ?? ""}\0${program}`;
  let found = probed.get(key);
  if (!found) {
    found = probe(path ?? "", program);
    probed.set(key, found);
  }
  return found;
}

async function probe(path: string, program: string): Promise<string | undefined> {
  for (const dir of path.split(delimiter)) {
    // Relative entries would depend on the working directory of the moment.
    if (!isAbsolute(dir)) continue;
    const candidate = join(dir, "stdbuf");
    const executable = await access(candidate, constants.X_OK).then(
      () => true,
      () => false,
    );
    if (!executable) continue;
    if (await runs(candidate, program)) return candidate;
  }
  return undefined;
}

function runs(stdbuf: string, program: string): Promise<boolean> {
  return new Promise((resolve) => {
    // SIGKILL on the timeout: a probe that hung would hold every later dump of the process.
    execFile(
      stdbuf,
      [`-o${PG_DUMP_STDOUT_BUFFER}`, program, "--version"],
      { env: {}, timeout: 5_000, killSignal: "SIGKILL" },
      (error) => resolve(error === null),
    );
  });
}

/**
 * The command that runs `tool` with `args` and a `bytes` stdout buffer: `stdbuf -o<bytes> tool args…`
 * when a stdbuf is given and bytes > 0, else the tool itself. stdbuf execs the tool, so the process,
 * its exit status and its signals are the tool's own.
 */
export function bufferedCommand(options: {
  tool: string;
  args: readonly string[];
  stdbuf: string | undefined;
  bytes: number;
}): { command: string; args: string[] } {
  if (!options.stdbuf || options.bytes <= 0) return { command: options.tool, args: [...options.args] };
  return { command: options.stdbuf, args: [`-o${options.bytes}`, options.tool, ...options.args] };
}
