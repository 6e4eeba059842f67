import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SNSClient } from "@aws-sdk/client-sns";
import { z } from "zod";
import type { System } from "../../systems/schema.js";
import { ValidationError } from "../errors.js";
import type { Logger } from "../logger.js";
import { createConsoleNotifier, fanOut, type Notifier } from "../notify.js";
import { createPagerDuty, PAGERDUTY_EVENTS_URL } from "./pagerduty.js";
import { type Channels, createRoutingNotifier } from "./router.js";
import { createSlackPoster, createWebhookPoster, type SlackPoster } from "./slack.js";
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

/** The secret's JSON fields, or `{ value }` for a bare string secret. */
async function readSecretJson(client: SecretsManagerClient, secretId: string): Promise<Record<string, unknown>> {
  const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  const text = out.SecretString ?? "";
  try {
    const json = JSON.parse(text) as unknown;
    if (json && typeof json === "object") return json as Record<string, unknown>;
  } catch {
    // A bare string: the token itself.
  }
  return { value: text.trim() };
}

/**
 * A bot token (`{"token":"xoxb-…"}` or the bare token) posts through the Web API with threads; an
 * incoming webhook (`{"webhookUrl":"https://hooks.slack.com/…"}`) posts to its channel without threads.
 */
export function slackFromSecret(settings: NotifySettings, read: () => Promise<Record<string, unknown>>): SlackPoster {
  let chosen: Promise<SlackPoster> | undefined;
  const poster = () => {
    chosen ??= read().then((secret) => {
      const webhook = secret.webhookUrl;
      if (typeof webhook === "string" && webhook) {
        return createWebhookPoster({ url: async () => webhook, retries: settings.OPS_NOTIFY_RETRIES });
      }
      const token = typeof secret.token === "string" ? secret.token : secret.value;
      if (typeof token !== "string" || !token) {
        throw new ValidationError('the Slack secret holds neither "token" nor "webhookUrl"');
      }
      return createSlackPoster({
        token: async () => token,
        retries: settings.OPS_NOTIFY_RETRIES,
        ...(settings.OPS_SLACK_API_URL ? { apiUrl: settings.OPS_SLACK_API_URL } : {}),
      });
    });
    return chosen;
  };
  return {
    post: async (options) => (await poster()).post(options),
    update: async (options) => (await poster()).update(options),
  };
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
          slack: slackFromSecret(settings, () => readSecretJson(secretsClient(), slackSecret)),
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
