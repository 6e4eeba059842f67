import type { KnownBlock } from "@slack/web-api";
import type { Severity } from "../../systems/schema.js";
import { formatReportLine } from "../notify.js";
import { redactText, redactValue } from "../redact.js";
import type { Report } from "../report.js";
import type { SlackMessage } from "./slack.js";

/** What a person needs to know about an alarm's state change, as read from the event and the catalogue. */
export interface AlarmFacts {
  /** The deployed alarm name. */
  name: string;
  /** Catalogue id (`ez-tracking-cpu-critical-backend`); the name when the alarm is not ours. */
  id: string;
  system: string;
  systemName: string;
  description: string;
  severity: Severity;
  state: "ALARM" | "OK" | "INSUFFICIENT_DATA";
  /** CloudWatch's reason for the state. */
  reason: string;
  /** The newest datapoint CloudWatch evaluated, and the threshold it was compared with. */
  value?: number;
  threshold?: number;
  comparison?: string;
  unit?: string;
  /** `Namespace MetricName {Dim=value}` or the math expression. */
  metric: string;
  /** When the alarm entered this state (ISO). */
  since: string;
  /** The runbook the alarm runs, if any. */
  remediation?: string;
  /** Runbooks an operator may run next (`ops run <name> --system <id>`). */
  nextRunbooks: string[];
  /** Labelled run buttons ("Roll back", "Dry-run scale out"), shown before the next runbooks' buttons. */
  buttons?: { label: string; runbook: string; input?: Record<string, string>; dryRun?: boolean }[];
}

/** Slack's limits: 3,000 characters of section text, 10 fields of 2,000, 150 of header, 50 blocks. */
const SECTION_MAX = 2900;
const FIELD_MAX = 1900;
const HEADER_MAX = 150;
/** Actions listed one per line before the rest are counted instead (a report of 200 services stays short). */
const ACTIONS_SHOWN = 8;

const STATE_ICON = { ALARM: "🔴", OK: "✅", INSUFFICIENT_DATA: "⚪" } as const;
const STATUS_ICON: Record<Report["status"], string> = {
  succeeded: "✅",
  partial: "🟠",
  failed: "🔴",
  skipped: "⚪",
};
const SYMBOL: Record<string, string> = {
  GreaterThanThreshold: ">",
  GreaterThanOrEqualToThreshold: "≥",
  LessThanThreshold: "<",
  LessThanOrEqualToThreshold: "≤",
};

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
const header = (text: string): KnownBlock => ({
  type: "header",
  text: { type: "plain_text", text: clip(text, HEADER_MAX), emoji: true },
});
const section = (text: string): KnownBlock => ({
  type: "section",
  text: { type: "mrkdwn", text: clip(text, SECTION_MAX) },
});
const fields = (pairs: [string, string][]): KnownBlock => ({
  type: "section",
  fields: pairs.slice(0, 10).map(([k, v]) => ({ type: "mrkdwn", text: clip(`*${k}*\n${v}`, FIELD_MAX) })),
});
const context = (text: string): KnownBlock => ({
  type: "context",
  elements: [{ type: "mrkdwn", text: clip(text, SECTION_MAX) }],
});

function nextLine(system: string, runbooks: string[]): string | undefined {
  if (runbooks.length === 0) return undefined;
  return `Next: ${runbooks.map((r) => `\`ops run ${r} --system ${system} --dry-run\``).join(" · ")}`;
}

/** The value against its threshold, as a person reads it: `95.2 % > 90 %`. */
export function valueAgainstThreshold(facts: Pick<AlarmFacts, "value" | "threshold" | "comparison" | "unit">): string {
  const unit =
    facts.unit === "Percent" ? " %" : facts.unit && facts.unit !== "Count" ? ` ${facts.unit.toLowerCase()}` : "";
  const value = facts.value === undefined ? "no data" : `${Number(facts.value.toPrecision(4))}${unit}`;
  if (facts.threshold === undefined) return value;
  return `${value} ${SYMBOL[facts.comparison ?? ""] ?? "vs"} ${facts.threshold}${unit}`;
}

/** The first post of an alarm (and, resolved, its update). */
export function alarmMessage(facts: AlarmFacts, options: { resolvedAt?: string } = {}): SlackMessage {
  const state = options.resolvedAt ? "OK" : facts.state;
  const title = `${STATE_ICON[state]} ${options.resolvedAt ? "RESOLVED" : facts.state} · ${facts.systemName} · ${facts.description}`;
  const blocks: KnownBlock[] = [
    header(title),
    section(redactText(facts.reason)),
    fields([
      ["System", `${facts.systemName} (\`${facts.system}\`)`],
      ["Severity", facts.severity],
      ["Value", valueAgainstThreshold(facts)],
      ["Metric", facts.metric],
      [options.resolvedAt ? "Resolved" : "Since", options.resolvedAt ?? facts.since],
      ["Alarm", `\`${facts.name}\``],
    ]),
  ];
  const done = facts.remediation ? `Runs \`${facts.remediation}\`; its report follows in this thread.` : undefined;
  const next = nextLine(facts.system, facts.nextRunbooks);
  const foot = [done, next].filter(Boolean).join("\n");
  if (foot) blocks.push(context(foot));
  const buttons = runButtonsOf(facts);
  if (!options.resolvedAt && facts.state === "ALARM" && buttons.length > 0)
    blocks.push(runButtons(facts.system, buttons));
  return { text: clip(title, 300), blocks };
}

