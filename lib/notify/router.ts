import type { Severity, System } from "../../systems/schema.js";
import { errorMessage } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Notifier } from "../notify.js";
import { redactValue } from "../redact.js";
import type { Report } from "../report.js";
import { reportMessage } from "./blocks.js";
import type { PagerDuty, PageTrigger } from "./pagerduty.js";
import type { SlackMessage, SlackPoster, SlackThread } from "./slack.js";
import type { SnsPublisher } from "./sns.js";

/** A way to reach a person. */
export type ChannelName = "slack" | "sms" | "email" | "page" | "log";

/** Where one severity of one system goes. */
export interface Route {
  severity: Severity;
  channels: ChannelName[];
  slackChannel?: string;
  /** While an alarm stays in ALARM, remind this often. */
  reminderMs: number;
}

/** Alertmanager's `repeat_interval` default. */
export const DEFAULT_REMINDER_MINUTES = 240;

/** The adapters the deployment configured; a route naming a missing one falls back to the log. */
export interface Channels {
  slack?: SlackPoster;
  /** The Slack channel of routes that name none. */
  defaultSlackChannel?: string;
  sms?: SnsPublisher;
  email?: SnsPublisher;
  pagerDuty?: PagerDuty;
  logger: Logger;
}

/**
 * The route of a system for a severity (catalogue `notifications`). A severity without a route goes to
 * the log only: the guide said nothing, and the catalogue's `defaults[]` says so.
 */
export function routeFor(system: Pick<System, "notifications"> | undefined, severity: Severity): Route {
  const route = system?.notifications.find((r) => r.severity === severity);
  return {
    severity,
    channels: route ? [...route.channels] : ["log"],
    ...(route?.slackChannel ? { slackChannel: route.slackChannel } : {}),
    reminderMs: (route?.reminderMinutes ?? DEFAULT_REMINDER_MINUTES) * 60_000,
  };
}

/** A critical escalation a runbook asks for (the rollback runbook: `details.escalation`). */
function escalation(report: Report): { severity: Severity; reason?: string } | undefined {
  const e = report.details?.escalation as { severity?: unknown; reason?: unknown } | undefined;
  if (!e || typeof e !== "object") return undefined;
  const severity = e.severity;
  if (severity !== "critical" && severity !== "error" && severity !== "warning") return undefined;
  return { severity, ...(typeof e.reason === "string" ? { reason: e.reason } : {}) };
}

/** A drill record in the report whose RTO or RPO verdict is `missed`. */
function missedObjective(report: Report): boolean {
  const drills = report.details?.drills;
  if (!Array.isArray(drills)) return false;
  return drills.some(
    (d: { rto?: { verdict?: string }; rpo?: { verdict?: string } }) =>
      d?.rto?.verdict === "missed" || d?.rpo?.verdict === "missed",
  );
}

const RANK: Record<Severity, number> = { info: 0, warning: 1, error: 2, critical: 3 };

/**
 * How bad a report is, in the order the rules apply:
 * 1. a runbook's own escalation (`details.escalation.severity`, e.g. rollback's `critical`);
 * 2. `failed` or `partial` → error (something a person must look at did not happen);
 * 3. a restore drill that missed its RTO or RPO → error (the recovery promise is broken even if the run
 *    itself succeeded);
 * 4. anything else → info.
 * The highest that applies wins. A dry run is never above warning: nothing changed, nobody is paged.
 */
export function reportSeverity(report: Report): Severity {
  let severity: Severity = "info";
  const raise = (s: Severity) => {
    if (RANK[s] > RANK[severity]) severity = s;
  };
  const e = escalation(report);
  if (e) raise(e.severity);
  if (report.status === "failed" || report.status === "partial") raise("error");
  if (missedObjective(report)) raise("error");
  if (report.dryRun && RANK[severity] > RANK.warning) severity = "warning";
  return severity;
}

/** One notification on every channel of a route. */
export interface Outgoing {
  /** One line: the SMS, the email subject, the log message. */
  subject: string;
  /** The email body (the SMS is the subject). */
  body: string;
  slack: SlackMessage;
  /** Reply in this thread instead of a new message. */
  thread?: SlackThread;
  /** A thread reply also shown in the channel (reminders). */
  broadcast?: boolean;
  page?: { trigger: PageTrigger } | { resolve: string };
  /** Fields for the structured log record. */
  log?: Record<string, unknown>;
}

/** What a delivery reached: channels that took it, the Slack message, and each failure. */
export interface Delivery {
  delivered: ChannelName[];
  slack?: SlackThread;
  failures: { channel: ChannelName; error: string }[];
}

/**
 * Sends one notification on each channel of the route, each independently (Slack down does not stop the
 * SMS). `skip`: channels a previous attempt already reached. A channel the deployment has not configured
 * is logged as such and counts as the log.
 */
