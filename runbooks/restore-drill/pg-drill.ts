import { z } from "zod";
import { errorMessage } from "../../lib/errors.js";
import type { ExpectedTable } from "../../lib/postgres/checks.js";
import { inspectBackups } from "../../runbooks/backup/catalog.js";
import { manifestKey } from "../../runbooks/backup/layout.js";
import type { Manifest } from "../../runbooks/backup/manifest.js";
import type { Database } from "../../systems/schema.js";
import type { ReportBuilder } from "../report.js";
import type { RunbookContext } from "../types.js";
import { applyPgDumpDrill } from "./apply.js";
import { drillId } from "./names.js";
import { addDrillToReport, buildDrillRecord, type DrillFacts } from "./outcome.js";
import { type DrillHandOff, placeDrill } from "./placement.js";
import {
  chooseDrillTarget,
  type DrillTarget,
  type PgDrillHandOff,
  type PgDrillPlan,
  type PgDrillSkip,
  type PgDrillSnapshot,
  planPgDumpDrill,
  restoreToolMajor,
} from "./plan.js";
import { type DrillRecord, listDrillRecords, readJsonObject, saveDrillRecord } from "./record.js";
import type { DrillSettings } from "./settings.js";
import { rpoSourceWarning } from "./verdict.js";

/**
 * One pg_dump drill of one database: read what the plan needs (`plan.ts`), plan, then report the plan
 * (dry run) or carry it out (`apply.ts`) and save the drill's record.
 */

export {
  chooseRestoreMode,
  DOWNLOAD_MODE_MIN_BYTES,
  type DrillTarget,
  DrillTargetError,
  JANITOR_GRACE_MS,
} from "./plan.js";

/**
 * The drill target server ({@link chooseDrillTarget}), its connections resolved through `ctx.postgres`.
 * The production server is resolved only to refuse it (a failure there is not the drill's), except
 * when the drill runs on it by opt-in.
 */
export async function resolveDrillTarget(
  ctx: Pick<RunbookContext, "postgres" | "system">,
  database: Database,
  settings: Pick<DrillSettings, "target" | "allowSourceServer">,
): Promise<DrillTarget> {
  const where = `system "${ctx.system.id}" database "${database.id}"`;
  if (!settings.target) {
    const production = settings.allowSourceServer ? await ctx.postgres.resolve(database) : undefined;
    return chooseDrillTarget({ where, settings, production });
  }
  const target = await ctx.postgres.resolve({ ...database, credentials: settings.target }, ctx.system);
  const production = settings.allowSourceServer
    ? undefined
    : await ctx.postgres.resolve(database).catch(() => undefined);
  return chooseDrillTarget({ where, settings, target, production });
}

const exactTablesSchema = z.object({
  tables: z.array(
    z.looseObject({
      schema: z.string(),
      name: z.string(),
      rowsEstimate: z.number(),
      rows: z.number().int().optional(),
    }),
  ),
});

/**
 * Row-count expectations from the manifest: exact `rows` when the backup counted them in the dump's
 * snapshot, else the planner's `rowsEstimate` (compared with a tolerance).
 */
export async function expectedTables(
  ctx: Pick<RunbookContext, "clients">,
  bucket: string,
  manifest: Manifest,
  limit: number,
): Promise<ExpectedTable[]> {
  let raw: unknown;
  try {
    raw = await readJsonObject(ctx.clients.s3, bucket, manifestKey(manifest.key));
  } catch {
    raw = undefined;
  }
  const exact = exactTablesSchema.safeParse(raw);
  const tables = exact.success ? exact.data.tables : manifest.tables;
  return [...tables]
    .slice(0, limit)
    .map((t) =>
      "rows" in t && typeof t.rows === "number"
        ? { schema: t.schema, name: t.name, rows: t.rows, exact: true }
        : { schema: t.schema, name: t.name, rows: t.rowsEstimate, exact: false },
    );
}

/**
 * How long a restore of this dump should take: the last passed drill of the database scaled by dump
 * size, else twice the dump's own duration (restoring rebuilds indexes that dumping only names).
 */
