import { type CloudWatchClient, type MetricDatum, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import type { Permission } from "./iam.js";
import { METRICS_NAMESPACE } from "./metrics.js";
import type { Report } from "./report.js";

/** The service name the functions' Powertools `Metrics` add as the `service` dimension of every record. */
export const METRICS_SERVICE = "ops-autopilot";

/** CloudWatch takes at most 1,000 metric data in one PutMetricData request. */
const MAX_DATA_PER_REQUEST = 1000;

/**
 * The same points {@link publishReportMetrics} writes as embedded-metric-format records, as PutMetricData
 * data: `RunCompleted` per run (service, System, Runbook, Status) and each series point with its own
 * dimensions, each with the `service` dimension Powertools adds. A dry run publishes nothing, as there.
 */
export function reportMetricData(report: Report, at: Date, service = METRICS_SERVICE): MetricDatum[] {
  if (report.dryRun) return [];
  const datum = (name: string, unit: MetricDatum["Unit"], value: number, dimensions: Record<string, string>) => ({
    MetricName: name,
    Unit: unit,
    Value: value,
    Timestamp: at,
    Dimensions: Object.entries({ service, ...dimensions }).map(([Name, Value]) => ({ Name, Value })),
  });
  return [
    datum("RunCompleted", "Count", 1, { System: report.system, Runbook: report.runbook, Status: report.status }),
    ...(report.series ?? []).map((point) => datum(point.name, point.unit, point.value, point.dimensions)),
  ];
}

/**
 * Publishes a report's metrics with PutMetricData, for a run outside Lambda (the Fargate backup task).
 * Why not EMF on stdout as the functions do: the task runs in its systems' region and its awslogs log
 * group is there, so metrics extracted from it would land in that region, not in the deployment's,
 * where the alarms that read them are. `cloudwatch` is a client of the deployment's region.
 */
export async function putReportMetrics(options: {
  cloudwatch: CloudWatchClient;
  report: Report;
  at: Date;
  namespace?: string;
}): Promise<number> {
  const data = reportMetricData(options.report, options.at);
  for (let i = 0; i < data.length; i += MAX_DATA_PER_REQUEST) {
    await options.cloudwatch.send(
      new PutMetricDataCommand({
        Namespace: options.namespace ?? METRICS_NAMESPACE,
        MetricData: data.slice(i, i + MAX_DATA_PER_REQUEST),
      }),
    );
  }
  return data.length;
}

/**
 * What {@link putReportMetrics} needs: PutMetricData has no resource-level permissions (`*` is the only
 * resource), so the namespace condition is what keeps the role to ops-autopilot's own metrics.
 */
export function reportMetricsPermissions(namespace = METRICS_NAMESPACE): Permission[] {
  return [
    {
      actions: ["cloudwatch:PutMetricData"],
      resources: ["*"],
      conditions: [{ test: "StringEquals", variable: "cloudwatch:namespace", values: [namespace] }],
    },
  ];
}
