import { describe, expect, it } from "vitest";
import type { PgConnection } from "../../lib/postgres/connection.js";
import type { CheckedBackup, VerifiedBackup } from "../../runbooks/backup/catalog.js";
import type { Manifest } from "../../runbooks/backup/manifest.js";
import {
  type BackupPlanSettings,
  type BackupSnapshot,
  DEFAULT_RATE_BYTES_PER_MS,
  planBackup,
  type ServerFacts,
} from "../../runbooks/backup/plan.js";
import { forEachDatabase } from "../../runbooks/databases.js";
import { ReportBuilder } from "../../runbooks/report.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import { type System, systemSchema } from "../../systems/schema.js";
import { testContext } from "../helpers/context.js";

const NOW = new Date("2026-11-21T03:00:00Z");
const MIN = 60_000;
const GIB = 1 << 30;

function demo(backup: Record<string, unknown> = {}, database: Record<string, unknown> = {}): System {
  const base = findSystem(builtinFleet(), "demo");
  return systemSchema.parse({
    ...base,
    account: { ...base.account, accountId: "123456789012" },
    backup: { ...base.backup, ...backup },
    databases: base.databases.map((d) => ({ ...d, ...database })),
  });
}

const key = (at: Date) =>
  `pg_dump/demo/inventory/${at.toISOString().slice(0, 10).replaceAll("-", "/")}/${at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}Z$/, "Z")}.dump`;

/** A verified backup taken `ageMs` before NOW that dumped `databaseBytes` in `durationMs`. */
function verified(ageMs: number, rate = { databaseBytes: 0, durationMs: 0 }): VerifiedBackup {
  const takenAt = new Date(NOW.getTime() - ageMs);
  const manifest = {
    finishedAt: new Date(takenAt.getTime() + 1000).toISOString(),
    ...rate,
  } as Manifest;
  return { backup: { key: key(takenAt), takenAt, bytes: 10 }, manifest };
}

const future: CheckedBackup = {
  key: key(new Date(NOW.getTime() + 2 * 86_400_000)),
  takenAt: new Date(NOW.getTime() + 2 * 86_400_000),
  bytes: 10,
  check: { state: "future", reason: "key dated 2026-11-23T03:00:00.000Z, 48.0 h ahead of now" },
};
const broken: CheckedBackup = {
  key: key(new Date(NOW.getTime() - 5 * MIN)),
  takenAt: new Date(NOW.getTime() - 5 * MIN),
  bytes: 10,
  check: { state: "bad-manifest", reason: "manifest is not JSON (Unexpected token)" },
};

const conn: PgConnection = { host: "db.internal", port: 5432, user: "backup", database: "inventory" } as PgConnection;
function server(databaseBytes: number): ServerFacts {
  return {
    conn,
    info: { versionNum: 160004, major: 16, version: "16.4", databaseBytes, tables: [] },
    tool: { path: "/usr/lib/postgresql/16/bin/pg_dump", version: "16.4", major: 16 },
  };
}

function snapshot(system: System, more: Partial<BackupSnapshot> = {}): BackupSnapshot {
  const database = system.databases[0];
  if (!database) throw new Error("demo has a database");
  return {
    database,
    newest: undefined,
    passedOver: [],
    claim: { holder: "holder-1", key: "pg_dump/demo/inventory/in-progress.json" },
    ...more,
  };
}

const task = { cluster: "ops-autopilot-backup", taskDefinition: "ops-autopilot-backup" };
function settings(system: System, more: Partial<BackupPlanSettings> = {}): BackupPlanSettings {
  return { system, options: { force: false, minIntervalMinutes: 60 }, task: {}, ...more };
}
/** A Lambda with `minutes` left. */
const deadline = (minutes: number) => new Date(NOW.getTime() + minutes * MIN);