export async function estimateRestoreMs(
  ctx: Pick<RunbookContext, "clients">,
  bucket: string,
  database: string,
  manifest: Pick<Manifest, "system" | "bytes" | "durationMs">,
): Promise<number> {
  try {
    const { records } = await listDrillRecords(ctx.clients.s3, { bucket, system: manifest.system, limit: 10 });
    const previous = records
      .filter((r) => r.database === database && r.outcome === "passed" && r.restoreMs !== undefined)
      .at(-1);
    const bytes = Number((previous?.restoredFrom as { bytes?: unknown } | undefined)?.bytes);
    if (previous?.restoreMs !== undefined && bytes > 0) {
      return Math.round(previous.restoreMs * (manifest.bytes / bytes));
    }
  } catch {
    // No history readable: fall back to the dump's duration.
  }
  return Math.round(manifest.durationMs * 2);
}

/** What {@link readPgDrill} reads for. */
interface DrillScope {
  ctx: RunbookContext;
  database: Database;
  settings: DrillSettings;
  bucket: string;
  prefix: string;
  startedAt: Date;
  /** How the drill goes to the Fargate task when it does not fit here (`handoff.ts`); absent: it cannot. */
  handOff?: DrillHandOff | undefined;
}

/**
 * Where the drill runs (`placement.ts`), read before anything connects to the target: only in a function
 * (a plain process drills itself), from the restore estimate and, for a directory backup, the free disk.
 */
function readPlacement(scope: DrillScope, manifest: Manifest) {
  const { ctx, database, bucket } = scope;
  return placeDrill({
    now: scope.startedAt,
    deadline: ctx.deadline,
    drill: ctx.system.dr.drill,
    manifest,
    restoreEstimateMs: () => estimateRestoreMs(ctx, bucket, database.id, manifest),
    freeBytes: () => ctx.tempDir.freeBytes(),
    handOff: scope.handOff,
  });
}

/** Reads what {@link planPgDumpDrill} decides from: the backups, and (when there is one) the target. */
export async function readPgDrill(scope: DrillScope): Promise<PgDrillSnapshot> {
  const { ctx, database, settings, bucket } = scope;
  const listing = await inspectBackups(ctx.clients.s3, {
    bucket,
    prefix: scope.prefix,
    system: ctx.system.id,
    database: database.id,
    now: scope.startedAt,
  });
  const base: PgDrillSnapshot = {
    system: ctx.system.id,
    database: database.id,
    bucket,
    dumps: listing.backups.length,
    warnings: [rpoSourceWarning(ctx.system.dr)].filter((w): w is string => Boolean(w)),
    runDeadline: ctx.deadline,
  };
  const manifest = listing.newest?.manifest;
  if (!manifest) return base;
  const placement = await readPlacement(scope, manifest);
  const estimateMs = placement.restoreEstimateMs;
  if (placement.where !== "here") {
    return { ...base, newest: manifest, estimateMs, placement: { where: placement.where, reason: placement.reason } };
  }
  const target = await resolveDrillTarget(ctx, database, settings);
  const targetServer = await ctx.postgres.serverVersion(target.conn);
  const needed = restoreToolMajor(targetServer.major, manifest.pgDumpVersion);
  const tool = await ctx.pgTools.choose("pg_restore", { major: needed, version: String(needed) });
  return {
    ...base,
    newest: manifest,
    target,
    targetServer,
    tool,
    scratch: await ctx.postgres.scratch.list(target.conn),
    estimateMs,
    freeBytes: settings.restoreMode === "auto" ? await ctx.tempDir.freeBytes() : undefined,
  };
}

/** A dry run: the plan, reported as what the drill would do. */
export function reportPgDrillPlan(
  report: ReportBuilder,
  resource: string,
  plan: Exclude<PgDrillPlan, PgDrillHandOff>,
): void {
  if (plan.kind === "skip") {
    report.add({ resource, action: plan.action, status: plan.status, reason: plan.reason });
    return;
  }
  const name = plan.scratchName;
  report.add({ resource: name, action: "create-scratch-database", status: "would-do", after: plan.description });
  report.add({
    resource: name,
    action: "restore",
    status: "would-do",
    reason: `from ${plan.description.backup} (${plan.description.mode})`,
  });
  report.add({ resource: name, action: "validate", status: "would-do", reason: plan.validation });
  report.add({ resource: name, action: "drop-scratch-database", status: "would-do" });
}

