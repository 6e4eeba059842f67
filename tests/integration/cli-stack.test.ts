import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const bin = new URL("../../bin/ops.js", import.meta.url).pathname;
let stateDir: string;
let root: string;

/** Runs the real `ops` executable as a child process against the test's state directory. */
function ops(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, OPS_STATE_DIR: stateDir, AWS_ENDPOINT_URL_S3: "", AWS_ENDPOINT_URL: "" },
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.on("close", (code) => resolve({ code, out, err }));
  });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "ops-stack-"));
  stateDir = join(root, "state");
  // An upload an interrupted run left in the store: the next start must remove it.
  await mkdir(join(stateDir, "s3", "ops-autopilot-demo", "._S3rver_uploads", "stale-upload-id"), { recursive: true });
  await writeFile(join(stateDir, "s3", "ops-autopilot-demo", "._S3rver_uploads", "stale-upload-id", "1"), "x");
});

afterAll(async () => {
  await ops("stack", "down");
  await rm(root, { recursive: true, force: true });
});

describe("ops stack", () => {
  it("without a stack, a demo runbook says how to start one and exits 2", async () => {
    const { code, err } = await ops("run", "backup", "--system", "demo", "--dry-run");
    expect(code).toBe(2);
    expect(err).toContain('the "demo" system runs on the embedded stack, which is not up');
    expect(err).toContain("run `ops stack up` first");
  });

  it("up starts PostgreSQL and S3, sweeps stale uploads; every demo runbook then works; down stops it", async () => {
    const up = await ops("stack", "up", "--json");
    expect(up.code, up.err).toBe(0);
    const stack = JSON.parse(up.out) as { started: boolean; health: { healthy: boolean }; databases: string[] };
    expect(stack).toMatchObject({ started: true, health: { healthy: true }, databases: ["partpal_demo"] });
    expect(up.err).toContain("removed 1 unfinished upload left by an interrupted run");
    expect(await readdir(join(stateDir, "s3", "ops-autopilot-demo", "._S3rver_uploads"))).toEqual([]);

    const again = await ops("stack", "up");
    expect([again.code, again.out.split("\n")[0]]).toEqual([0, "already up"]);

    const backup = await ops("run", "backup", "--system", "demo", "--json");
    expect(backup.code, backup.err).toBe(0);
    expect(JSON.parse(backup.out)).toMatchObject({ runbook: "backup", status: "succeeded" });
    const janitor = await ops("run", "drill-janitor", "--system", "demo", "--dry-run", "--json");
    expect(janitor.code, janitor.err).toBe(0);

    // The drill history as a person gets it: a drill, then the table and the chart from the real CLI.
    const drill = await ops("run", "restore-drill", "--system", "demo", "--json");
    expect(drill.code, drill.err).toBe(0);
    const chart = join(root, "drills.svg");
    const history = await ops("drill-history", "--system", "demo", "--out", chart);
    expect(history.code, history.err).toBe(0);
    expect(history.out.replace(/\n {2}/g, " ")).toMatch(
      /no trend: it needs 3 passed drills over at least a day \(have \d+ passed drills?/,
    );
    expect(history.out.split("\n").filter((l) => l.length > 100)).toEqual([]);
    const svg = await readFile(chart, "utf8");
    expect(svg).toMatch(/^<svg[\s\S]*RTO 30 min[\s\S]*<\/svg>\s*$/);

    // The catalogue round trip through the real CLI: exported, then read back as --fleet.
    const exported = join(root, "fleet.json");
    expect((await ops("fleet", "export", "--out", exported)).code).toBe(0);
    const plan = await ops("plan", "--json", "--days", "1");
    const replanned = await ops("plan", "--json", "--days", "1", "--fleet", exported);
    expect(replanned.code, replanned.err).toBe(0);
    expect(JSON.parse(replanned.out).length).toBe(JSON.parse(plan.out).length);

    const status = await ops("stack", "status");
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/postgres\s+up on 127\.0\.0\.1:\d+/);

    const down = await ops("stack", "down");
    expect(down.out).toContain("stopped the stack");
    const after = await ops("stack", "status");
    expect([after.code, after.out]).toEqual([1, `no stack is up in ${stateDir}\n`]);
  });

  it("a second start while another run holds .state is refused with who holds it", async () => {
    const first = spawn(process.execPath, [bin, "demo"], { env: { ...process.env, OPS_STATE_DIR: stateDir } });
    const exited = new Promise((resolve) => first.on("close", resolve));
    first.stderr.resume();
    first.stdout.resume();
    // Wait for the demo to take the lock.
    for (let i = 0; i < 100; i++) {
      if ((await readdir(stateDir)).includes("stack.lock")) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const second = await ops("stack", "up");
    expect(second.code).toBe(1);
    expect(second.err).toMatch(/another run holds .* \(npm start, pid \d+, since /);
    await exited;
    expect((await readdir(stateDir)).includes("stack.lock")).toBe(false);
  });
});
