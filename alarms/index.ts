import { METRICS_NAMESPACE } from "../lib/metrics.js";
import { type AlarmThreshold, backupMaxAgeMinutes, type Severity, type System } from "../systems/schema.js";

/** One metric an alarm reads, or one expression over them (CloudWatch's `MetricDataQuery`). */
export interface MetricQuery {
  id: string;
  /** Metric math over the other queries' ids. */
  expression?: string;
  label?: string;
  metric?: { namespace: string; name: string; dimensions: Record<string, string>; statistic: string };
  /** The one query whose values the alarm compares with its threshold. */
  returnData: boolean;
}

/** One CloudWatch alarm to deploy, bound to one resource of its system. */
export interface AlarmDefinition {
  id: string;
  system: string;
  description: string;
  namespace: string;
  /** The metric, or for metric math the expression's label. */
  metric: string;
  /** The dimensions AWS publishes the metric with, for this system's resource. */
  dimensions: Record<string, string>;
  statistic: string;
  /** Metric math: the queries, the expression last; `namespace`/`metric`/`dimensions` then describe its inputs. */
  metrics?: MetricQuery[];
  comparison:
    | "GreaterThanThreshold"
    | "GreaterThanOrEqualToThreshold"
    | "LessThanThreshold"
    | "LessThanOrEqualToThreshold";
  threshold: number;
  unit?: string;
  periodSeconds: number;
  evaluationPeriods: number;
  /** `breaching` for heartbeat-style metrics: no data means the job that emits it is not running. */
  treatMissingData: "breaching" | "notBreaching" | "missing" | "ignore";
  severity: Severity;
  /** The runbook run when the alarm enters ALARM, with its input. */
  remediation?: { runbook: string; input: Record<string, unknown> };
}

/** A guide alarm that is not deployed, and why. */
export interface UnboundAlarm {
  id: string;
  system: string;
  description: string;
  reason: string;
}

const COMPARISON = {
  ">": "GreaterThanThreshold",
  ">=": "GreaterThanOrEqualToThreshold",
  "<": "LessThanThreshold",
  "<=": "LessThanOrEqualToThreshold",
} as const;

/** The deployed CloudWatch name of an alarm: the function that receives its events finds it by this. */
export function alarmName(stage: string, id: string): string {
  return `ops-autopilot-${stage}-${id}`;
}

/** The prefix of every alarm name of a stage (the EventBridge rule matches it). */
export function alarmNamePrefix(stage: string): string {
  return `ops-autopilot-${stage}-`;
}

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
    unit: "Seconds",
    // prune-backups publishes the age every 6 hours; one period is one sample.
    periodSeconds: 21_600,
    evaluationPeriods: 1,
    treatMissingData: "breaching",
    severity: "error",
  }));
}

/** One resource an alarm can watch: its name in the catalogue and the dimensions CloudWatch gives it. */
interface Binding {
  target: string;
  dimensions: Record<string, string>;
  /** Values the math expression may name (e.g. MAX_CONNECTIONS). */
  constants?: Record<string, number>;
}

/** The resources a metric of this namespace is published for, or why the catalogue has none. */
type Binder = (system: System, alarm: AlarmThreshold) => Binding[] | string;

const ecsServices: Binder = (system) => {
  const r = system.runtime;
  if (r.kind !== "ecs") return `${r.kind === "eks" ? "an EKS" : "a"} runtime publishes no ECS service metrics`;
  return r.services.map((s) => ({ target: s.name, dimensions: { ClusterName: r.cluster, ServiceName: s.name } }));
};

/**
 * Container Insights on EKS: pod metrics per deployment (CloudWatch's `PodName` is the pod's owner name,
 * which for a Deployment's pods is the deployment name), namespace metrics per namespace, the rest per
 * cluster.
 */
const eksContainerInsights: Binder = (system, alarm) => {
  const r = system.runtime;
  if (r.kind !== "eks") return "Container Insights for EKS needs an EKS runtime (ClusterName, Namespace)";
  if (alarm.metric.startsWith("pod_")) {
    return r.deployments.map((d) => ({
      target: d.name,
      dimensions: { ClusterName: r.cluster, Namespace: r.namespace, PodName: d.name },
    }));
  }
  if (alarm.metric.startsWith("namespace_")) {
    return [{ target: r.namespace, dimensions: { ClusterName: r.cluster, Namespace: r.namespace } }];
  }
  return [{ target: r.cluster, dimensions: { ClusterName: r.cluster } }];
};

