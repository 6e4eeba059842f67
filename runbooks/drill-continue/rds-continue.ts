import { randomUUID } from "node:crypto";
import { errorMessage } from "../../lib/errors.js";
import { type CheckResult, type Expectations, validationOutcome } from "../../lib/postgres/checks.js";
import type { PgConnection } from "../../lib/postgres/connection.js";
import { isWriteConflict } from "../../lib/s3-claim.js";
import type { ReportBuilder } from "../report.js";
import { addDrillToReport, buildDrillRecord, type DrillFacts } from "../restore-drill/outcome.js";
import {
  BROKEN,
  CONNECTABLE,
  type DrillInstance,
  deleteScratchInstance,
  describeInstance,
  instanceTags,
  setState,
  toDrillInstance,
} from "../restore-drill/rds-instances.js";
import { type RdsDrillPlan, rdsDrillPlanSchema } from "../restore-drill/rds-plan.js";
import {
  claimKey,
  type DrillRecord,
  deleteObject,
  pendingPlanKey,
  readJsonObject,
  saveDrillRecord,
  writeJsonObject,
} from "../restore-drill/record.js";
import { resolveDrillSettings } from "../restore-drill/settings.js";
import type { RunbookContext } from "../types.js";

/** Continuing an RDS drill once RDS has restored its scratch instance: claim, validate, delete, record. */

/** Validates a restored instance; injectable so unit tests need no PostgreSQL. */
export type ValidateFn = (conn: PgConnection, expectations: Expectations) => Promise<CheckResult[]>;

/** Options of {@link continueRdsDrill}. */
export interface ContinueRdsDrillOptions {
  instanceId: string;
  /** Who continues: the RDS event, or the janitor for a drill whose event never came. */
  by: "event" | "janitor";
  validate?: ValidateFn;
}

/** Creates the drill's claim; false when another invocation holds it. */
async function claimDrill(
  ctx: RunbookContext,
  drill: DrillInstance,
  token: string,
  by: ContinueRdsDrillOptions["by"],
): Promise<boolean> {
  const backup = ctx.system.backup;
  // No bucket, no drill: startRdsDrill refuses to start one without it.
  if (!backup) return true;
  const key = claimKey(ctx.system.id, drill.instanceId);
  try {
    await writeJsonObject(ctx.clients.s3, {
      bucket: backup.bucket,
      key,
      // `holder`, not `token`: the redaction of saved JSON would blank a key named like a secret.
      value: {
        drillId: drill.drillId,
        instanceId: drill.instanceId,
        holder: token,
        by,
        claimedAt: ctx.now().toISOString(),
      },
      onlyIfAbsent: true,
      ...(backup.kmsKeyId ? { kmsKeyId: backup.kmsKeyId } : {}),
    });
    return true;
  } catch (error) {
    if (!isWriteConflict(error)) throw error;
    // The SDK may have retried our own write after its response was lost: then the claim is ours.
    const held = (await readJsonObject(ctx.clients.s3, backup.bucket, key)) as { holder?: unknown } | undefined;
    return held?.holder === token;
  }
}

async function readPlan(ctx: RunbookContext, instanceId: string): Promise<RdsDrillPlan | undefined> {
  const bucket = ctx.system.backup?.bucket;
  if (!bucket) return undefined;
  const raw = await readJsonObject(ctx.clients.s3, bucket, pendingPlanKey(ctx.system.id, instanceId)).catch(
    () => undefined,
  );
  const parsed = rdsDrillPlanSchema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}

async function finishRecord(ctx: RunbookContext, report: ReportBuilder, record: DrillRecord, instanceId: string) {
  const backup = ctx.system.backup;
  if (backup) {
    try {
      const key = await saveDrillRecord(ctx.clients.s3, {
        bucket: backup.bucket,
        record,
        ...(backup.kmsKeyId ? { kmsKeyId: backup.kmsKeyId } : {}),
      });
      report.add({ resource: `s3://${backup.bucket}/${key}`, action: "save-drill-record", status: "done" });
      await deleteObject(ctx.clients.s3, backup.bucket, pendingPlanKey(ctx.system.id, instanceId)).catch(() => {});
    } catch (error) {
      report.add({
        resource: instanceId,
        action: "save-drill-record",
        status: "failed",
        reason: errorMessage(error),
      });
    }
  }
  addDrillToReport(report, record);
}

