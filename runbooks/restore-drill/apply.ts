import { errorMessage } from "../../lib/errors.js";
import { type CheckResult, type ExpectedTable, validationOutcome } from "../../lib/postgres/checks.js";
import { describeConnection } from "../../lib/postgres/connection.js";
import type { RestoreResult } from "../../lib/postgres/restore.js";
import { ScratchExistsError } from "../../lib/postgres/scratch.js";
import { plural } from "../../lib/text.js";
import { restoreBackup } from "../backup/restore-directory.js";
import type { ReportBuilder } from "../report.js";
import { type RunbookContext, stepSignal } from "../types.js";
import type { DrillFacts } from "./outcome.js";
import type { PgDrillSteps } from "./plan.js";
import type { DrillRecord } from "./record.js";
import type { DrillSettings } from "./settings.js";

/**
 * Carries out a pg_dump drill's plan: create the scratch database (labelled), restore with the sha256
 * checked on the way, validate, DROP whatever happened. Returns the facts its record is built from.
 */

/** What {@link applyPgDumpDrill} needs besides the plan. */
export interface ApplyPgDrill {
  ctx: RunbookContext;
  report: ReportBuilder;
  steps: PgDrillSteps;
  settings: DrillSettings;
  bucket: string;
  /** `system/database`, for progress lines. */
  resource: string;
  /** The manifest's table expectations (read once the scratch database exists). */
  expectedTables: () => Promise<ExpectedTable[]>;
}

/** The checksum and pg_restore exit status of a restore, as checks. */
export function restoreChecks(restore: RestoreResult, expected: { bytes: number; sha256: string }): CheckResult[] {
  const checks: CheckResult[] = [
    {
      name: "checksum",
      kind: "checksum",
      status: restore.checksumOk ? "passed" : "failed",
      expected: `sha256 ${expected.sha256.slice(0, 16)}…, ${expected.bytes} bytes`,
      actual: `sha256 ${restore.sha256.slice(0, 16)}…, ${restore.bytes} bytes`,
      ...(restore.checksumOk ? {} : { reason: "the backup's bytes do not match its manifest" }),
    },
  ];
  if (!restore.ran) {
    checks.push({
      name: "pg_restore exit status",
      kind: "restore",
      status: "skipped",
      reason: "not restored: the checksum was verified first and did not match",
    });
    return checks;
  }
  const ok = restore.exitCode === 0;
  checks.push({
    name: "pg_restore exit status",
    kind: "restore",
    status: ok ? "passed" : "failed",
    expected: "0",
    actual: restore.exitSignal ? `killed by ${restore.exitSignal}` : String(restore.exitCode),
    ...(ok ? {} : { reason: restore.errors.slice(0, 3).join(" | ") || "pg_restore failed" }),
  });
  return checks;
}

/** The reason on the restore's report line: why it failed, or nothing. */
function restoreReason(restore: RestoreResult): { reason?: string } {
  if (!restore.checksumOk) {
    return { reason: `sha256/size do not match the manifest (got ${restore.sha256}, ${restore.bytes} bytes)` };
  }
  if (restore.exitCode === 0) return {};
  return { reason: `pg_restore exited ${restore.exitCode}: ${restore.errors.slice(0, 3).join(" | ")}` };
}

/**
 * Creates the scratch database. False when another run of the same drill got there first (reported
 * skipped): that run owns it, this one must neither restore into it nor drop it.
 */
async function createScratch(input: ApplyPgDrill): Promise<boolean> {
  const { ctx, report, steps } = input;
  try {
    await ctx.postgres.scratch.create(steps.target.conn, steps.scratchName, steps.comment);
  } catch (error) {
    if (error instanceof ScratchExistsError) {
      report.add({ resource: steps.scratchName, action: "restore-drill", status: "skipped", reason: error.message });
      return false;
    }
    throw error;
  }
  report.add({
    resource: steps.scratchName,
    action: "create-scratch-database",
    status: "done",
    after: steps.description,
  });
  return true;
}

/**
 * A signal that stops the restore and validation at the drill's deadline or when the edge cancels
 * (second Ctrl-C, SIGTERM, the run's deadline; not a first Ctrl-C); `release` undoes the listeners.
 */
