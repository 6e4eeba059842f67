import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
  it("finds nothing on a PATH without stdbuf, or with none at all", async () => {
    const empty = join(dir, "empty");
    await mkdir(empty, { recursive: true });
    expect(await findStdbuf(empty)).toBeUndefined();
    expect(await findStdbuf(undefined)).toBeUndefined();
  });

  it("skips a stdbuf that cannot run (its preload library missing) for a working one later on the PATH", async () => {
    const broken = await script("broken", 'echo "stdbuf: failed to find libstdbuf.so" >&2; exit 1');
    const working = await script("working", '[ "$1" = "--version" ] && exit 0; shift; exec "$@"');
    expect(await findStdbuf(`${broken}:${working}`)).toBe(join(working, "stdbuf"));
    expect(await findStdbuf(broken)).toBeUndefined();
  });

  it("probes with the buffer size the dump uses, the stdbuf itself as the command", async () => {
    const log = join(dir, "probe.log");
    const bin = await script("recording", `echo "$@" >> "${log}"; [ "$1" = "--version" ] && exit 0; shift; exec "$@"`);
    const found = await findStdbuf(bin);
    expect(found).toBe(join(bin, "stdbuf"));
    const first = (await readFile(log, "utf8")).split("\n")[0];
    expect(first).toBe(`-o${PG_DUMP_STDOUT_BUFFER} ${found} --version`);
  });

  it.runIf(realStdbuf)("accepts this machine's coreutils stdbuf", async () => {
    const folder = realStdbuf?.slice(0, realStdbuf.lastIndexOf("/")) ?? "";
    expect(await findStdbuf(folder)).toBe(realStdbuf);
  });
});
