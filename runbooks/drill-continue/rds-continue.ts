import { randomUUID } from "node:crypto";
import { errorMessage } from "../../lib/errors.js";
import { type CheckResult, type Expectations, validationOutcome } from "../../lib/postgres/checks.js";
import type { PgConnection } from "../../lib/postgres/connection.js";
import { isWriteConflict } from "../../lib/s3-claim.js";
import type { ReportBuilder } from "../report.js";
import { addDrillToReport, buildDrillRecord } from "../restore-drill/outcome.js";
import {
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
import { type ContinueFacts, type ContinueStep, planContinue } from "./plan.js";

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

/** Reads the instance and its drill tags. */
async function readInstance(ctx: RunbookContext, instanceId: string): Promise<ContinueFacts> {
  const rds = ctx.clients.rds;
  const instance = await describeInstance(rds, instanceId);
  if (!instance) return { found: false };
  return { found: true, drill: toDrillInstance(instance, await instanceTags(rds, instance)) };
}

/** A dry run: the step, reported as what would happen. */
function reportContinuePlan(report: ReportBuilder, instanceId: string, step: ContinueStep): void {
  if (step.kind === "skip") {
    report.add({ resource: instanceId, action: "continue-drill", status: "skipped", reason: step.reason });
    return;
  }
  if (step.kind === "delete") {
    report.add({
      resource: instanceId,
      action: "delete-rds-instance",
      status: "would-do",
      reason: `drill already ${step.state}`,
    });
    return;
  }
  report.add({
    resource: instanceId,
    action: "validate",
    status: "would-do",
    reason: `instance is ${step.drill.status}`,
  });
  report.add({ resource: instanceId, action: "delete-rds-instance", status: "would-do", reason: "SkipFinalSnapshot" });
}

/** What validating found. */
interface Validation {
  checks: CheckResult[];
  validatedAt?: Date;
  failure?: string;
}

/** Connects to the copy with the source's credentials and runs the checks; a throw is the drill's failure. */
async function validateCopy(input: {
  ctx: RunbookContext;
  report: ReportBuilder;
  step: Extract<ContinueStep, { kind: "validate" }>;
  plan: RdsDrillPlan | undefined;
  validate: ValidateFn;
}): Promise<Validation> {
  const { ctx, report, step, plan } = input;
  const { drill } = step;
  const { system } = ctx;
  try {
    if (step.failure) throw new Error(step.failure);
    const database = system.databases.find((d) => d.id === drill.database);
    if (!database) throw new Error(`database "${drill.database}" is no longer in the catalogue of ${system.id}`);
    if (!drill.endpoint) throw new Error("the instance has no endpoint yet");
    const sourceConn = await ctx.postgres.resolve(database);
    // A restored instance keeps the source's master user and password; only the address is its own.
    const conn: PgConnection = { ...sourceConn, host: drill.endpoint.address, port: drill.endpoint.port };
    const checks = await input.validate(conn, {
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
        deadline: (drill.deadline ?? new Date(ctx.now().getTime() + 3_600_000)).toISOString(),
      },
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    report.add({ resource: drill.instanceId, action: "validate", ...validationOutcome(checks) });
    return { checks, validatedAt: ctx.now() };
  } catch (error) {
    const failure = errorMessage(error);
    report.add({ resource: drill.instanceId, action: "validate", status: "failed", reason: failure });
    return { checks: [], failure };
  }
}

/** Tags the outcome and deletes the instance (SkipFinalSnapshot), whatever validation found. */
async function judgeAndDelete(
  ctx: RunbookContext,
  report: ReportBuilder,
  drill: DrillInstance,
  validation: Validation,
): Promise<DrillRecord["cleanup"]> {
  const passed = !validation.failure && validation.checks.every((c) => c.status !== "failed");
  await setState(ctx.clients.rds, drill.arn, passed ? "passed" : "failed").catch(() => {});
  const cleanup = await deleteScratchInstance(ctx.clients.rds, drill.instanceId);
  report.add({
    resource: drill.instanceId,
    action: "delete-rds-instance",
    status: cleanup.status === "failed" ? "failed" : "done",
    ...(cleanup.reason
      ? { reason: `${cleanup.reason}; drill-janitor retries (drill state ${passed ? "passed" : "failed"})` }
      : {}),
  });
  return cleanup.status === "failed" ? { status: "failed", reason: cleanup.reason ?? "" } : { status: cleanup.status };
}

/** The warnings of a continued drill: the plan's, a missing plan, a continuation without its event. */
function continueWarnings(plan: RdsDrillPlan | undefined, by: ContinueRdsDrillOptions["by"]): string[] {
  return [
    ...(plan?.warnings ?? []),
    ...(plan ? [] : ["the drill's plan was not found: no table or row-count expectations were applied"]),
    ...(by === "janitor"
      ? ["continued by drill-janitor: no RDS event arrived, so the restore time includes the wait"]
      : []),
  ];
}

/** Deletes a drill judged before, without validating it again. */
async function deleteJudged(
  ctx: RunbookContext,
  report: ReportBuilder,
  instanceId: string,
  state: "passed" | "failed",
): Promise<void> {
  const cleanup = await deleteScratchInstance(ctx.clients.rds, instanceId);
  report.add({
    resource: instanceId,
    action: "delete-rds-instance",
    status: cleanup.status === "failed" ? "failed" : "done",
    reason: `drill already ${state}: not validated again${cleanup.reason ? `; ${cleanup.reason}` : ""}`,
  });
}

/**
 * Continues an RDS drill once its instance can be reached ({@link planContinue}): claims it (a duplicate
 * event finds it claimed and does nothing), validates through SQL with the source's credentials, then
 * tags the outcome and deletes the instance (SkipFinalSnapshot) — also when validation throws. Returns
 * the drill's record, or undefined when there was nothing to do.
 */
export async function continueRdsDrill(
  ctx: RunbookContext,
  report: ReportBuilder,
  options: ContinueRdsDrillOptions,
): Promise<DrillRecord | undefined> {
  const { instanceId } = options;
  const step = planContinue(await readInstance(ctx, instanceId), ctx.system.id, ctx.now());
  if (ctx.dryRun || step.kind === "skip") {
    reportContinuePlan(report, instanceId, step);
    return undefined;
  }
  if (step.kind === "delete") {
    await deleteJudged(ctx, report, instanceId, step.state);
    return undefined;
  }
  const { drill } = step;
  const plan = await readPlan(ctx, instanceId);
  const startedAt = drill.startedAt ?? (plan ? new Date(plan.startedAt) : ctx.now());
  // Claim: a tag has no compare-and-set (two invocations that both read "restoring" would both win a
  // write-then-read-back), so the claim is an S3 object created only if absent; the tag then shows it.
  const token = `validating:${randomUUID().slice(0, 8)}`;
  if (!(await claimDrill(ctx, drill, token, options.by))) {
    reportContinuePlan(report, instanceId, {
      kind: "skip",
      reason: "another invocation claimed this drill first (duplicate event)",
    });
    return undefined;
  }
  await setState(ctx.clients.rds, drill.arn, token);
  const validate = options.validate ?? ctx.postgres.validate;
  const validation = await validateCopy({ ctx, report, step, plan, validate });
  const cleanup = await judgeAndDelete(ctx, report, drill, validation);
  const record = buildDrillRecord({
    drillId: drill.drillId,
    system: ctx.system,
    database: drill.database,
    source: drill.source === "rds-snapshot" ? "rds-snapshot" : "rds-pitr",
    startedAt,
    finishedAt: ctx.now(),
    ...(validation.validatedAt ? { validatedAt: validation.validatedAt } : {}),
    ...(drill.recoveryPoint ? { recoveryPoint: drill.recoveryPoint } : {}),
    recoveryPointUsable: !step.broken && drill.recoveryPoint !== undefined,
    restoredFrom: plan?.snapshot
      ? { snapshot: plan.snapshot, sourceInstance: plan.sourceInstance }
      : { sourceInstance: plan?.sourceInstance ?? "", restoreTime: drill.recoveryPoint?.toISOString() },
    scratch: instanceId,
    checks: validation.checks,
    cleanup,
    warnings: continueWarnings(plan, options.by),
    ...(validation.failure ? { failure: validation.failure } : {}),
    restore: { status: drill.status, continuedBy: options.by },
  });
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