describe("planBackup: the rules in order", () => {
  const system = demo();

  it.each([
    ["a verified backup 10 min old skips (at-least-once events)", verified(10 * MIN), 60, false, "skip"],
    ["a verified backup 61 min old is due", verified(61 * MIN), 60, false, "read-server"],
    ["force takes another however fresh", verified(1 * MIN), 60, true, "read-server"],
    ["minIntervalMinutes=0 never skips", verified(0), 0, false, "read-server"],
    ["no verified backup at all is due", undefined, 60, false, "read-server"],
  ] as const)("%s", (_name, newest, minIntervalMinutes, force, kind) => {
    const plan = planBackup(
      snapshot(system, { newest }),
      settings(system, { options: { force, minIntervalMinutes } }),
      NOW,
    );
    expect(plan.step.kind).toBe(kind);
    if (plan.step.kind === "skip") {
      expect(plan.step.reason).toMatch(/^a verified backup from 2026-11-21T02:50:01.000Z is younger than 60 min/);
      expect(plan.step.before).toEqual({ key: newest?.backup.key });
    }
  });

  it("a future-dated or unverified dump newer than the newest verified never makes it fresh; each is noted", () => {
    // The catalogue passed over both to find the verified backup of 2 h ago: the run is due.
    const plan = planBackup(
      snapshot(system, { newest: verified(120 * MIN), passedOver: [future, broken] }),
      settings(system),
      NOW,
    );
    expect(plan.step.kind).toBe("read-server");
    expect(plan.notes).toEqual([
      {
        key: future.key,
        reason:
          "not counted as the newest backup: key dated 2026-11-23T03:00:00.000Z, 48.0 h ahead of now (a clock is wrong here or where it was written)",
      },
      {
        key: broken.key,
        reason: "not counted as the newest backup: unverified (manifest is not JSON (Unexpected token))",
      },
    ]);
  });

  it("a plain process (no deadline) dumps here, to the key of now, with the catalogue's compression", () => {
    const plan = planBackup(snapshot(system, { server: server(GIB) }), settings(system), NOW);
    expect(plan.step).toMatchObject({
      kind: "dump",
      bucket: system.backup?.bucket,
      key: "pg_dump/demo/inventory/2026/11/21/20261121T030000Z.dump",
      compression: 1,
    });
    // Without a measured backup the default rate is assumed.
    expect(plan.estimateMs).toBe(Math.round(GIB / DEFAULT_RATE_BYTES_PER_MS));
    if (plan.step.kind !== "dump") throw new Error("dump");
    expect(plan.step.shown).toMatchObject({
      key: `s3://${system.backup?.bucket}/pg_dump/demo/inventory/2026/11/21/20261121T030000Z.dump`,
      serverVersion: "16.4",
      pgDump: "16.4 (/usr/lib/postgresql/16/bin/pg_dump)",
      databaseBytes: GIB,
    });
  });

  it("compression= of the run overrides the catalogue", () => {
    const plan = planBackup(
      snapshot(system, { server: server(GIB) }),
      settings(system, { options: { force: false, minIntervalMinutes: 60, compression: 6 } }),
      NOW,
    );
    expect(plan.step).toMatchObject({ kind: "dump", compression: 6 });
  });

  it("the estimate uses the previous backup's measured rate", () => {
    // 1 GiB in 10 s before: 10 GiB now is estimated at 100 s.
    const newest = verified(120 * MIN, { databaseBytes: GIB, durationMs: 10_000 });
    const plan = planBackup(snapshot(system, { newest, server: server(10 * GIB) }), settings(system), NOW);
    expect(plan.estimateMs).toBe(100_000);
  });
});

describe("planBackup: where the dump runs", () => {
  const fargate = { fargate: { subnetIds: ["subnet-0abc1234"], securityGroupIds: ["sg-0def5678"] } };
  // 1 GiB at the default 20 MB/s is about 54 s.
  const cases: [string, System, Partial<BackupPlanSettings>, ServerFacts | undefined, string, RegExp | undefined][] = [
    [
      "runOn: fargate with a task hands off before reading the server",
      demo(fargate, { backupRunOn: "fargate" }),
      { task, deadline: deadline(14) },
      undefined,
      "hand-off",
      /^the catalogue runs this backup on Fargate \(runOn: fargate\)$/,
    ],
    [
      "runOn: fargate without a deployed task is skipped, naming the settings",
      demo(fargate, { backupRunOn: "fargate" }),
      { deadline: deadline(14) },
      undefined,
      "skip",
      /no backup task is deployed \(OPS_BACKUP_TASK_CLUSTER \/ OPS_BACKUP_TASK_DEFINITION unset\)/,
    ],
    [
      "auto in a Lambda reads the server first",
      demo(fargate),
      { task, deadline: deadline(14) },
      undefined,
      "read-server",
      undefined,
    ],
    [
      "an estimate within the budget runs here",
      demo(fargate),
      { task, deadline: deadline(14) },
      server(GIB),
      "dump",
      undefined,
    ],
    [
      "an estimate over the budget goes to the task",
      demo(fargate),
      { task, deadline: deadline(14) },
      server(100 * GIB),
      "hand-off",
      /^estimated dump time 5369 s \(100\.00 GiB at 19\.1 MiB\/s\) exceeds the 840 s budget$/,
    ],
    [
      "over the budget with no task is skipped with the numbers",
      demo(),
      { deadline: deadline(14) },
      server(100 * GIB),
      "skip",
      /^estimated dump time 5369 s .* exceeds the 840 s budget and the catalogue gives no task network/,
    ],
    ["a plain process never hands off, however big", demo(fargate), { task }, server(100 * GIB), "dump", undefined],
  ];
  it.each(cases)("%s", (_name, system, more, facts, kind, reason) => {
    const plan = planBackup(snapshot(system, facts ? { server: facts } : {}), settings(system, more), NOW);
    expect(plan.step.kind).toBe(kind);
    if (reason) expect("reason" in plan.step ? plan.step.reason : "").toMatch(reason);
  });

  it("a hand-off carries the RunTask request: the claim's holder as clientToken and in the task's environment", () => {
    const system = demo(fargate, { backupRunOn: "fargate" });
    const plan = planBackup(
      snapshot(system),
      settings(system, {
        task,
        deadline: deadline(14),
        runId: "req-1",
        options: { force: true, minIntervalMinutes: 60 },
      }),
      NOW,
    );
    if (plan.step.kind !== "hand-off") throw new Error(`expected a hand-off, got ${plan.step.kind}`);
    expect(plan.step.request.clientToken).toBe("holder-1");
    expect(plan.step.request.overrides?.containerOverrides?.[0]?.environment).toEqual([
      { name: "OPS_CLAIM_HOLDER", value: "holder-1" },
      { name: "OPS_CLAIM_KEY", value: "pg_dump/demo/inventory/in-progress.json" },
      { name: "OPS_HANDED_OFF_BY", value: "req-1" },
    ]);
    expect(plan.step.shown.command).toEqual(["run", "backup", "--system", "demo", "database=inventory", "force=true"]);
  });

  it("is pure: the same snapshot, settings and clock give the same plan", () => {
    const system = demo(fargate);
    const args = [
      snapshot(system, { server: server(GIB) }),
      settings(system, { task, deadline: deadline(14) }),
      NOW,
    ] as const;
    expect(planBackup(...args)).toEqual(planBackup(...args));
  });
});

