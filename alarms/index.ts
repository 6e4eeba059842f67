import { METRICS_NAMESPACE } from "../lib/metrics.js";
import { backupMaxAgeMinutes, type Severity, type System } from "../systems/schema.js";

/** One CloudWatch alarm to deploy, with the severity that routes it and the runbook it triggers. */
export interface AlarmDefinition {
  id: string;
  system: string;
  description: string;
  namespace: string;
  metric: string;
  dimensions: Record<string, string>;
  statistic: string;
  comparison:
    | "GreaterThanThreshold"
    | "GreaterThanOrEqualToThreshold"
    | "LessThanThreshold"
    | "LessThanOrEqualToThreshold";
  threshold: number;
  periodSeconds: number;
  evaluationPeriods: number;
  /** `breaching` for heartbeat-style metrics: no data means the job that emits it is not running. */
  treatMissingData: "breaching" | "notBreaching" | "missing" | "ignore";
  severity: Severity;
  runbook?: string;
}

const COMPARISON = {
  ">": "GreaterThanThreshold",
  ">=": "GreaterThanOrEqualToThreshold",
  "<": "LessThanThreshold",
  "<=": "LessThanOrEqualToThreshold",
} as const;

/**
 * Backup freshness: the age of the newest verified backup (published every 6 hours by prune-backups) must
 * stay within the limit the catalogue derives from the RPO. Missing data breaches: a silent backup
 * pipeline is exactly what this alarm exists to catch.
 */
export function backupFreshnessAlarms(system: System): AlarmDefinition[] {
  if (!system.backup) return [];
  return system.databases.map((database) => ({
    id: `${system.id}-backup-age-${database.id}`,
    system: system.id,
    description: `newest verified backup of ${system.id}/${database.id} older than ${backupMaxAgeMinutes(system)} min`,
    namespace: METRICS_NAMESPACE,
    metric: "BackupAgeSeconds",
    dimensions: { System: system.id, Database: database.id },
    statistic: "Maximum",
    comparison: "GreaterThanThreshold",
    threshold: backupMaxAgeMinutes(system) * 60,
    // prune-backups publishes the age every 6 hours; one period is one sample.
    periodSeconds: 21_600,
    evaluationPeriods: 1,
    treatMissingData: "breaching",
    severity: "error",
  }));
}

/** The thresholds written in each system's guide, as alarms. */
export function guideAlarms(system: System): AlarmDefinition[] {
  return system.alarms.map((a) => ({
    id: `${system.id}-${a.id}`,
    system: system.id,
    description: a.description,
    namespace: a.namespace,
    metric: a.metric,
    dimensions: {},
    statistic: a.statistic,
    comparison: COMPARISON[a.comparison],
    threshold: a.threshold,
    periodSeconds: a.periodSeconds,
    evaluationPeriods: a.evaluationPeriods,
    treatMissingData: "notBreaching",
    severity: a.severity,
    ...(a.runbook ? { runbook: a.runbook } : {}),
  }));
}

/** Every alarm of the fleet; `sst.config.ts` loops over this. */
export function fleetAlarms(systems: readonly System[]): AlarmDefinition[] {
  return systems.filter((s) => s.deploy).flatMap((s) => [...guideAlarms(s), ...backupFreshnessAlarms(s)]);
}
