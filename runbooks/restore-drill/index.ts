import { z } from "zod";
import { errorMessage } from "../../lib/errors.js";
import { foldText, plural } from "../../lib/text.js";
import { drillClaimKey } from "../../runbooks/backup/layout.js";
import type { Database, System } from "../../systems/schema.js";
import { backupTaskPermissions } from "../backup/task.js";
import { selectDatabases } from "../databases.js";
import { type HeldClaim, runExclusive } from "../exclusive.js";
import { ReportBuilder } from "../report.js";
import type { Action, Report, Runbook, RunbookContext } from "../types.js";
import { drillHandOff } from "./handoff.js";
import { pgDumpDrillPermissions, rdsStartPermissions, usesRds } from "./iam.js";
import { pgDumpDrill } from "./pg-drill.js";
import { type StartedRdsDrill, startRdsDrill } from "./rds-start.js";
import type { DrillRecord } from "./record.js";
import { type DrillSettings, drillInputFields, resolveDrillSettings, unknownDrillKeyMessage } from "./settings.js";
import { formatTarget, rpoSourceWarning } from "./verdict.js";

const fields = {
  /** Only this database (its catalogue id); default: every database the drill source applies to. */
  database: z.string().optional(),
  ...drillInputFields,
};

const input = z.strictObject(fields, {
  error: (issue) =>
    issue.code === "unrecognized_keys" ? unknownDrillKeyMessage(issue.keys, Object.keys(fields)) : undefined,
});

function statusOf(records: DrillRecord[], fallback: Report["status"]): Report["status"] {
  if (records.some((r) => r.outcome === "failed")) return "failed";
  if (records.some((r) => r.rto.verdict === "missed" || r.rpo.verdict === "missed")) return "partial";
  return fallback;
}

/**
 * Restore drill: proves the system's RTO and RPO by restoring its newest backup into a scratch copy,
 * validating it and removing it. pg_dump drills run to the end here; RDS drills start the restore and
 * end in `drill-continue` when RDS says the instance is available.
 */
/** The databases a drill covers: those its source can drill, or the one `database=` names among them. */
function drillDatabases(system: System, database: string | undefined) {
  const source = system.dr.drillSource;
  return selectDatabases(system, database, {
    among: system.databases.filter((d) => source === "pg_dump" || d.rdsInstanceId),
    amongLabel: `for a ${source} drill`,
  });
}

export const restoreDrillRunbook: Runbook<typeof input> = {
  name: "restore-drill",
  description:
    "restore the newest backup (pg_dump, RDS snapshot or point-in-time) into a scratch copy, validate it, measure RTO/RPO, remove it",
  destructive: false,
  input,
  timeoutSeconds: 900,
  // Two vCPUs: pg_restore -j 2 in download mode, or the download and pg_restore side by side.
  memoryMB: 3538,
  validate(system, options) {
    drillDatabases(system, options.database);
  },
  permissions(system: System) {
    // A pg_dump drill may hand off to the backup's Fargate task: RunTask on it, PassRole on its roles.
    return usesRds(system)
      ? rdsStartPermissions(system)
      : [...pgDumpDrillPermissions(system), ...backupTaskPermissions(system)];
  },
  planNote(system: System) {
    const warning = rpoSourceWarning(system.dr);
    if (warning) return warning;
    if (system.databases.length === 0) return "no databases: nothing to drill";
    if (system.dr.drillSource === "pg_dump" && !system.dr.drill?.target && !system.dr.drill?.allowSourceServer) {
      return "no drill target: set dr.drill.target (a scratch server, never production); until then the drill fails";
    }
    return undefined;
  },
  async run(ctx, options) {
    const report = new ReportBuilder(ctx, "restore-drill");
    const { system } = ctx;
    const source = system.dr.drillSource;
    const databases = drillDatabases(system, options.database);
    if (databases.length === 0) {
      report.add({
        resource: system.id,
        action: "restore-drill",
        status: "skipped",
        reason: `no database to drill with ${source}`,
      });
      return report.finish({ summary: "nothing to drill" });
    }
    const settings = resolveDrillSettings(system, options, ctx.settings.cpus);
    const results: DrillResults = { records: [], started: [] };
    for (const database of databases) {
      if (ctx.signal?.aborted) {
        report.markAborted("stopped before the deadline; remaining databases not drilled");
        break;
      }
      try {
        await drillOne({ ctx, report, database, settings, results, input: options });
      } catch (error) {
        report.add({
          resource: `${system.id}/${database.id}`,
          action: "restore-drill",
          status: "failed",
          reason: errorMessage(error),
        });
      }
    }
    const summary = drillSummary({ ctx, report, databases, results });
    return report.finish({
      summary: foldText(summary, 1500),
      status: statusOf(results.records, report.deriveStatus()),
    });
  },
};