/**
 * Continues an RDS drill once its instance can be reached: claims it through its `drill-state` tag
 * (a duplicate event finds it claimed and does nothing), validates through SQL with the source's
 * credentials, then tags the outcome and deletes the instance (SkipFinalSnapshot) — also when
 * validation throws. Returns the drill's record, or undefined when there was nothing to do.
 */
export async function continueRdsDrill(
  ctx: RunbookContext,
  report: ReportBuilder,
  options: ContinueRdsDrillOptions,
): Promise<DrillRecord | undefined> {
  const { system } = ctx;
  const rds = ctx.clients.rds;
  const { instanceId } = options;
  const instance = await describeInstance(rds, instanceId);
  if (!instance) {
    report.add({
      resource: instanceId,
      action: "continue-drill",
      status: "skipped",
      reason: "instance not found (already removed)",
    });
    return undefined;
  }
  const drill = toDrillInstance(instance, await instanceTags(rds, instance));
  if (!drill || drill.system !== system.id) {
    report.add({
      resource: instanceId,
      action: "continue-drill",
      status: "skipped",
      reason: drill
        ? `a drill of system ${drill.system}, not ${system.id}`
        : "not a drill instance (no drill tags): left alone",
    });
    return undefined;
  }
  if (drill.status === "deleting") {
    report.add({ resource: instanceId, action: "continue-drill", status: "skipped", reason: "already being deleted" });
    return undefined;
  }
  if (drill.state === "passed" || drill.state === "failed") {
    // Validated before: only the deletion may be left to do (it failed, or this is a duplicate event).
    if (ctx.dryRun) {
      report.add({
        resource: instanceId,
        action: "delete-rds-instance",
        status: "would-do",
        reason: `drill already ${drill.state}`,
      });
      return undefined;
    }
    const cleanup = await deleteScratchInstance(rds, instanceId);
    report.add({
      resource: instanceId,
      action: "delete-rds-instance",
      status: cleanup.status === "failed" ? "failed" : "done",
      reason: `drill already ${drill.state}: not validated again${cleanup.reason ? `; ${cleanup.reason}` : ""}`,
    });
    return undefined;
  }
  if (drill.state.startsWith("validating")) {
    report.add({
      resource: instanceId,
      action: "continue-drill",
      status: "skipped",
      reason: "another invocation is validating this drill (duplicate event)",
    });
    return undefined;
  }
  const now = ctx.now();
  const database = system.databases.find((d) => d.id === drill.database);
  const plan = await readPlan(ctx, instanceId);
  const startedAt = drill.startedAt ?? (plan ? new Date(plan.startedAt) : now);
  const pastDeadline = drill.deadline !== undefined && drill.deadline.getTime() <= now.getTime();
  const broken = BROKEN.has(drill.status);
  if (!CONNECTABLE.has(drill.status) && !broken && !pastDeadline) {
    report.add({
      resource: instanceId,
      action: "continue-drill",
      status: "skipped",
      reason: `instance is ${drill.status}, not yet available: waiting for the next event (or the janitor)`,
    });
    return undefined;
  }
  if (ctx.dryRun) {
    report.add({ resource: instanceId, action: "validate", status: "would-do", reason: `instance is ${drill.status}` });
    report.add({
      resource: instanceId,
      action: "delete-rds-instance",
      status: "would-do",
      reason: "SkipFinalSnapshot",
    });
    return undefined;
  }

  // Claim: a tag has no compare-and-set (two invocations that both read "restoring" would both win a
  // write-then-read-back), so the claim is an S3 object created only if absent; the tag then shows it.
  const token = `validating:${randomUUID().slice(0, 8)}`;
  if (!(await claimDrill(ctx, drill, token, options.by))) {
    report.add({
      resource: instanceId,
      action: "continue-drill",
      status: "skipped",
      reason: "another invocation claimed this drill first (duplicate event)",
    });
    return undefined;
  }
  await setState(rds, drill.arn, token);

  const checks: CheckResult[] = [];
  let validatedAt: Date | undefined;
  let failure: string | undefined;
  try {
    if (broken) throw new Error(`the restore ended in status ${drill.status}`);
    if (pastDeadline)
      throw new Error(`the drill's deadline ${drill.deadline?.toISOString()} passed before the instance was validated`);
    if (!database) throw new Error(`database "${drill.database}" is no longer in the catalogue of ${system.id}`);
    if (!drill.endpoint) throw new Error("the instance has no endpoint yet");
    const sourceConn = await ctx.postgres.resolve(database);
    // A restored instance keeps the source's master user and password; only the address is its own.
    const conn: PgConnection = {
      ...sourceConn,
      host: drill.endpoint.address,
      port: drill.endpoint.port,
    };
    const validate = options.validate ?? ctx.postgres.validate;
    checks.push(
      ...(await validate(conn, {
        ...(plan?.tableCount !== undefined ? { tableCount: plan.tableCount } : {}),
        tables: plan?.tables ?? [],
        rowTolerancePercent: plan?.rowTolerancePercent ?? 10,
        // From the catalogue, as it is now: never from the plan in S3 or the event.
        checks: resolveDrillSettings(system, {}).checks,
        // The role lives on the scratch instance and goes with it.
        checkRole: {
          drillId: drill.drillId,
          system: system.id,
          database: drill.database,
          deadline: (drill.deadline ?? new Date(now.getTime() + 3_600_000)).toISOString(),
        },
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      })),
    );
    validatedAt = ctx.now();
    report.add({ resource: instanceId, action: "validate", ...validationOutcome(checks) });
  } catch (error) {
    failure = errorMessage(error);
    report.add({ resource: instanceId, action: "validate", status: "failed", reason: failure });
  }

  const passed = !failure && checks.every((c) => c.status !== "failed");
  await setState(rds, drill.arn, passed ? "passed" : "failed").catch(() => {});
  const cleanup = await deleteScratchInstance(rds, instanceId);
  report.add({
    resource: instanceId,
    action: "delete-rds-instance",
    status: cleanup.status === "failed" ? "failed" : "done",
    ...(cleanup.reason
      ? { reason: `${cleanup.reason}; drill-janitor retries (drill state ${passed ? "passed" : "failed"})` }
      : {}),
  });

  const facts: DrillFacts = {
    drillId: drill.drillId,
    system,
    database: drill.database,
    source: drill.source === "rds-snapshot" ? "rds-snapshot" : "rds-pitr",
    startedAt,
    finishedAt: ctx.now(),
    ...(validatedAt ? { validatedAt } : {}),
    ...(drill.recoveryPoint ? { recoveryPoint: drill.recoveryPoint } : {}),
    recoveryPointUsable: !broken && drill.recoveryPoint !== undefined,
    restoredFrom: plan?.snapshot
      ? { snapshot: plan.snapshot, sourceInstance: plan.sourceInstance }
      : { sourceInstance: plan?.sourceInstance ?? "", restoreTime: drill.recoveryPoint?.toISOString() },
    scratch: instanceId,
    checks,
    cleanup:
      cleanup.status === "failed" ? { status: "failed", reason: cleanup.reason ?? "" } : { status: cleanup.status },
    warnings: [
      ...(plan?.warnings ?? []),
      ...(plan ? [] : ["the drill's plan was not found: no table or row-count expectations were applied"]),
      ...(options.by === "janitor"
        ? ["continued by drill-janitor: no RDS event arrived, so the restore time includes the wait"]
        : []),
    ],
    ...(failure ? { failure } : {}),
    restore: { status: drill.status, continuedBy: options.by },
  };
  const record = buildDrillRecord(facts);
  await finishRecord(ctx, report, record, instanceId);
  return record;
}

