import { describe, expect, it } from "vitest";
import type { PgConnection } from "../../lib/postgres/connection.js";
import type { Manifest } from "../../runbooks/backup/manifest.js";
import { scratchDatabaseName } from "../../runbooks/restore-drill/names.js";
import {
  chooseDrillTarget,
  DrillTargetError,
  JANITOR_GRACE_MS,
  type PgDrillSnapshot,
  planPgDumpDrill,
  restoreToolMajor,
} from "../../runbooks/restore-drill/plan.js";
import { resolveDrillSettings } from "../../runbooks/restore-drill/settings.js";
import { builtinFleet, findSystem } from "../../systems/index.js";

// The pg_dump drill's plan, pinned without PostgreSQL or S3: which backup, which server, which names,
// stream or download, or why not.

const now = new Date("2026-11-21T10:00:00Z");
const system = findSystem(builtinFleet(), "demo");
const settings = { ...resolveDrillSettings(system, {}), deadlineMinutes: 60, jobs: 2, restoreMode: "auto" as const };
const conn = (host: string, port = 5432): PgConnection =>
  ({ host, port, user: "admin", database: "postgres" }) as unknown as PgConnection;

const manifest = (overrides: Partial<Manifest> = {}): Manifest => ({
  version: 1,
  system: "demo",
  database: "app",
  databaseName: "app",
  bucket: "b",
  key: "demo/app/2026-11-21/app-20261121T030000Z.dump",
  bytes: 1000,
  sha256: "a".repeat(64),
  format: "custom",
  compression: 6,
  serverVersion: "16.4",
  pgDumpVersion: "16.4",
  databaseBytes: 5000,
  startedAt: "2026-11-21T03:00:00.000Z",
  finishedAt: "2026-11-21T03:00:05.000Z",
  durationMs: 5000,
  tables: [{ schema: "public", name: "parts", rowsEstimate: 10, bytes: 100 }],
  encryption: "AES256",
  ...overrides,
});

const snapshot = (overrides: Partial<PgDrillSnapshot> = {}): PgDrillSnapshot => ({
  system: "demo",
  database: "app",
  bucket: "b",
  dumps: 3,
  newest: manifest(),
  target: { conn: conn("scratch.internal"), from: "dr.drill.target" },
  targetServer: { major: 16, version: "16.4" },
  scratch: [],
  tool: { path: "/usr/lib/postgresql/16/bin/pg_restore", version: "16.4", major: 16 },
  warnings: [],
  ...overrides,
});

describe("pg_dump drill plan: which backup, and why not", () => {
  it("no backup with a valid manifest: the drill fails and is recorded (what a drill exists to find)", () => {
    const plan = planPgDumpDrill(snapshot({ newest: undefined, dumps: 2 }), settings, now);
    expect(plan).toEqual({
      kind: "skip",
      status: "failed",
      action: "restore",
      reason: "no backup with a valid manifest among 2 dumps: nothing to restore",
      record: true,
    });
  });

  it("drills the newest verified backup, into a scratch database named after the drill", () => {
    const plan = planPgDumpDrill(snapshot(), settings, now);
    if (plan.kind !== "drill") throw new Error(`expected a drill, got ${plan.reason}`);
    expect(plan.manifest.key).toBe(manifest().key);
    expect(plan.scratchName).toBe(scratchDatabaseName("demo", "app", now));
    expect(plan.scratchConn).toMatchObject({ host: "scratch.internal", database: plan.scratchName });
    expect(plan.description.backup).toBe(`s3://b/${manifest().key}`);
    expect(plan.description.target).toMatch(/\(dr\.drill\.target\)$/);
    expect(plan.validation).toBe("table count, row counts of 1 table, 0 custom checks");
  });

  it("a drill of the same database within its deadline is in flight: skipped (duplicate delivery)", () => {
    const name = scratchDatabaseName("demo", "app", new Date("2026-11-21T09:50:00Z"));
    const comment = {
      opsAutopilot: "restore-drill" as const,
      drillId: "demo-app-1",
      system: "demo",
      database: "app",
      startedAt: "2026-11-21T09:50:00.000Z",
      deadline: "2026-11-21T11:00:00.000Z",
    };
    const plan = planPgDumpDrill(snapshot({ scratch: [{ name, comment }] }), settings, now);
    expect(plan).toMatchObject({ kind: "skip", status: "skipped", action: "restore-drill" });
    expect(plan.kind === "skip" && plan.reason).toContain(`drill demo-app-1 is in progress (scratch database ${name}`);
  });

  it("a leftover past its deadline, or another database's drill, does not block a new drill", () => {
    const past = { drillId: "x", system: "demo", database: "app", startedAt: "2026-11-20T09:00:00.000Z" };
    const scratch = [
      {
        name: "drill_old",
        comment: { opsAutopilot: "restore-drill" as const, ...past, deadline: "2026-11-21T09:59:59.000Z" },
      },
      {
        name: "drill_other",
        comment: {
          opsAutopilot: "restore-drill" as const,
          ...past,
          database: "other",
          deadline: "2026-11-22T00:00:00.000Z",
        },
      },
      { name: "drill_unlabelled" },
    ];
    expect(planPgDumpDrill(snapshot({ scratch }), settings, now).kind).toBe("drill");
  });

  it("an estimated restore that does not fit before the run's deadline is not started", () => {
    const runDeadline = new Date(now.getTime() + 60_000);
    const plan = planPgDumpDrill(snapshot({ runDeadline, estimateMs: 120_000 }), settings, now);
    expect(plan).toMatchObject({ kind: "skip", status: "skipped", action: "restore-drill" });
    expect(plan.kind === "skip" && plan.reason).toMatch(/^estimated restore time 120 s exceeds the 60 s left/);
    expect(planPgDumpDrill(snapshot({ runDeadline, estimateMs: 30_000 }), settings, now).kind).toBe("drill");
  });
});

