import type { AnyRunbook, Permission } from "../runbooks/types.js";
import type { System } from "../systems/schema.js";
import { alarmNamePrefix, fleetAlarms } from "./index.js";

/**
 * What the deployment needs for alarms, as data (`sst.config.ts` maps it onto components): one function
 * for every alarm of the stage, the EventBridge rule that feeds it, the reminder tick, and exactly the
 * permissions it uses.
 */

/** The alarm function's entry point. */
export const ALARM_HANDLER = "functions/alarm.handler";

/** How often the reminder tick runs (a reminder is due every 4 h by default; this is its resolution). */
export const REMINDER_SCHEDULE = "rate(15 minutes)";

/** The tick's constant input. */
export const REMINDER_EVENT = { kind: "alarm-reminders" } as const;

/** Key prefix of the alarms' state objects in the state bucket. */
export const ALARM_STATE_PREFIX = "alarm-state";

/** The EventBridge rule: state changes of this stage's alarms (and no one else's). */
export function alarmEventPattern(stage: string): Record<string, unknown> {
  return {
    source: ["aws.cloudwatch"],
    "detail-type": ["CloudWatch Alarm State Change"],
    detail: { alarmName: [{ prefix: alarmNamePrefix(stage) }] },
  };
}

/** Where the alarm function sends and keeps things (ARNs the deployment creates or is given). */
export interface AlarmFunctionResources {
  /** The bucket of the state objects (`arn:aws:s3:::name`). */
  stateBucketArn: string;
  smsTopicArn?: string;
  emailTopicArn?: string;
  slackSecretArn?: string;
  pagerDutySecretArn?: string;
}

/**
 * The alarm function's IAM: read/write its state objects, list them for the reminder tick, publish to
 * the SMS and email topics, read the two secrets, and the permissions of every runbook an alarm runs as
 * remediation, for the systems whose alarms name it (no wider).
 */
export function alarmFunctionPermissions(options: {
  systems: readonly System[];
  registry: readonly AnyRunbook[];
  resources: AlarmFunctionResources;
}): Permission[] {
  const r = options.resources;
  const permissions: Permission[] = [
    { actions: ["s3:GetObject", "s3:PutObject"], resources: [`${r.stateBucketArn}/${ALARM_STATE_PREFIX}/*`] },
    {
      actions: ["s3:ListBucket"],
      resources: [r.stateBucketArn],
      conditions: [{ test: "StringLike", variable: "s3:prefix", values: [`${ALARM_STATE_PREFIX}/*`] }],
    },
  ];
  const topics = [r.smsTopicArn, r.emailTopicArn].filter((t): t is string => Boolean(t));
  if (topics.length) permissions.push({ actions: ["sns:Publish"], resources: topics });
  const secrets = [r.slackSecretArn, r.pagerDutySecretArn].filter((s): s is string => Boolean(s));
  if (secrets.length) permissions.push({ actions: ["secretsmanager:GetSecretValue"], resources: secrets });
  for (const alarm of fleetAlarms(options.systems)) {
    if (!alarm.remediation) continue;
    const runbook = options.registry.find((x) => x.name === alarm.remediation?.runbook);
    const system = options.systems.find((s) => s.id === alarm.system);
    if (runbook && system) permissions.push(...runbook.permissions(system));
  }
  return dedupe(permissions);
}

function dedupe(permissions: Permission[]): Permission[] {
  const seen = new Set<string>();
  return permissions.filter((p) => {
    const key = JSON.stringify([p.actions, p.resources]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The alarm function's timeout: long enough for the longest remediation runbook. */
export function alarmFunctionTimeoutSeconds(systems: readonly System[], registry: readonly AnyRunbook[]): number {
  const remediations = fleetAlarms(systems).flatMap((a) => (a.remediation ? [a.remediation.runbook] : []));
  const longest = Math.max(
    60,
    ...registry.filter((r) => remediations.includes(r.name)).map((r) => r.timeoutSeconds ?? 300),
  );
  return Math.min(900, longest + 60);
}