describe("planBackup: a directory-format database", () => {
  const fargate = { fargate: { subnetIds: ["subnet-0abc1234"], securityGroupIds: ["sg-0def5678"] } };
  const directory = { backup: { format: "directory", jobs: 3 } };

  it("in a function goes to the task before reading the server: it needs local disk", () => {
    const system = demo(fargate, directory);
    const plan = planBackup(snapshot(system), settings(system, { task, deadline: deadline(14) }), NOW);
    expect(plan.step).toMatchObject({
      kind: "hand-off",
      reason: "directory format (pg_dump -Fd -j 3) needs local disk, which a function does not have",
    });
  });

  it("in a function without a task is skipped, saying where it can run", () => {
    const system = demo({}, directory);
    const plan = planBackup(snapshot(system), settings(system, { deadline: deadline(14) }), NOW);
    expect(plan.step.kind).toBe("skip");
    expect("reason" in plan.step && plan.step.reason).toMatch(
      /^directory format \(pg_dump -Fd -j 3\) needs local disk.*the catalogue gives no task network.*; run it as a plain process/,
    );
  });

  it("in a plain process dumps to the folder <ts>.dir, and the shown plan names the format and workers", () => {
    const system = demo(fargate, directory);
    const plan = planBackup(snapshot(system, { server: server(GIB) }), settings(system, { task }), NOW);
    if (plan.step.kind !== "dump") throw new Error(`expected a dump, got ${plan.step.kind}`);
    expect(plan.step.key).toBe("pg_dump/demo/inventory/2026/11/21/20261121T030000Z.dir");
    expect(plan.step.format).toEqual({ format: "directory", jobs: 3 });
    expect(plan.step.shown.format).toBe("directory, pg_dump -j 3");
  });

  it("a custom-format database shows custom and keeps the .dump key", () => {
    const system = demo();
    const plan = planBackup(snapshot(system, { server: server(GIB) }), settings(system), NOW);
    if (plan.step.kind !== "dump") throw new Error(`expected a dump, got ${plan.step.kind}`);
    expect(plan.step.format).toEqual({ format: "custom", jobs: 1 });
    expect(plan.step.shown.format).toBe("custom");
    expect(plan.step.key).toMatch(/\.dump$/);
  });
});

describe("forEachDatabase: the skeleton over databases", () => {
  const system = demo();
  const databases = ["a", "b", "c"].map((id) => ({ ...(system.databases[0] as System["databases"][number]), id }));

  it("a throw in one database is that database failed; the others still run", async () => {
    const ctx = testContext({ system });
    const report = new ReportBuilder(ctx, "backup");
    const { results, aborted } = await forEachDatabase(ctx, databases, {
      report,
      action: "backup",
      stopped: "remaining databases not backed up",
      work: async (d) => {
        if (d.id === "b") throw new Error("connection refused");
        return d.id;
      },
    });
    expect(aborted).toBe(false);
    expect(results).toEqual([
      { database: databases[0], value: "a" },
      { database: databases[1], error: "connection refused" },
      { database: databases[2], value: "c" },
    ]);
    expect(report.actions).toEqual([
      { resource: "demo/b", action: "backup", status: "failed", reason: "connection refused" },
    ]);
  });

  it("an abort stops before the next database and marks the run partial", async () => {
    const controller = new AbortController();
    const ctx = testContext({ system, signal: controller.signal });
    const report = new ReportBuilder(ctx, "backup");
    const seen: string[] = [];
    const { results, aborted } = await forEachDatabase(ctx, databases, {
      report,
      action: "backup",
      stopped: "remaining databases not backed up",
      work: async (d) => {
        seen.push(d.id);
        if (d.id === "b") controller.abort();
        report.add({ resource: d.id, action: "backup", status: "done" });
      },
    });
    expect(seen).toEqual(["a", "b"]);
    expect(aborted).toBe(true);
    expect(results).toHaveLength(2);
    expect(report.actions.at(-1)).toMatchObject({
      action: "stop",
      reason: "stopped before the deadline; remaining databases not backed up",
    });
    expect(report.deriveStatus()).toBe("partial");
  });
});
