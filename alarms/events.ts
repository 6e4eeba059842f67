import { z } from "zod";
import type { AlarmFacts } from "../lib/notify/blocks.js";
import type { System } from "../systems/schema.js";
import type { AlarmDefinition } from "./index.js";
import type { AlarmChange, AlarmState } from "./state.js";

/** CloudWatch writes `2019-10-02T17:04:40.989+0000`; ISO 8601 as `Date.parse` reads it wants `+00:00`. */
const cloudwatchTime = z
  .string()
  .transform((t) => t.replace(/([+-]\d\d)(\d\d)$/, "$1:$2"))
  .refine((t) => !Number.isNaN(Date.parse(t)), "must be a timestamp such as 2019-10-02T17:04:40.989+0000");

const stateSchema = z.object({
  value: z.enum(["ALARM", "OK", "INSUFFICIENT_DATA"]),
  reason: z.string(),
  reasonData: z.string().optional(),
  timestamp: cloudwatchTime,
});

const metricQuerySchema = z.looseObject({
  id: z.string(),
  expression: z.string().optional(),
  label: z.string().optional(),
  metricStat: z
    .looseObject({
      metric: z.looseObject({
        namespace: z.string(),
        name: z.string(),
        dimensions: z.record(z.string(), z.string()).default({}),
      }),
      period: z.number(),
      stat: z.string(),
    })
    .optional(),
  returnData: z.boolean().optional(),
});

/** EventBridge "CloudWatch Alarm State Change" (CloudWatch user guide, "Alarm events and EventBridge"). */
export const alarmStateChangeSchema = z.looseObject({
  version: z.string(),
  id: z.string().min(1),
  "detail-type": z.literal("CloudWatch Alarm State Change"),
  source: z.literal("aws.cloudwatch"),
  account: z.string(),
  time: z.string(),
  region: z.string(),
  resources: z.array(z.string()),
  detail: z.looseObject({
    alarmName: z.string().min(1),
    configuration: z.looseObject({
      description: z.string().optional(),
      metrics: z.array(metricQuerySchema).default([]),
    }),
    state: stateSchema,
    previousState: stateSchema.optional(),
  }),
});

/** A validated alarm state change event. */
export type AlarmStateChange = z.output<typeof alarmStateChangeSchema>;

/** The reminder tick's event (an EventBridge schedule's constant input). */
export const alarmReminderTickSchema = z.strictObject({ kind: z.literal("alarm-reminders") });

/** The newest datapoint and the threshold from CloudWatch's `reasonData` JSON, when it has them. */
export function readingOf(reasonData: string | undefined): { value?: number; threshold?: number } {
  if (!reasonData) return {};
  try {
    const data = JSON.parse(reasonData) as { recentDatapoints?: unknown[]; threshold?: unknown };
    const last = data.recentDatapoints?.at(-1);
    return {
      ...(typeof last === "number" ? { value: last } : {}),
      ...(typeof data.threshold === "number" ? { threshold: data.threshold } : {}),
    };
  } catch {
    return {};
  }
}

/** The metric as a person reads it: `AWS/ECS CPUUtilization ClusterName=…, ServiceName=…`, or the math. */
export function describeMetric(alarm: AlarmDefinition): string {
  const dims = Object.entries(alarm.dimensions)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
  const expression = alarm.metrics?.find((q) => q.expression)?.expression;
  return `${alarm.namespace} ${alarm.metric}${expression ? ` = ${expression}` : ""}${dims ? ` (${dims})` : ""}`;
}

const ROLLBACKS = new Set(["rollback", "kube-rollback"]);

/**
 * The labelled buttons of an alarm in ALARM (issue 15): "Roll back" when the system's rollback applies —
 * the alarm's own rollback remediation (with its input, e.g. the service), else rollback of the system's
 * only ECS service, or kube-rollback on EKS — and "Dry-run scale out" when the system has off-hours
 * scaling. No runbook raises capacity beyond what a service had: "scale out" is scale-up's dry run, the
 * plan to give back the capacity off-hours recorded (nothing when no service is in its off-hours state).
 * A system with several services and an alarm that names none gets no Roll back: which one is unknown.
 */
export function alarmButtons(alarm: AlarmDefinition, system: System | undefined): NonNullable<AlarmFacts["buttons"]> {
  const buttons: NonNullable<AlarmFacts["buttons"]> = [];
  const rollback = rollbackButton(alarm, system);
  if (rollback) buttons.push(rollback);
  if (system?.offHours.enabled) buttons.push({ label: "Dry-run scale out", runbook: "scale-up", dryRun: true });
  return buttons;
}

function rollbackButton(
  alarm: AlarmDefinition,
  system: System | undefined,
): NonNullable<AlarmFacts["buttons"]>[number] | undefined {
  const remediation = alarm.remediation;
  if (remediation && ROLLBACKS.has(remediation.runbook)) {
    const input = Object.fromEntries(Object.entries(remediation.input).map(([k, v]) => [k, String(v)]));
    return { label: "Roll back", runbook: remediation.runbook, input };
  }
  if (!system?.rollback.enabled) return undefined;
  if (system.runtime.kind === "ecs" && system.runtime.services.length === 1)
    return { label: "Roll back", runbook: "rollback" };
  if (system.runtime.kind === "eks") return { label: "Roll back", runbook: "kube-rollback" };
  return undefined;
}

/** The runbooks an operator may run about an alarm: its remediation, or those its metric points to. */
function nextRunbooks(alarm: AlarmDefinition): string[] {
  if (alarm.remediation) return [alarm.remediation.runbook];
  if (alarm.metric === "BackupAgeSeconds") return ["backup", "prune-backups"];
  return [];
}

/** What the notification says about an alarm, from its definition and (when there is one) its event. */
export function alarmFacts(options: {
  name: string;
  alarm: AlarmDefinition;
  system: System | undefined;
  state: { value: AlarmState["state"]; reason: string; reasonData?: string | undefined; timestamp: string };
}): AlarmFacts {
  const { alarm, state } = options;
  const reading = readingOf(state.reasonData);
  return {
    name: options.name,
    id: alarm.id,
    system: alarm.system,
    systemName: options.system?.name ?? alarm.system,
    description: alarm.description,
    severity: alarm.severity,
    state: state.value,
    reason: state.reason,
    ...(reading.value !== undefined ? { value: reading.value } : {}),
    threshold: reading.threshold ?? alarm.threshold,
    comparison: alarm.comparison,
    ...(alarm.unit ? { unit: alarm.unit } : {}),
    metric: describeMetric(alarm),
    since: state.timestamp,
    ...(alarm.remediation ? { remediation: alarm.remediation.runbook } : {}),
    nextRunbooks: nextRunbooks(alarm),
    buttons: alarmButtons(alarm, options.system),
  };
}

/** The state change the alarm flow decides on. */
export function changeOf(event: AlarmStateChange): AlarmChange {
  return { eventId: event.id, state: event.detail.state.value, timestamp: event.detail.state.timestamp };
}