/** Saves a drill's record (its failure to save is reported, not thrown) and adds it to the report. */
async function finish(ctx: RunbookContext, report: ReportBuilder, record: DrillRecord): Promise<DrillRecord> {
  const backup = ctx.system.backup;
  if (backup) {
    try {
      const key = await saveDrillRecord(ctx.clients.s3, {
        bucket: backup.bucket,
        record,
        ...(backup.kmsKeyId ? { kmsKeyId: backup.kmsKeyId } : {}),
      });
      report.add({ resource: `s3://${backup.bucket}/${key}`, action: "save-drill-record", status: "done" });
    } catch (error) {
      report.add({
        resource: `${ctx.system.id}/${record.database}`,
        action: "save-drill-record",
        status: "failed",
        reason: errorMessage(error),
      });
    }
  }
  addDrillToReport(report, record);
  return record;
}

/**
 * One pg_dump drill of one database: newest backup with a manifest → scratch database (named with the
 * drill id, deadline in its COMMENT) → pg_restore with the sha256 checked on the way → validation →
 * DROP, whatever happened. Saves and returns the drill's record; undefined when it did not run (dry
 * run, a drill already in flight, no time left, handed to the Fargate task).
 */
export async function pgDumpDrill(
  ctx: RunbookContext,
  report: ReportBuilder,
  database: Database,
  settings: DrillSettings,
  /** How the drill goes to the Fargate task when it would not fit here (`handoff.ts`). */
  handOff?: DrillHandOff,
): Promise<DrillRecord | undefined> {
  const { system } = ctx;
  const resource = `${system.id}/${database.id}`;
  if (!system.backup) {
    report.add({ resource, action: "restore-drill", status: "skipped", reason: "no backup section in the catalogue" });
    return undefined;
  }
  const startedAt = ctx.now();
  const { bucket, prefix } = system.backup;
  const scope = { ctx, database, settings, bucket, prefix, startedAt, handOff };
  const snapshot = await readPgDrill(scope);
  const plan = planPgDumpDrill(snapshot, settings, startedAt);
  if (plan.kind === "hand-off") {
    // A dry run reports the request it would send (`runbooks/fargate-handoff.ts`); a real one starts the task.
    await handOff?.handOff(plan.reason);
    return undefined;
  }
  if (ctx.dryRun) {
    reportPgDrillPlan(report, resource, plan);
    return undefined;
  }
  const base = {
    drillId: drillId(system.id, database.id, startedAt),
    system,
    database: database.id,
    source: "pg_dump" as const,
    startedAt,
  };
  if (plan.kind === "skip") return recordSkip({ ctx, report, resource, plan, base, snapshot });
  const facts = await applyPgDumpDrill({
    ctx,
    report,
    steps: plan,
    settings,
    bucket: scope.bucket,
    resource,
    expectedTables: () => expectedTables(ctx, scope.bucket, plan.manifest, settings.tableLimit),
  });
  return facts ? finish(ctx, report, buildDrillRecord({ ...base, ...facts })) : undefined;
}

/** A plan not carried out: reported; a failed drill (no backup) is also recorded. */
async function recordSkip(input: {
  ctx: RunbookContext;
  report: ReportBuilder;
  resource: string;
  plan: PgDrillSkip;
  base: Pick<DrillFacts, "drillId" | "system" | "database" | "source" | "startedAt">;
  snapshot: PgDrillSnapshot;
}): Promise<DrillRecord | undefined> {
  const { ctx, report, resource, plan } = input;
  report.add({ resource, action: plan.action, status: plan.status, reason: plan.reason });
  if (!plan.record) return undefined;
  const facts: DrillFacts = {
    ...input.base,
    finishedAt: ctx.now(),
    recoveryPointUsable: false,
    restoredFrom: {},
    scratch: "",
    warnings: [...input.snapshot.warnings],
    failure: plan.reason,
    checks: [],
    cleanup: { status: "absent" },
  };
  return finish(ctx, report, buildDrillRecord(facts));
}