function drillSignal(ctx: RunbookContext, deadline: Date): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const outer = stepSignal(ctx);
  const onOuterAbort = () => controller.abort(outer?.reason ?? new Error("stopped by the caller"));
  outer?.addEventListener("abort", onOuterAbort, { once: true });
  if (outer?.aborted) onOuterAbort();
  const timer = setTimeout(
    () => controller.abort(new Error(`the drill's deadline ${deadline.toISOString()} passed`)),
    Math.max(0, deadline.getTime() - ctx.now().getTime()),
  );
  return {
    signal: controller.signal,
    release: () => {
      clearTimeout(timer);
      outer?.removeEventListener("abort", onOuterAbort);
    },
  };
}

/** What restoring and validating found. */
interface Restored {
  restore?: RestoreResult;
  checks: CheckResult[];
  validatedAt?: Date;
  validationMs?: number;
  failure?: string;
}

async function restore(input: ApplyPgDrill, signal: AbortSignal): Promise<RestoreResult> {
  const { ctx, steps, bucket, resource } = input;
  const { manifest } = steps;
  ctx.progress?.(`restoring ${resource} into ${steps.scratchName}`, 0);
  // A directory backup: every file downloaded and checked, then pg_restore -j (`runbooks/backup/restore-directory.ts`).
  return restoreBackup(manifest, {
    s3: ctx.clients.s3,
    bucket,
    tool: steps.tool,
    conn: steps.scratchConn,
    mode: steps.mode,
    jobs: steps.jobs,
    signal,
    baseEnv: ctx.pgTools.baseEnv,
    pgTools: ctx.pgTools,
    tempDir: ctx.tempDir.root,
    onBytes: (bytes) =>
      ctx.progress?.(`restoring ${resource}: ${(bytes / 1048576).toFixed(1)} MiB`, bytes / Math.max(1, manifest.bytes)),
  });
}

async function validate(
  input: ApplyPgDrill,
  restored: RestoreResult,
  signal: AbortSignal,
): Promise<Pick<Restored, "checks" | "validatedAt" | "validationMs" | "failure">> {
  const { ctx, report, steps, settings } = input;
  ctx.progress?.(`validating ${steps.scratchName}`);
  const started = performance.now();
  const checks = await ctx.postgres.validate(steps.scratchConn, {
    ...(restored.tablesCreated > 0 ? { tableCount: restored.tablesCreated } : {}),
    tables: await input.expectedTables(),
    rowTolerancePercent: settings.rowTolerancePercent,
    checks: settings.checks,
    checkRole: {
      drillId: steps.drillId,
      system: steps.system,
      database: steps.database,
      deadline: steps.janitorDeadline.toISOString(),
    },
    warn: (message) => steps.warnings.push(message),
    signal,
  });
  const validationMs = Math.round(performance.now() - started);
  report.add({ resource: steps.scratchName, action: "validate", ...validationOutcome(checks) });
  return {
    checks,
    validationMs,
    validatedAt: ctx.now(),
    ...(signal.aborted ? { failure: `stopped: ${errorMessage(signal.reason)}` } : {}),
  };
}

/** Restores, then validates when the bytes and pg_restore were good; a throw is the drill's failure. */
async function restoreAndValidate(input: ApplyPgDrill): Promise<Restored> {
  const { report, steps } = input;
  const { signal, release } = drillSignal(input.ctx, steps.deadline);
  let restored: RestoreResult | undefined;
  try {
    restored = await restore(input, signal);
    const checks = restoreChecks(restored, steps.manifest);
    report.add({
      resource: steps.scratchName,
      action: "restore",
      status: checks.some((c) => c.status === "failed") ? "failed" : "done",
      after: {
        mode: restored.mode,
        bytes: restored.bytes,
        durationMs: restored.durationMs,
        exitCode: restored.exitCode,
      },
      ...restoreReason(restored),
    });
    if (!restored.ran || !restored.checksumOk) return { restore: restored, checks };
    const validation = await validate(input, restored, signal);
    return { restore: restored, ...validation, checks: [...checks, ...validation.checks] };
  } catch (error) {
    const failure = errorMessage(error);
    report.add({ resource: steps.scratchName, action: "restore", status: "failed", reason: failure });
    return {
      ...(restored ? { restore: restored } : {}),
      checks: restored ? restoreChecks(restored, steps.manifest) : [],
      failure,
    };
  } finally {
    release();
  }
}