export async function deliver(channels: Channels, route: Route, out: Outgoing, skip: readonly ChannelName[] = []) {
  const result: Delivery = { delivered: [], failures: [] };
  const send = async (channel: ChannelName) => {
    if (skip.includes(channel)) return;
    try {
      if (await sendOne(channels, route, channel, out, result)) result.delivered.push(channel);
    } catch (error) {
      result.failures.push({ channel, error: errorMessage(error) });
    }
  };
  await Promise.all(route.channels.map(send));
  channels.logger.info(out.subject, {
    notification: { severity: route.severity, channels: route.channels, delivered: result.delivered },
    ...(result.failures.length ? { failures: result.failures } : {}),
    ...(out.log ?? {}),
  });
  return result;
}

/** True when the channel took the message; false when it is not configured (logged instead). */
async function sendOne(channels: Channels, route: Route, channel: ChannelName, out: Outgoing, result: Delivery) {
  const missing = (what: string) => notConfigured(channels, route, channel, what);
  switch (channel) {
    case "log":
      return true;
    case "slack":
      return sendSlack(channels, route, out, result, missing);
    case "sms":
      if (!channels.sms) return missing("SMS topic");
      await channels.sms.publish({ subject: out.subject, message: out.subject });
      return true;
    case "email":
      if (!channels.email) return missing("email topic");
      await channels.email.publish({ subject: out.subject, message: out.body });
      return true;
    case "page":
      return sendPage(channels, out, missing);
  }
}

/** Logs that the route names a channel the deployment has not configured; the message counts as logged. */
function notConfigured(channels: Channels, route: Route, channel: ChannelName, what: string): false {
  channels.logger.warn(`route names ${channel} but the deployment configures no ${what}: logged only`, {
    severity: route.severity,
  });
  return false;
}

async function sendSlack(
  channels: Channels,
  route: Route,
  out: Outgoing,
  result: Delivery,
  missing: (what: string) => false,
): Promise<boolean> {
  // An incoming webhook gives no message id: nothing to reply to, so a new message.
  const thread = out.thread?.ts ? out.thread : undefined;
  const target = thread?.channel ?? route.slackChannel ?? channels.defaultSlackChannel;
  if (!channels.slack || !target) return missing("Slack token and channel");
  const posted = await channels.slack.post({
    channel: target,
    message: out.slack,
    ...(thread ? { thread: thread.ts } : {}),
    ...(out.broadcast ? { broadcast: true } : {}),
  });
  if (posted.ts) result.slack = posted;
  return true;
}

async function sendPage(channels: Channels, out: Outgoing, missing: (what: string) => false): Promise<boolean> {
  if (!out.page) return true;
  if (!channels.pagerDuty) return missing("PagerDuty routing key");
  if ("trigger" in out.page) await channels.pagerDuty.trigger(out.page.trigger);
  else await channels.pagerDuty.resolve(out.page.resolve);
  return true;
}

/** Options of {@link createRoutingNotifier}. */
export interface RoutingNotifierOptions {
  systems: readonly System[];
  channels: Channels;
  /** Post in this thread (an alarm's) instead of a new message. */
  thread?: SlackThread;
}

/** The runbooks a person may run after a report: the same one again as a dry run, for a look. */
function nextRunbooksAfter(report: Report): string[] {
  if (report.status === "succeeded" || report.status === "skipped") return [];
  return [report.runbook];
}

/**
 * The notifier of every runbook (`ctx.notify`): routes each report by its severity
 * ({@link reportSeverity}) to the system's channels. A failed channel is reported by throwing after
 * every channel was tried; the runner logs it and the run's outcome stands.
 */
export function createRoutingNotifier(options: RoutingNotifierOptions): Notifier {
  return {
    async notify(raw) {
      const report = redactValue(raw);
      const system = options.systems.find((s) => s.id === report.system);
      const severity = reportSeverity(report);
      const routed = routeFor(system, severity);
      // A remediation's report always answers in its alarm's thread, whatever its own severity routes to.
      const route =
        options.thread && !routed.channels.includes("slack")
          ? { ...routed, channels: [...routed.channels, "slack" as const] }
          : routed;
      const slack = reportMessage(report, {
        ...(system ? { systemName: system.name } : {}),
        nextRunbooks: nextRunbooksAfter(report),
      });
      const e = escalation(report);
      const result = await deliver(options.channels, route, {
        subject: `[${severity.toUpperCase()}] ${slack.text}`,
        body: `${slack.text}\n\n${report.actions.map((a) => `- ${a.resource} ${a.action}: ${a.status}${a.reason ? ` (${a.reason})` : ""}`).join("\n")}`,
        slack,
        ...(options.thread ? { thread: options.thread } : {}),
        page: {
          trigger: {
            dedupKey: `${report.system}/${report.runbook}`,
            summary: e?.reason ? `${slack.text}: ${e.reason}` : slack.text,
            source: report.system,
            severity: severity === "info" ? "info" : severity,
            component: report.runbook,
            customDetails: { status: report.status, summary: report.summary },
          },
        },
        log: { report: { runbook: report.runbook, system: report.system, status: report.status } },
      });
      if (result.failures.length > 0) {
        throw new Error(
          `notification of ${report.runbook}/${report.system} failed on ${result.failures.map((f) => `${f.channel} (${f.error})`).join(", ")}`,
        );
      }
    },
  };
}
