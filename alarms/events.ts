import { z } from "zod";
import type { AlarmChange, AlarmState } from "../lib/alarm-state.js";
import type { AlarmFacts } from "../lib/notify/blocks.js";
import type { System } from "../systems/schema.js";
import type { AlarmDefinition } from "./index.js";

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
  };
}

/** The state change the alarm flow decides on. */
export function changeOf(event: AlarmStateChange): AlarmChange {
  return { eventId: event.id, state: event.detail.state.value, timestamp: event.detail.state.timestamp };
}