/** Action id prefix of an alarm's run buttons (`ops-run:<runbook>`; Slack wants ids unique per message). */
export const RUN_ACTION_PREFIX = "ops-run:";

/** The labelled buttons, then one per next runbook not already a button (plain runs, not dry runs). */
function runButtonsOf(facts: AlarmFacts): NonNullable<AlarmFacts["buttons"]> {
  const labelled = facts.buttons ?? [];
  const plain = facts.nextRunbooks
    .filter((r) => !labelled.some((b) => b.runbook === r && !b.dryRun))
    .map((runbook) => ({ label: `/ops ${runbook} ${facts.system}`, runbook }));
  return [...labelled, ...plain].slice(0, 5);
}

/**
 * The run buttons. A click is the clicker typing `/ops <runbook> <system>` in the channel (with the
 * button's input; `dryRun` forces a dry run): the /ops function authorizes the clicker by the catalogue,
 * and a destructive runbook runs as a dry run.
 */
function runButtons(system: string, buttons: NonNullable<AlarmFacts["buttons"]>): KnownBlock {
  return {
    type: "actions",
    elements: buttons.map((b) => ({
      type: "button" as const,
      action_id: `${RUN_ACTION_PREFIX}${b.runbook}${b.dryRun ? ":dry-run" : ""}`,
      text: { type: "plain_text" as const, text: clip(b.label, 75) },
      value: JSON.stringify({
        runbook: b.runbook,
        system,
        ...(b.input && Object.keys(b.input).length ? { input: b.input } : {}),
        ...(b.dryRun ? { dryRun: true } : {}),
      }),
    })),
  };
}

/** A reply in the alarm's thread: a reminder, the OK, or no data. */
export function alarmReply(
  facts: AlarmFacts,
  kind: "reminder" | "ok" | "no-data" | "again",
  count?: number,
): SlackMessage {
  const text = {
    reminder: `⏰ Still in ALARM since ${facts.since}${count ? ` (reminder ${count})` : ""}: ${valueAgainstThreshold(facts)}`,
    again: `🔴 In ALARM again: ${valueAgainstThreshold(facts)}`,
    ok: `✅ OK since ${facts.since}: ${valueAgainstThreshold(facts)}`,
    "no-data": `⚪ No data since ${facts.since}: the alarm cannot tell whether it is resolved`,
  }[kind];
  return { text, blocks: [section(text), context(redactText(facts.reason))] };
}

/**
 * A runbook's report: what happened (status, summary), what was done (actions, folded past a few lines
 * into counts), the numbers, and what an operator may run next. Secrets are removed before anything is
 * formatted; nothing links out.
 */
export function reportMessage(
  raw: Report,
  options: { systemName?: string; nextRunbooks?: string[] } = {},
): SlackMessage {
  const report = redactValue(raw);
  const dry = report.dryRun ? " (dry run)" : "";
  const title = `${STATUS_ICON[report.status]} ${report.runbook}${dry} ${report.status} · ${options.systemName ?? report.system}`;
  const blocks: KnownBlock[] = [header(title), section(report.summary || "(no summary)")];
  const seconds = (Date.parse(report.finishedAt) - Date.parse(report.startedAt)) / 1000;
  blocks.push(
    fields([
      ["System", `\`${report.system}\``],
      ["Runbook", `\`${report.runbook}\``],
      ["Status", report.status],
      ["Took", Number.isFinite(seconds) ? `${seconds.toFixed(1)} s` : "-"],
    ]),
  );
  if (report.actions.length > 0) blocks.push(section(actionsText(report)));
  const metrics = Object.entries(report.metrics).slice(0, 10);
  if (metrics.length > 0) blocks.push(fields(metrics.map(([k, v]) => [k, String(v)])));
  const next = nextLine(report.system, options.nextRunbooks ?? []);
  if (next) blocks.push(context(next));
  return { text: clip(formatReportLine(report), 300), blocks };
}

/** One line per action up to a few, then the rest as counts by status. */
function actionsText(report: Report): string {
  const line = (a: Report["actions"][number]) =>
    clip(`• \`${a.resource}\` ${a.action}: *${a.status}*${a.reason ? ` — ${a.reason}` : ""}`, 300);
  // Failures first: in a folded report they are what a person must see.
  const ordered = [...report.actions].sort((x, y) => Number(y.status === "failed") - Number(x.status === "failed"));
  const shown = ordered.slice(0, ACTIONS_SHOWN).map(line);
  const rest = ordered.slice(ACTIONS_SHOWN);
  if (rest.length > 0) {
    const counts = new Map<string, number>();
    for (const a of rest) counts.set(a.status, (counts.get(a.status) ?? 0) + 1);
    const summary = [...counts].map(([status, n]) => `${n} ${status}`).join(", ");
    shown.push(`…and ${rest.length} more (${summary}); the full report is in the audit log`);
  }
  return shown.join("\n");
}
