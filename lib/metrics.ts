import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { MetricPoint, Report } from "./report.js";

/** CloudWatch namespace of every metric ops-autopilot publishes (alarms in `alarms/` read it). */
export const METRICS_NAMESPACE = "OpsAutopilot";

const UNITS: Record<MetricPoint["unit"], (typeof MetricUnit)[keyof typeof MetricUnit]> = {
  Seconds: MetricUnit.Seconds,
  Milliseconds: MetricUnit.Milliseconds,
  Bytes: MetricUnit.Bytes,
  Count: MetricUnit.Count,
  Percent: MetricUnit.Percent,
  None: MetricUnit.NoUnit,
};

/**
 * Publishes a report as CloudWatch embedded-metric-format records: one `RunCompleted` count per
 * run (dimensions System, Runbook, Status) and each dimensioned series point (e.g. BackupAgeSeconds
 * per System and Database).
 */
export function publishReportMetrics(metrics: Metrics, report: Report): void {
  if (report.dryRun) return;
  // One record per dimension set: publishing clears the stored metrics and dimensions.
  metrics.addDimensions({ System: report.system, Runbook: report.runbook, Status: report.status });
  metrics.addMetric("RunCompleted", MetricUnit.Count, 1);
  metrics.publishStoredMetrics();
  for (const point of report.series ?? []) {
    metrics.addDimensions(point.dimensions);
    metrics.addMetric(point.name, UNITS[point.unit], point.value);
    metrics.publishStoredMetrics();
  }
}