const rdsInstances: Binder = (system) => {
  const bound = system.databases.flatMap((d) =>
    d.rdsInstanceId
      ? [
          {
            target: d.id,
            dimensions: { DBInstanceIdentifier: d.rdsInstanceId },
            ...(d.maxConnections ? { constants: { MAX_CONNECTIONS: d.maxConnections } } : {}),
          },
        ]
      : [],
  );
  return bound.length > 0 ? bound : "no database has an rdsInstanceId (DBInstanceIdentifier)";
};

const loadBalancers: Binder = (system) =>
  system.loadBalancers.length > 0
    ? system.loadBalancers.map((lb) => ({
        target: lb.id,
        dimensions: { LoadBalancer: lb.loadBalancer, TargetGroup: lb.targetGroup },
      }))
    : "no loadBalancers[] in the catalogue: add the LoadBalancer (app/<name>/<id>) and TargetGroup (targetgroup/<name>/<id>) of the service";

const ownMetrics: Binder = (system) => [{ target: system.id, dimensions: { System: system.id } }];

const BINDERS: Record<string, Binder> = {
  "AWS/ECS": ecsServices,
  "ECS/ContainerInsights": ecsServices,
  ContainerInsights: eksContainerInsights,
  "AWS/RDS": rdsInstances,
  "AWS/ApplicationELB": loadBalancers,
  [METRICS_NAMESPACE]: ownMetrics,
};

/** The resources one guide alarm watches, or why it cannot be bound. */
function bindingsOf(system: System, alarm: AlarmThreshold): Binding[] | string {
  const binder = BINDERS[alarm.namespace];
  if (!binder) {
    return `namespace ${alarm.namespace} is published by nothing ops-autopilot knows (known: ${Object.keys(BINDERS).join(", ")})`;
  }
  const all = binder(system, alarm);
  if (typeof all === "string") return all;
  const chosen = alarm.target ? all.filter((b) => b.target === alarm.target) : all;
  if (chosen.length === 0) {
    return `target "${alarm.target}" is none of ${all.map((b) => b.target).join(", ")}`;
  }
  return chosen;
}

/** The alarm's queries for metric math, or why its expression cannot be completed for this resource. */
function mathQueries(alarm: AlarmThreshold, binding: Binding): MetricQuery[] | string {
  const math = alarm.math;
  if (!math) return [];
  let expression = math.expression;
  for (const name of expression.match(/\b[A-Z][A-Z_]+[A-Z]\b/g) ?? []) {
    if (["FILL", "IF", "SUM", "AVG", "MIN", "MAX", "METRICS", "AND", "OR"].includes(name)) continue;
    const value = binding.constants?.[name];
    if (value === undefined) return `expression needs ${name}, which ${binding.target} does not set (maxConnections)`;
    expression = expression.replaceAll(name, String(value));
  }
  const inputs = Object.entries(math.metrics).map(([id, m]) => ({
    id,
    metric: { namespace: alarm.namespace, name: m.metric, dimensions: binding.dimensions, statistic: m.statistic },
    returnData: false,
  }));
  return [...inputs, { id: "e1", expression, label: alarm.metric, returnData: true }];
}

/**
 * The guide's thresholds of one system as alarms bound to its resources: one alarm per resource the
 * metric is published for (each ECS service, each EKS deployment, each RDS instance, each target group),
 * or the reason it cannot be bound, in which case it is not deployed (a metric without its dimensions is
 * the account's aggregate or nothing at all: it would never fire for this system).
 */
export function bindGuideAlarms(system: System): { alarms: AlarmDefinition[]; unbound: UnboundAlarm[] } {
  const alarms: AlarmDefinition[] = [];
  const unbound: UnboundAlarm[] = [];
  for (const a of system.alarms) {
    const base = { id: `${system.id}-${a.id}`, system: system.id, description: a.description };
    const bindings = bindingsOf(system, a);
    if (typeof bindings === "string") {
      unbound.push({ ...base, reason: bindings });
      continue;
    }
    for (const binding of bindings) {
      const bound = bindOne(a, binding, { base, several: bindings.length > 1 });
      if ("reason" in bound) unbound.push(bound);
      else alarms.push(bound);
    }
  }
  return { alarms, unbound };
}

