import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bufferedCommand, findStdbuf, PG_DUMP_STDOUT_BUFFER } from "../../lib/backup/stdout-buffer.js";
import { realStdbuf } from "../helpers/stdbuf.js";

let dir: string;

async function script(folder: string, body: string): Promise<string> {
  const bin = join(dir, folder);
  await mkdir(bin, { recursive: true });
  const path = join(bin, "stdbuf");
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return bin;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ops-stdbuf-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("bufferedCommand", () => {
  it("runs the tool under stdbuf -o<bytes> when a stdbuf is given", () => {
    expect(
      bufferedCommand({ tool: "/pg/bin/pg_dump", args: ["--format=custom"], stdbuf: "/usr/bin/stdbuf", bytes: 131072 }),
    ).toEqual({ command: "/usr/bin/stdbuf", args: ["-o131072", "/pg/bin/pg_dump", "--format=custom"] });
  });

  it("runs the tool itself without a stdbuf, or with a buffer of 0", () => {
    const args = ["--format=custom", "--no-sync"];
    expect(bufferedCommand({ tool: "/pg/bin/pg_dump", args, stdbuf: undefined, bytes: 131072 })).toEqual({
      command: "/pg/bin/pg_dump",
      args,
    });
    expect(bufferedCommand({ tool: "/pg/bin/pg_dump", args, stdbuf: "/usr/bin/stdbuf", bytes: 0 })).toEqual({
      command: "/pg/bin/pg_dump",
      args,
    });
  });
});

describe("findStdbuf", () => {
  /** A program that answers `--version` (node itself), as pg_dump does. */
  const program = process.execPath;

  it("finds nothing on a PATH without stdbuf, or with none at all, or only relative entries", async () => {
    const empty = join(dir, "empty");
    await mkdir(empty, { recursive: true });
    expect(await findStdbuf(empty, program)).toBeUndefined();
    expect(await findStdbuf(undefined, program)).toBeUndefined();
    const working = await script("relative", '[ "$1" = "--version" ] && exit 0; shift; exec "$@"');
    expect(await findStdbuf(relative(process.cwd(), working), program)).toBeUndefined();
  });

  it("skips a stdbuf that cannot run (its preload library missing) for a working one later on the PATH", async () => {
    const broken = await script("broken", 'echo "stdbuf: failed to find libstdbuf.so" >&2; exit 125');
    const working = await script("working", 'shift; exec "$@"');
    expect(await findStdbuf(`${broken}:${working}`, program)).toBe(join(working, "stdbuf"));
    expect(await findStdbuf(broken, program)).toBeUndefined();
  });

  it("is not used for a program that does not run under it, while it still is for one that does", async () => {
    const bin = await script("picky", 'shift; exec "$@"');
    // A pg_dump that fails with the preload (another libc or loader than stdbuf's): exit 127.
    const failing = join(dir, "failing-pg_dump");
    await writeFile(failing, "#!/bin/sh\nexit 127\n");
    await chmod(failing, 0o755);
    expect(await findStdbuf(bin, failing)).toBeUndefined();
    expect(await findStdbuf(bin, program)).toBe(join(bin, "stdbuf"));
  });

  it("probes the program itself, with the buffer size the dump uses", async () => {
    const log = join(dir, "probe.log");
    const bin = await script("recording", `echo "$@" >> "${log}"; shift; exec "$@"`);
    expect(await findStdbuf(bin, program)).toBe(join(bin, "stdbuf"));
    expect((await readFile(log, "utf8")).split("\n")[0]).toBe(`-o${PG_DUMP_STDOUT_BUFFER} ${program} --version`);
  });

  it.runIf(realStdbuf)("accepts this machine's coreutils stdbuf", async () => {
    const folder = realStdbuf?.slice(0, realStdbuf.lastIndexOf("/")) ?? "";
    expect(await findStdbuf(folder, program)).toBe(realStdbuf);
  });
});
