import { errorMessage } from "../../lib/errors.js";
import type { System } from "../../systems/schema.js";
import { ReportBuilder } from "../report.js";
import { rdsCleanupPermissions, usesRds } from "../restore-drill/iam.js";
import { SCRATCH_INSTANCE_PREFIX } from "../restore-drill/names.js";
import type { Runbook } from "../types.js";
import { drillEventPattern, instanceIdOfEvent, rdsInstanceEventDetailSchema } from "./events.js";
import { continueRdsDrill } from "./rds-continue.js";

/**
 * Second half of an RDS restore drill, run on the EventBridge "RDS DB Instance Event" of a scratch
 * instance (input: the event's `detail`). Idempotent: the instance's `drill-state` tag makes a
 * duplicate or late event a no-op.
 */
export const drillContinueRunbook: Runbook<typeof rdsInstanceEventDetailSchema> = {
  name: "drill-continue",
  description:
    "on the RDS event of a drill's scratch instance: validate it through SQL, judge RTO/RPO, delete it (no final snapshot)",
  destructive: true,
  input: rdsInstanceEventDetailSchema,
  timeoutSeconds: 900,
  eventRules: [{ name: "DrillRdsEvents", handler: "functions/rds-event.handler", pattern: drillEventPattern }],
  permissions(system: System) {
    return system.dr.drillSource === "pg_dump" ? [] : rdsCleanupPermissions(system);
  },
  // Triggered by its event rule, never scheduled: it serves the systems whose drills restore RDS instances.
  serves: (system) => usesRds(system) && system.databases.some((d) => d.rdsInstanceId),
  async run(ctx, detail) {
    const report = new ReportBuilder(ctx, "drill-continue");
    const instanceId = instanceIdOfEvent(detail);
    if (detail.SourceType !== "DB_INSTANCE" || !instanceId.startsWith(SCRATCH_INSTANCE_PREFIX)) {
      // Also an empty input: there is no instance to continue.
      report.add({
        resource: instanceId,
        action: "continue-drill",
        status: "skipped",
        reason: `not a drill instance event (${detail.SourceType || "no SourceType"} ${instanceId || "no SourceIdentifier"})`,
      });
      return report.finish({ summary: "not a drill instance: ignored" });
    }
    try {
      const record = await continueRdsDrill(ctx, report, { instanceId, by: "event" });
      if (record) {
        const status =
          record.outcome === "failed"
            ? "failed"
            : record.rto.verdict === "missed" || record.rpo.verdict === "missed"
              ? "partial"
              : "succeeded";
        return report.finish({ summary: record.summary, status });
      }
    } catch (error) {
      report.add({
        resource: instanceId,
        action: "continue-drill",
        status: "failed",
        reason: errorMessage(error),
      });
    }
    const last = report.actions[report.actions.length - 1];
    return report.finish({
      summary: `${instanceId} (${detail.EventID ?? "no event id"}: ${detail.Message}): ${last?.reason ?? last?.action ?? "nothing to do"}`,
    });
  },
};
