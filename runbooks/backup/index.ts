import { z } from "zod";
import {
  backupKmsPermissions,
  backupListPermissions,
  backupObjectArn,
  databaseSecretPermissions,
} from "../../lib/iam.js";
import type { Database, System } from "../../systems/schema.js";
import { forEachDatabase, selectDatabases } from "../databases.js";
import { type HeldClaim, runExclusive } from "../exclusive.js";
import { booleanish, wholeNumber } from "../inputs.js";
import { ReportBuilder } from "../report.js";
import type { Runbook, RunbookContext } from "../types.js";
import { applyDump, applyHandOff, type StepResult } from "./apply.js";
import { inspectBackups } from "./catalog.js";
import { claimKey } from "./layout.js";
import { type BackupOptions, type BackupPlan, type BackupSnapshot, planBackup, type ServerFacts } from "./plan.js";
import { type DatabaseOutcome, reportOutcome, summarize } from "./summary.js";
import { backupTaskPermissions } from "./task.js";

const input = z.strictObject({
  /** Only this database (its catalogue id). */
  database: z.string().optional(),
  /** Take a backup even if a verified one is younger than `minIntervalMinutes`. */
  force: booleanish.default(false),
  /** A verified backup younger than this makes the run a no-op: at-least-once events do not double up. */
  minIntervalMinutes: wholeNumber(0, 10_080).default(60),
  /** pg_dump -Z level for this run, overriding the catalogue. */
  compression: wholeNumber(0, 9).optional(),
});

/** The read step, the same in a dry run: the database's backups in S3, the newest verified among them. */
async function readBackups(
  ctx: RunbookContext,
  read: { database: Database; claim: HeldClaim; now: Date },
): Promise<BackupSnapshot> {
  const { database, claim } = read;
  const backup = ctx.system.backup;
  if (!backup) throw new Error(`internal: system "${ctx.system.id}" has no backup section`);
  const { newest, passedOver } = await inspectBackups(ctx.clients.s3, {
    bucket: backup.bucket,
    prefix: backup.prefix,
    system: ctx.system.id,
    database: database.id,
    now: read.now,
  });
  return { database, newest, passedOver, claim: { holder: claim.holder, key: claim.key } };
}

/** The second read, when the plan needs the server: its size and tables, and the pg_dump for its major. */
async function readServer(ctx: RunbookContext, database: Database): Promise<ServerFacts> {
  const conn = await ctx.postgres.resolve(database, ctx.system);
  const info = await ctx.postgres.serverInfo(conn);
  const tool = await ctx.pgTools.choose("pg_dump", info);
  return { conn, info, tool };
}

/** Read, plan; read the server and plan again when the first plan asks for it. */
async function planDatabase(
  ctx: RunbookContext,
  options: BackupOptions,
  database: Database,
  claim: HeldClaim,
): Promise<{ plan: BackupPlan; startedAt: Date }> {
  const now = ctx.now();
  const settings = {
    system: ctx.system,
    options,
    task: ctx.settings.task,
    ...(ctx.deadline ? { deadline: ctx.deadline } : {}),
    ...(ctx.runId ? { runId: ctx.runId } : {}),
  };
  const snapshot = await readBackups(ctx, { database, claim, now });
  const first = planBackup(snapshot, settings, now);
  if (first.step.kind !== "read-server") return { plan: first, startedAt: now };
  const plan = planBackup({ ...snapshot, server: await readServer(ctx, database) }, settings, now);
  return { plan, startedAt: now };
}

/** Carries out the plan's step; a dry run stops at the plan (this is the one place that says so). */
async function carryOut(
  ctx: RunbookContext,
  job: { plan: BackupPlan; database: Database; claim: HeldClaim; startedAt: Date },
): Promise<StepResult | "planned"> {
  const { step, resource } = job.plan;
  if (ctx.dryRun || (step.kind !== "dump" && step.kind !== "hand-off")) return "planned";
  if (step.kind === "hand-off") return applyHandOff(ctx, step, job.claim);
  return applyDump(ctx, step, { system: ctx.system.id, database: job.database.id, resource }, job.startedAt);
}

/** One database, claimed for the run: a duplicate event arriving during the dump reports `skipped`. */
async function backupDatabase(
  ctx: RunbookContext,
  report: ReportBuilder,
  database: Database,
  options: BackupOptions,
): Promise<DatabaseOutcome> {
  const backup = ctx.system.backup;
  const resource = `${ctx.system.id}/${database.id}`;
  if (!backup) return { resource, notes: [], kind: "skipped", reason: "no backup section" };
  let outcome: DatabaseOutcome | undefined;
  const claimed = await runExclusive(
    ctx,
    report,
    {
      bucket: backup.bucket,
      key: claimKey(backup.prefix, ctx.system.id, database.id),
      ...(backup.kmsKeyId ? { kmsKeyId: backup.kmsKeyId } : {}),
      resource,
      action: "backup",
      what: "this backup",
    },
    async (claim) => {
      const { plan, startedAt } = await planDatabase(ctx, options, database, claim);
      const result = await carryOut(ctx, { plan, database, claim, startedAt });
      outcome = reportOutcome(report, { ctx, database, plan, result });
    },
  );
  if (!claimed.ran) return { resource, notes: [], kind: "skipped", reason: claimed.reason };
  return outcome ?? { resource, notes: [], kind: "failed", reason: "internal: the database was not planned" };
}

/** Why the run stopped early: the deadline (or a first Ctrl-C) came between two databases. */
const STOPPED = "remaining databases not backed up";

/** pg_dump of every database of a system, streamed to S3 with a manifest. */
export const backupRunbook: Runbook<typeof input> = {
  name: "backup",
  description: "pg_dump each database (custom format) straight into S3 with a sha256 manifest; no temp file",
  destructive: false,
  input,
  timeoutSeconds: 900,
  // Two vCPUs: pg_dump compresses on one, the upload pipeline (sha256, CRC32, HTTP) runs on the other;
  // bench/backup shows what sharing one costs.
  memoryMB: 3538,
  validate(system, options) {
    selectDatabases(system, options.database);
  },
  permissions(system: System) {
    if (!system.backup) return [];
    return [
      ...backupListPermissions(system),
      {
        actions: ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:DeleteObject"],
        resources: [backupObjectArn(system)],
      },
      ...databaseSecretPermissions(system),
      ...backupKmsPermissions(system),
      ...backupTaskPermissions(system),
    ];
  },
  async run(ctx, options) {
    const report = new ReportBuilder(ctx, "backup");
    const { system } = ctx;
    if (!system.backup || system.databases.length === 0) {
      report.add({
        resource: system.id,
        action: "backup",
        status: "skipped",
        reason: "no databases or no backup section in the catalogue",
      });
      return report.finish({ summary: "nothing to back up" });
    }
    const { results, aborted } = await forEachDatabase(ctx, selectDatabases(system, options.database), {
      report,
      action: "backup",
      stopped: STOPPED,
      work: (database) => backupDatabase(ctx, report, database, options),
    });
    const outcomes = results.map(
      (r): DatabaseOutcome =>
        "value" in r
          ? r.value
          : { resource: `${system.id}/${r.database.id}`, notes: [], kind: "failed", reason: r.error },
    );
    const stopped = aborted ? `stopped before the deadline; ${STOPPED}` : undefined;
    return report.finish({ summary: summarize(outcomes, { dryRun: ctx.dryRun, ...(stopped ? { stopped } : {}) }) });
  },
};