/**
 * One guide threshold bound to one resource; with several resources the id and description name the
 * target so each deployed alarm says which one fired.
 */
function bindOne(
  a: AlarmThreshold,
  binding: Binding,
  options: { base: { id: string; system: string; description: string }; several: boolean },
): AlarmDefinition | UnboundAlarm {
  const { base, several } = options;
  const id = several ? `${base.id}-${binding.target}` : base.id;
  const metrics = mathQueries(a, binding);
  if (typeof metrics === "string") return { ...base, id, reason: metrics };
  return {
    ...base,
    id,
    description: several ? `${a.description} (${binding.target})` : a.description,
    namespace: a.namespace,
    metric: a.metric,
    dimensions: binding.dimensions,
    statistic: a.statistic,
    ...(metrics.length > 0 ? { metrics } : {}),
    comparison: COMPARISON[a.comparison],
    threshold: a.threshold,
    unit: a.unit,
    periodSeconds: a.periodSeconds,
    evaluationPeriods: a.evaluationPeriods,
    treatMissingData: "notBreaching",
    severity: a.severity,
    ...(a.remediation && "runbook" in a.remediation
      ? { remediation: { runbook: a.remediation.runbook, input: a.remediation.input } }
      : {}),
  };
}

/** The guide's thresholds that can be bound, as alarms. */
export function guideAlarms(system: System): AlarmDefinition[] {
  return bindGuideAlarms(system).alarms;
}

/** Every alarm of the fleet; `sst.config.ts` loops over this. */
export function fleetAlarms(systems: readonly System[]): AlarmDefinition[] {
  return systems.filter((s) => s.deploy).flatMap((s) => [...guideAlarms(s), ...backupFreshnessAlarms(s)]);
}

/** Every guide alarm of the fleet that is not deployed, with the reason (`ops systems` shows them). */
export function fleetUnboundAlarms(systems: readonly System[]): UnboundAlarm[] {
  return systems.filter((s) => s.deploy).flatMap((s) => bindGuideAlarms(s).unbound);
}

/** The alarm whose deployed name this is (`ops-autopilot-<stage>-<id>`); the longest id wins. */
export function findAlarmByName(alarms: readonly AlarmDefinition[], name: string): AlarmDefinition | undefined {
  if (!name.startsWith("ops-autopilot-")) return undefined;
  return alarms
    .filter((a) => name.endsWith(`-${a.id}`))
    .sort((x, y) => y.id.length - x.id.length)
    .at(0);
}

/**
 * The arguments of a CloudWatch `PutMetricAlarm` (Pulumi `aws.cloudwatch.MetricAlarm`) for an alarm,
 * without its name and actions: a single metric with its statistic, or metric math as `metricQueries`.
 */
export function metricAlarmArgs(alarm: AlarmDefinition) {
  const common = {
    alarmDescription: alarm.description,
    comparisonOperator: alarm.comparison,
    threshold: alarm.threshold,
    evaluationPeriods: alarm.evaluationPeriods,
    treatMissingData: alarm.treatMissingData,
  };
  if (alarm.metrics) {
    return {
      ...common,
      metricQueries: alarm.metrics.map((q) => ({
        id: q.id,
        returnData: q.returnData,
        ...(q.expression ? { expression: q.expression, label: q.label } : {}),
        ...(q.metric
          ? {
              metric: {
                namespace: q.metric.namespace,
                metricName: q.metric.name,
                dimensions: q.metric.dimensions,
                stat: q.metric.statistic,
                period: alarm.periodSeconds,
              },
            }
          : {}),
      })),
    };
  }
  return {
    ...common,
    namespace: alarm.namespace,
    metricName: alarm.metric,
    dimensions: alarm.dimensions,
    ...(alarm.statistic.startsWith("p") ? { extendedStatistic: alarm.statistic } : { statistic: alarm.statistic }),
    period: alarm.periodSeconds,
  };
}