describe("pg_dump drill plan: placed before the target is read", () => {
  // readPgDrill stops before resolving the target when the drill does not fit here: no target, no tool.
  const placed = (placement: PgDrillSnapshot["placement"], more: Partial<PgDrillSnapshot> = {}): PgDrillSnapshot => {
    const { target: _t, targetServer: _s, tool: _p, scratch: _d, ...read } = snapshot(more);
    return { ...read, placement };
  };

  it("a drill placed on the task is a hand-off with the placement's reason", () => {
    const reason = "the catalogue runs this drill on Fargate (dr.drill.runOn)";
    const plan = planPgDumpDrill(placed({ where: "task", reason }), settings, now);
    expect(plan).toEqual({ kind: "hand-off", reason });
  });

  it("a drill that fits nowhere is skipped with the placement's reason, and not recorded", () => {
    const reason = "estimated download 60 s … exceed the 840 s budget, and no backup task is deployed";
    const plan = planPgDumpDrill(placed({ where: "skip", reason }), settings, now);
    expect(plan).toEqual({ kind: "skip", status: "skipped", action: "restore-drill", reason, record: false });
  });

  it("no backup still fails the drill first, wherever it would have run", () => {
    const plan = planPgDumpDrill(
      placed({ where: "task", reason: "runOn fargate" }, { newest: undefined }),
      settings,
      now,
    );
    expect(plan).toMatchObject({ kind: "skip", status: "failed", record: true });
  });
});

describe("pg_dump drill plan: deadlines, mode, warnings", () => {
  it("the drill's deadline is its own limit or the run's, whichever is first; the janitor's adds grace", () => {
    const own = planPgDumpDrill(snapshot(), settings, now);
    if (own.kind !== "drill") throw new Error("expected a drill");
    expect(own.deadline.toISOString()).toBe("2026-11-21T11:00:00.000Z");
    expect(own.janitorDeadline.getTime() - own.deadline.getTime()).toBe(JANITOR_GRACE_MS);
    // The COMMENT carries the janitor's deadline: it must not drop a drill that is still cleaning up.
    expect(JSON.parse(own.comment)).toMatchObject({ deadline: own.janitorDeadline.toISOString(), system: "demo" });
    const runDeadline = new Date("2026-11-21T10:20:00Z");
    const short = planPgDumpDrill(snapshot({ runDeadline, estimateMs: 1000 }), settings, now);
    expect(short.kind === "drill" && short.deadline.toISOString()).toBe("2026-11-21T10:20:00.000Z");
  });

  it("auto mode downloads a large dump when there is room, and streams otherwise", () => {
    const big = manifest({ bytes: 64 << 20 });
    const roomy = planPgDumpDrill(snapshot({ newest: big, freeBytes: 1 << 30 }), settings, now);
    expect(roomy.kind === "drill" && roomy.mode).toBe("download");
    expect(roomy.kind === "drill" && roomy.description.mode).toBe("download, then pg_restore -j 2");
    const tight = planPgDumpDrill(snapshot({ newest: big, freeBytes: 32 << 20 }), settings, now);
    expect(tight.kind === "drill" && tight.mode).toBe("stream");
    const small = planPgDumpDrill(snapshot({ freeBytes: 1 << 30 }), settings, now);
    expect(small.kind === "drill" && small.mode).toBe("stream");
  });

  it("warns when the target runs an older PostgreSQL than the source", () => {
    const plan = planPgDumpDrill(snapshot({ targetServer: { major: 15, version: "15.8" } }), settings, now);
    expect(plan.kind === "drill" && plan.warnings).toEqual([
      "drill target runs PostgreSQL 15.8, older than the source's 16.4: the restore may fail for that reason alone",
    ]);
  });

  it("pg_restore must read the archive and suit the target: the larger of the two majors", () => {
    expect(restoreToolMajor(15, "16.4")).toBe(16);
    expect(restoreToolMajor(17, "16.4 (Debian 16.4-1)")).toBe(17);
  });
});

describe("the drill target server rule", () => {
  const where = 'system "demo" database "app"';

  it("without dr.drill.target nor the opt-in, refuses to fall back to production", () => {
    expect(() =>
      chooseDrillTarget({ where, settings: { allowSourceServer: false }, production: conn("prod") }),
    ).toThrow(DrillTargetError);
    expect(() => chooseDrillTarget({ where, settings: { allowSourceServer: false } })).toThrow(/set dr\.drill\.target/);
  });

  it("with allowSourceServer and no target, drills on the database's own server", () => {
    expect(chooseDrillTarget({ where, settings: { allowSourceServer: true }, production: conn("prod") })).toEqual({
      conn: conn("prod"),
      from: "dr.drill.allowSourceServer",
    });
  });

  it("a target that is production under another spelling is refused unless opted in", () => {
    const target = { source: "env", variable: "SCRATCH_URL" } as never;
    const facts = { where, target: conn("PROD", 5432), production: conn("prod", 5432) };
    expect(() => chooseDrillTarget({ ...facts, settings: { target, allowSourceServer: false } })).toThrow(
      /points at the database's own server \(prod:5432\)/,
    );
    expect(chooseDrillTarget({ ...facts, settings: { target, allowSourceServer: true } }).from).toBe("dr.drill.target");
    // Another port is another server.
    expect(
      chooseDrillTarget({
        where,
        target: conn("prod", 5433),
        production: conn("prod"),
        settings: { target, allowSourceServer: false },
      }).from,
    ).toBe("dr.drill.target");
  });
});
