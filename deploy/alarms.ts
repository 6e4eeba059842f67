import {
  ALARM_HANDLER,
  ALARM_STATE_PREFIX,
  alarmEventPattern,
  alarmFunctionPermissions,
  alarmFunctionTimeoutSeconds,
  REMINDER_EVENT,
  REMINDER_SCHEDULE,
} from "../alarms/deploy.js";
import { fleetAlarms } from "../alarms/index.js";
import { arnIn, s3ArnIn } from "../lib/iam.js";
import type { AnyRunbook, Permission } from "../runbooks/types.js";
import type { System } from "../systems/schema.js";

/** Where alarms and failed reports reach people: created by the deployment or given at deploy time. */
export interface NotifyResources {
  /** SNS topics the deployment creates (on-call phones and mailboxes subscribe to them). */
  smsTopic: { id: string; name: string; arn: string };
  emailTopic: { id: string; name: string; arn: string };
  /** Secrets Manager ARNs given at deploy time (`OPS_SLACK_SECRET_ARN`, `OPS_PAGERDUTY_SECRET_ARN`). */
  slackSecretArn?: string;
  pagerDutySecretArn?: string;
  slackChannel?: string;
}

/** The alarm function, its rule, its reminder tick and its state bucket, as data. */
export interface PlannedAlarmDelivery {
  function: {
    id: string;
    handler: string;
    timeoutSeconds: number;
    memoryMB: number;
    systems: string[];
    environment: Record<string, string>;
    permissions: (Permission & { sid: string })[];
  };
  rule: { id: string; pattern: Record<string, unknown> };
  reminder: { id: string; expression: string; event: Record<string, unknown> };
  stateBucket: { id: string; name: string; arn: string };
  topics: NotifyResources["smsTopic"][];
}

/** Options of {@link notifyResources}. */
export interface NotifyOptions {
  accountId: string;
  region: string;
  stage: string;
  slackSecretArn?: string;
  pagerDutySecretArn?: string;
  slackChannel?: string;
}

/**
 * The notification resources of a stage. Topic names are fixed so their ARNs are known before they exist:
 * the functions' policies name them exactly.
 */
export function notifyResources(options: NotifyOptions): NotifyResources {
  const topic = (id: string, suffix: string) => {
    const name = `ops-autopilot-${options.stage}-${suffix}`;
    return { id, name, arn: arnIn(options, "sns", name) };
  };
  return {
    smsTopic: topic("NotifySms", "oncall-sms"),
    emailTopic: topic("NotifyEmail", "email"),
    ...(options.slackSecretArn ? { slackSecretArn: options.slackSecretArn } : {}),
    ...(options.pagerDutySecretArn ? { pagerDutySecretArn: options.pagerDutySecretArn } : {}),
    ...(options.slackChannel ? { slackChannel: options.slackChannel } : {}),
  };
}

/** What every function needs to route its reports (failed or partial runs reach a person). */
export function notifyEnvironment(resources: NotifyResources): Record<string, string> {
  return {
    OPS_SNS_SMS_TOPIC_ARN: resources.smsTopic.arn,
    OPS_SNS_EMAIL_TOPIC_ARN: resources.emailTopic.arn,
    ...(resources.slackSecretArn ? { OPS_SLACK_SECRET_ID: resources.slackSecretArn } : {}),
    ...(resources.pagerDutySecretArn ? { OPS_PAGERDUTY_SECRET_ID: resources.pagerDutySecretArn } : {}),
    ...(resources.slackChannel ? { OPS_SLACK_CHANNEL: resources.slackChannel } : {}),
  };
}

/** Publishing to the two topics and reading the two secrets: exactly these resources. */
export function notifyPermissions(resources: NotifyResources): Permission[] {
  const secrets = [resources.slackSecretArn, resources.pagerDutySecretArn].filter((s): s is string => Boolean(s));
  return [
    { actions: ["sns:Publish"], resources: [resources.smsTopic.arn, resources.emailTopic.arn] },
    ...(secrets.length ? [{ actions: ["secretsmanager:GetSecretValue"], resources: secrets }] : []),
  ];
}

/**
 * The alarm delivery of a stage: one function for every alarm of the deployed systems (routing,
 * Alertmanager-style state, remediation), the EventBridge rule on this stage's alarm state changes, the
 * reminder tick, and the bucket that holds the alarms' state objects.
 */
export function plannedAlarmDelivery(options: {
  systems: System[];
  registry: readonly AnyRunbook[];
  notify: NotifyResources;
  accountId: string;
  region: string;
  stage: string;
}): PlannedAlarmDelivery | undefined {
  const withAlarms = options.systems.filter((s) => fleetAlarms([s]).length > 0);
  if (withAlarms.length === 0) return undefined;
  const name = `ops-autopilot-${options.stage}-state-${options.accountId}-${options.region}`;
  const stateBucket = { id: "AlarmState", name, arn: s3ArnIn(options.region, name) };
  const permissions = alarmFunctionPermissions({
    systems: withAlarms,
    registry: options.registry,
    resources: {
      stateBucketArn: stateBucket.arn,
      smsTopicArn: options.notify.smsTopic.arn,
      emailTopicArn: options.notify.emailTopic.arn,
      ...(options.notify.slackSecretArn ? { slackSecretArn: options.notify.slackSecretArn } : {}),
      ...(options.notify.pagerDutySecretArn ? { pagerDutySecretArn: options.notify.pagerDutySecretArn } : {}),
    },
  });
  return {
    function: {
      id: "AlarmNotify",
      handler: ALARM_HANDLER,
      timeoutSeconds: alarmFunctionTimeoutSeconds(withAlarms, options.registry),
      memoryMB: 1024,
      systems: withAlarms.map((s) => s.id),
      environment: {
        POWERTOOLS_SERVICE_NAME: "ops-autopilot",
        OPS_ALARM_STATE_BUCKET: name,
        OPS_ALARM_STATE_PREFIX: ALARM_STATE_PREFIX,
        ...notifyEnvironment(options.notify),
      },
      permissions: permissions.map((p, i) => ({ ...p, sid: `Alarm${i + 1}` })),
    },
    rule: { id: "AlarmStateChanges", pattern: alarmEventPattern(options.stage) },
    reminder: { id: "AlarmReminders", expression: REMINDER_SCHEDULE, event: { ...REMINDER_EVENT } },
    stateBucket,
    topics: [options.notify.smsTopic, options.notify.emailTopic],
  };
}