/** What the drills of a run produced, typed: the pg_dump drills' records, the RDS restores started. */
interface DrillResults {
  records: DrillRecord[];
  started: StartedRdsDrill[];
}

/**
 * One database's drill, claimed while it starts (RDS: until the restore is requested; the instance then
 * shows the drill in flight) or runs (pg_dump): a duplicate event seconds later reports skipped.
 */
async function drillOne(input: {
  ctx: RunbookContext;
  report: ReportBuilder;
  database: Database;
  settings: DrillSettings;
  results: DrillResults;
  /** The run's parsed input: what the Fargate task repeats when the drill is handed to it. */
  input: Record<string, unknown>;
}): Promise<void> {
  const { ctx, report, database, settings, results } = input;
  const { system } = ctx;
  const source = system.dr.drillSource;
  const drill = async (claim?: HeldClaim) => {
    if (source === "pg_dump") {
      // Too long (or too large) for this function: the Fargate task takes the drill and its claim.
      const handOff = claim && drillHandOff(ctx, report, { database, claim, input: input.input });
      const record = await pgDumpDrill(ctx, report, database, settings, handOff);
      if (record) results.records.push(record);
      return;
    }
    const started = await startRdsDrill(ctx, report, database, { source, settings });
    if (started) results.started.push(started);
  };
  if (!system.backup) return drill();
  await runExclusive(
    ctx,
    report,
    {
      bucket: system.backup.bucket,
      key: drillClaimKey(system.id, database.id),
      ...(system.backup.kmsKeyId ? { kmsKeyId: system.backup.kmsKeyId } : {}),
      resource: `${system.id}/${database.id}`,
      action: "restore-drill",
      what: "this drill",
    },
    drill,
  );
}

const failures = (actions: readonly Action[]) => actions.map((a) => `${a.resource}: ${a.reason}`).join("; ");

/** The one line: the drills' own summaries, else the plan (dry run), the failures, or the restores started. */
function drillSummary(input: {
  ctx: RunbookContext;
  report: ReportBuilder;
  databases: readonly Database[];
  results: DrillResults;
}): string {
  const { ctx, report, databases, results } = input;
  const failed = report.actions.filter((a) => a.status === "failed");
  if (results.records.length > 0) {
    // Failures outside a drill's record: a database whose drill could not start at all.
    const others = failed.filter((a) => a.action === "restore-drill");
    const summary = results.records.map((r) => r.summary).join(" | ");
    return others.length ? `${summary} | ${failures(others)}` : summary;
  }
  if (ctx.dryRun) {
    const steps = report.actions.filter((a) => a.status === "would-do").map((a) => `${a.action} ${a.resource}`);
    return `would drill ${databases.map((d) => d.id).join(", ")} from ${ctx.system.dr.drillSource}: ${steps.join(", ")}`;
  }
  if (failed.length) return `drill failed: ${failures(failed)}`;
  const { started } = results;
  if (started.length === 0) return report.actions.map((a) => a.reason ?? a.action).join("; ");
  const ages = started.map((s) => `${Math.round(s.recoveryPointAgeSeconds / 60)} min`).join(", ");
  return `${plural(started.length, "RDS restore")} started (${started.map((s) => s.instanceId).join(", ")}); recovery point age ${ages} against RPO ${formatTarget(ctx.system.dr.rpoMinutes * 60_000)}; validation follows when RDS reports the instance available`;
}
