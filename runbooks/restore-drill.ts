import { z } from "zod";
import { pgDumpDrillPermissions, rdsStartPermissions, usesRds } from "../lib/drill/iam.js";
import { pgDumpDrill } from "../lib/drill/pg-drill.js";
import { startRdsDrill } from "../lib/drill/rds-start.js";
import type { DrillRecord } from "../lib/drill/record.js";
import { drillInputFields, resolveDrillSettings, unknownDrillKeyMessage } from "../lib/drill/settings.js";
import { formatTarget, rpoSourceWarning } from "../lib/drill/verdict.js";
import { errorMessage } from "../lib/errors.js";
import { foldText, plural } from "../lib/text.js";
import type { System } from "../systems/schema.js";
import { drillClaimKey } from "./backup/layout.js";
import { backupTaskPermissions } from "./backup/task.js";
import { selectDatabases } from "./databases.js";
import { drillHandOff } from "./drill-handoff.js";
import { type HeldClaim, runExclusive } from "./exclusive.js";
import { ReportBuilder } from "./report.js";
import type { Report, Runbook } from "./types.js";

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
    const settings = resolveDrillSettings(system, options);
    const records: DrillRecord[] = [];
    for (const database of databases) {
      if (ctx.signal?.aborted) {
        report.markAborted("stopped before the deadline; remaining databases not drilled");
        break;
      }
      try {
        // Claimed while it starts (RDS: until the restore is requested; the instance then shows the drill
        // in flight) or runs (pg_dump): a duplicate event seconds later reports skipped.
        const drill = async (claim?: HeldClaim) => {
          if (source === "pg_dump") {
            // Too long (or too large) for this function: the Fargate task takes the drill and its claim.
            const handOff = claim && drillHandOff(ctx, report, { database, claim, input: options });
            const record = await pgDumpDrill(ctx, report, database, settings, handOff);
            if (record) records.push(record);
          } else {
            await startRdsDrill(ctx, report, database, { source, settings });
          }
        };
        if (!system.backup) await drill();
        else {
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
      } catch (error) {
        report.add({
          resource: `${system.id}/${database.id}`,
          action: "restore-drill",
          status: "failed",
          reason: errorMessage(error),
        });
      }
    }

    const failed = report.actions.filter((a) => a.status === "failed");
    let summary: string;
    if (records.length > 0) {
      summary = records.map((r) => r.summary).join(" | ");
      // Failures outside a drill's record: a database whose drill could not start at all.
      const others = failed.filter((a) => a.action === "restore-drill");
      if (others.length) summary += ` | ${others.map((a) => `${a.resource}: ${a.reason}`).join("; ")}`;
    } else if (ctx.dryRun) {
      summary = `would drill ${databases.map((d) => d.id).join(", ")} from ${source}: ${report.actions
        .filter((a) => a.status === "would-do")
        .map((a) => `${a.action} ${a.resource}`)
        .join(", ")}`;
    } else if (failed.length) {
      summary = `drill failed: ${failed.map((a) => `${a.resource}: ${a.reason}`).join("; ")}`;
    } else {
      const started = report.actions.filter((a) => a.action === "restore-rds-instance" && a.status === "done");
      summary = started.length
        ? `${plural(started.length, "RDS restore")} started (${started.map((a) => a.resource).join(", ")}); recovery point age ${started
            .map(
              (a) =>
                `${Math.round(((a.after as { recoveryPointAgeSeconds?: number })?.recoveryPointAgeSeconds ?? 0) / 60)} min`,
            )
            .join(
              ", ",
            )} against RPO ${formatTarget(system.dr.rpoMinutes * 60_000)}; validation follows when RDS reports the instance available`
        : report.actions.map((a) => a.reason ?? a.action).join("; ");
    }
    return report.finish({ summary: foldText(summary, 1500), status: statusOf(records, report.deriveStatus()) });
  },
};