/** Drops the check roles of the drill once its database (and so their grants) is gone. */
async function dropCheckRoles(input: ApplyPgDrill): Promise<void> {
  const { ctx, report, steps } = input;
  try {
    const roles = await ctx.postgres.checkRoles.dropOfDrill(steps.target.conn, steps.drillId);
    report.add({
      resource: steps.scratchName,
      action: "drop-check-role",
      status: "done",
      reason: `${plural(roles, "role")} dropped`,
    });
  } catch (error) {
    report.add({
      resource: steps.scratchName,
      action: "drop-check-role",
      status: "failed",
      reason: `${errorMessage(error)}; drill-janitor drops it after ${steps.deadline.toISOString()}`,
    });
  }
}

/** Always: success, failure, timeout. (A crash is the janitor's: the COMMENT carries the deadline.) */
async function cleanUp(input: ApplyPgDrill): Promise<DrillRecord["cleanup"]> {
  const { ctx, report, steps } = input;
  try {
    const dropped = await ctx.postgres.scratch.drop(steps.target.conn, steps.scratchName);
    report.add({ resource: steps.scratchName, action: "drop-scratch-database", status: "done" });
    if (input.settings.checks.length > 0) await dropCheckRoles(input);
    return { status: dropped === "dropped" ? "removed" : "absent" };
  } catch (error) {
    const reason = errorMessage(error);
    report.add({
      resource: steps.scratchName,
      action: "drop-scratch-database",
      status: "failed",
      reason: `${reason}; drill-janitor drops it after ${steps.deadline.toISOString()}`,
    });
    return { status: "failed", reason };
  }
}

/** What a restore contributes to a drill's record. */
function restoreFacts(restored: Restored, pgRestore: string): Pick<DrillFacts, "restore"> {
  const r = restored.restore;
  if (!r) return {};
  return {
    restore: {
      mode: r.mode,
      bytes: r.bytes,
      durationMs: r.durationMs,
      ...(r.downloadMs !== undefined ? { downloadMs: r.downloadMs } : {}),
      ...(restored.validationMs !== undefined ? { validationMs: restored.validationMs } : {}),
      exitCode: r.exitCode,
      tablesCreated: r.tablesCreated,
      tablesLoaded: r.tablesLoaded,
      errors: r.errors,
      pgRestore,
    },
  };
}

/**
 * Carries the drill out. Undefined when another run of the same drill created the scratch database
 * first; else the facts of the drill, whatever happened in it.
 */
export async function applyPgDumpDrill(
  input: ApplyPgDrill,
): Promise<Omit<DrillFacts, "drillId" | "system" | "database" | "source" | "startedAt"> | undefined> {
  const { steps } = input;
  if (!(await createScratch(input))) return undefined;
  const restored = await restoreAndValidate(input);
  const cleanup = await cleanUp(input);
  const r = restored.restore;
  return {
    finishedAt: input.ctx.now(),
    ...(restored.validatedAt ? { validatedAt: restored.validatedAt } : {}),
    recoveryPoint: new Date(steps.manifest.startedAt),
    recoveryPointUsable: Boolean(r?.ran && r.checksumOk && r.exitCode === 0),
    restoredFrom: {
      key: steps.manifest.key,
      bytes: steps.manifest.bytes,
      sha256: steps.manifest.sha256,
      takenAt: steps.manifest.startedAt,
      serverVersion: steps.manifest.serverVersion,
    },
    scratch: `${describeConnection(steps.scratchConn)} (${steps.target.from})`,
    checks: restored.checks,
    cleanup,
    warnings: steps.warnings,
    ...(restored.failure ? { failure: restored.failure } : {}),
    ...restoreFacts(restored, steps.tool.version),
  };
}
