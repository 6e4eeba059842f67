import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SNSClient } from "@aws-sdk/client-sns";
import { z } from "zod";
import type { System } from "../../systems/schema.js";
import { ValidationError } from "../errors.js";
import type { Logger } from "../logger.js";
import { createConsoleNotifier, fanOut, type Notifier } from "../notify.js";
import { createPagerDuty, PAGERDUTY_EVENTS_URL } from "./pagerduty.js";
import { type Channels, createRoutingNotifier } from "./router.js";
import { createSlackPoster } from "./slack.js";
import { createSnsPublisher } from "./sns.js";

/**
 * Where notifications go, from the function's environment (set by the deployment). Secrets are named,
 * never given: the Slack token and the PagerDuty routing key are read from Secrets Manager when first
 * needed.
 */
export const notifySettingsSchema = z.object({
  /** Secret holding the Slack bot token: `{"token":"xoxb-…"}` or the bare token. */
  OPS_SLACK_SECRET_ID: z.string().min(1).optional(),
  /** Channel of routes that name none. */
  OPS_SLACK_CHANNEL: z.string().min(1).optional(),
  OPS_SLACK_API_URL: z.url().optional(),
  /** Secret holding the PagerDuty Events API v2 routing key: `{"routingKey":"…"}` or the bare key. */
  OPS_PAGERDUTY_SECRET_ID: z.string().min(1).optional(),
  OPS_PAGERDUTY_EVENTS_URL: z.url().default(PAGERDUTY_EVENTS_URL),
  /** SNS topics that on-call phones (SMS) and mailboxes (email) subscribe to. */
  OPS_SNS_SMS_TOPIC_ARN: z.string().startsWith("arn:").optional(),
  OPS_SNS_EMAIL_TOPIC_ARN: z.string().startsWith("arn:").optional(),
  /** Retries of a Slack or PagerDuty call before it counts as failed. */
  OPS_NOTIFY_RETRIES: z.coerce.number().int().min(0).max(10).default(3),
  AWS_REGION: z.string().optional(),
});

/** Parsed notification settings. */
export type NotifySettings = z.output<typeof notifySettingsSchema>;

/** Parses the settings; a bad value is named with what is allowed, at cold start. */
export function parseNotifySettings(env: Readonly<Record<string, string | undefined>>): NotifySettings {
  const parsed = notifySettingsSchema.safeParse(env);
  if (parsed.success) return parsed.data;
  throw new ValidationError(
    "invalid notification settings",
    parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
  );
}

/** A secret's value, or one field of its JSON. */
async function readSecret(client: SecretsManagerClient, secretId: string, field: string): Promise<string> {
  const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  const text = out.SecretString ?? "";
  try {
    const json = JSON.parse(text) as Record<string, unknown>;
    const value = json[field];
    if (typeof value === "string" && value) return value;
  } catch {
    // A bare string secret: the value itself.
  }
  if (!text || text.trimStart().startsWith("{")) {
    throw new ValidationError(`secret ${secretId} holds no "${field}"`);
  }
  return text.trim();
}

/** The adapters the settings configure (each one only when its setting is present). */
export function channelsFromSettings(
  settings: NotifySettings,
  options: { logger: Logger; secrets?: SecretsManagerClient; sns?: SNSClient },
): Channels {
  const region = settings.AWS_REGION ?? "us-east-1";
  let secrets = options.secrets;
  const secretsClient = () => {
    secrets ??= new SecretsManagerClient({ region });
    return secrets;
  };
  const sns = () => options.sns ?? new SNSClient({ region });
  const slackSecret = settings.OPS_SLACK_SECRET_ID;
  const pdSecret = settings.OPS_PAGERDUTY_SECRET_ID;
  return {
    logger: options.logger,
    ...(slackSecret
      ? {
          slack: createSlackPoster({
            token: () => readSecret(secretsClient(), slackSecret, "token"),
            retries: settings.OPS_NOTIFY_RETRIES,
            ...(settings.OPS_SLACK_API_URL ? { apiUrl: settings.OPS_SLACK_API_URL } : {}),
          }),
        }
      : {}),
    ...(settings.OPS_SLACK_CHANNEL ? { defaultSlackChannel: settings.OPS_SLACK_CHANNEL } : {}),
    ...(pdSecret
      ? {
          pagerDuty: createPagerDuty({
            routingKey: () => readSecret(secretsClient(), pdSecret, "routingKey"),
            url: settings.OPS_PAGERDUTY_EVENTS_URL,
            retries: settings.OPS_NOTIFY_RETRIES,
          }),
        }
      : {}),
    ...(settings.OPS_SNS_SMS_TOPIC_ARN
      ? { sms: createSnsPublisher({ sns: sns(), topicArn: settings.OPS_SNS_SMS_TOPIC_ARN, kind: "sms" }) }
      : {}),
    ...(settings.OPS_SNS_EMAIL_TOPIC_ARN
      ? { email: createSnsPublisher({ sns: sns(), topicArn: settings.OPS_SNS_EMAIL_TOPIC_ARN, kind: "email" }) }
      : {}),
  };
}

/**
 * The Lambda functions' notifier: every report as a JSON line on stdout (CloudWatch Logs), and routed by
 * severity to the system's channels.
 */
export function notifierFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  options: { logger: Logger; systems: readonly System[] },
): Notifier {
  const channels = channelsFromSettings(parseNotifySettings(env), { logger: options.logger });
  return fanOut([
    createConsoleNotifier({ stream: process.stdout, format: "json" }),
    createRoutingNotifier({ systems: options.systems, channels }),
  ]);
}