/** For the janitor: a drill that timed out gets a failed record; the deletion is done by the caller. */
export async function recordTimedOutDrill(
  ctx: RunbookContext,
  report: ReportBuilder,
  drill: DrillInstance,
  cleanup: DrillRecord["cleanup"],
): Promise<void> {
  const plan = await readPlan(ctx, drill.instanceId);
  const record = buildDrillRecord({
    drillId: drill.drillId,
    system: ctx.system,
    database: drill.database,
    source: drill.source === "rds-snapshot" ? "rds-snapshot" : "rds-pitr",
    startedAt: drill.startedAt ?? ctx.now(),
    finishedAt: ctx.now(),
    ...(drill.recoveryPoint ? { recoveryPoint: drill.recoveryPoint } : {}),
    recoveryPointUsable: false,
    restoredFrom: {
      sourceInstance: plan?.sourceInstance ?? "",
      ...(plan?.snapshot ? { snapshot: plan.snapshot } : {}),
    },
    scratch: drill.instanceId,
    checks: [],
    cleanup,
    warnings: plan?.warnings ?? [],
    failure: `timed out: the instance was still ${drill.status} (drill state ${drill.state}) at the deadline ${drill.deadline?.toISOString()}`,
  });
  await finishRecord(ctx, report, record, drill.instanceId);
}
