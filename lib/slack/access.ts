/**
 * What the slash command decides, pure and without the catalogue: the deployment plan distils the
 * catalogue's `slack` sections into a small table ({@link SlackAccessTable}, an environment variable of
 * the command function), so the function loads no zod schema and no fleet at cold start (bolt-js #1643:
 * Slack apps on Lambda miss Slack's 3 s on cold starts).
 */

/** One runbook a system allows from Slack. */
export interface SlackRunbookAccess {
  users: string[];
  userGroups: string[];
  channels: string[];
  destructive: boolean;
  description: string;
}

/** Everything the command function knows: per system, per runbook, who may run it where; the workers. */
export interface SlackAccessTable {
  systems: Record<string, { name: string; runbooks: Record<string, SlackRunbookAccess> }>;
  /** Runbook → the name of the worker function that runs it (`InvocationType: Event`). */
  workers: Record<string, string>;
}

/** A parsed `/ops` command. */
export type SlashCommand =
  | { kind: "help" }
  | { kind: "list" }
  | { kind: "plan"; system: string }
  | { kind: "status"; system?: string }
  | { kind: "run"; runbook: string; system: string; input: Record<string, string>; apply: boolean; dryRun: boolean }
  | { kind: "invalid"; message: string };

const KEY = /^[a-zA-Z][a-zA-Z0-9_-]*$/;

/** `/ops` text → a command; a malformed one says what is wrong and what is allowed. */
export function parseSlashCommand(text: string): SlashCommand {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const [first, ...rest] = words;
  if (!first || first === "help") return { kind: "help" };
  const fixed = parseFixedCommand(first, rest);
  if (fixed) return fixed;
  const [system, ...args] = rest;
  if (!system || system.includes("=") || system.startsWith("--")) {
    return invalid("usage: `/ops <runbook> <system> [key=value …] [--apply]`; `/ops help` for more");
  }
  const parsed = parseRunArguments(args);
  return "message" in parsed ? invalid(parsed.message) : { kind: "run", runbook: first, system, ...parsed };
}

/** `list`, `plan <system>`, `status [<system>]`; undefined for a runbook's name. */
function parseFixedCommand(first: string, rest: string[]): SlashCommand | undefined {
  if (first === "list") return rest.length ? invalid("`/ops list` takes no arguments") : { kind: "list" };
  if (first === "plan") {
    return rest.length === 1 && rest[0] ? { kind: "plan", system: rest[0] } : invalid("usage: `/ops plan <system>`");
  }
  if (first !== "status") return undefined;
  if (rest.length > 1) return invalid("usage: `/ops status [<system>]`");
  return rest[0] ? { kind: "status", system: rest[0] } : { kind: "status" };
}

/** `key=value …`, `--apply`, `--dry-run` after `<runbook> <system>`. */
function parseRunArguments(
  args: string[],
): { input: Record<string, string>; apply: boolean; dryRun: boolean } | { message: string } {
  const input: Record<string, string> = {};
  let apply = false;
  let dryRun = false;
  for (const arg of args) {
    if (arg === "--apply") apply = true;
    else if (arg === "--dry-run") dryRun = true;
    else {
      const eq = arg.indexOf("=");
      const key = arg.slice(0, eq);
      if (eq < 1 || !KEY.test(key)) return { message: `"${arg}" is not key=value, --apply or --dry-run` };
      if (key in input) return { message: `"${key}" is given twice` };
      input[key] = arg.slice(eq + 1);
    }
  }
  if (apply && dryRun) return { message: "--apply and --dry-run contradict each other: give one" };
  return { input, apply, dryRun };
}

const invalid = (message: string): SlashCommand => ({ kind: "invalid", message });

/** Who typed the command, where. */
export interface Requester {
  userId: string;
  channelId: string;
  /** The user groups the requester is in, among those the entry names (looked up only when needed). */
  groupsOf?: (groups: string[]) => Promise<string[]>;
}

/** Allowed (with the entry and whether it runs as a dry run), or refused with the reason to show. */
export type Decision =
  | { allowed: true; access: SlackRunbookAccess; dryRun: boolean; worker: string; needsApproval: boolean }
  | { allowed: false; reason: string };

/**
 * May this person run this runbook on this system from this channel? Fail closed: an unknown system,
 * a runbook the system does not list, a person in neither its users nor its groups, a channel it does
 * not name, or a runbook without a worker is refused. A destructive runbook runs as a dry run unless
 * `--apply`; applying one needs a second person's approval (`needsApproval`): without an approval store
 * it is refused rather than run unapproved.
 */
export async function authorize(
  table: SlackAccessTable,
  command: Extract<SlashCommand, { kind: "run" }>,
  who: Requester,
  options: { approvals?: boolean } = {},
): Promise<Decision> {
  const system = table.systems[command.system];
  if (!system) {
    return refuse(`unknown system "${command.system}"; known: ${Object.keys(table.systems).join(", ") || "(none)"}`);
  }
  const access = system.runbooks[command.runbook];
  if (!access) {
    const allowed = Object.keys(system.runbooks);
    return refuse(
      `runbook "${command.runbook}" is not allowed from Slack on ${command.system}; allowed: ${allowed.join(", ") || "(none)"}`,
    );
  }
  if (!access.channels.includes(who.channelId)) {
    return refuse(`${command.runbook} on ${command.system} may not be run from this channel`);
  }
  const listed = access.users.includes(who.userId);
  const inGroup =
    !listed && access.userGroups.length > 0 && who.groupsOf
      ? (await who.groupsOf(access.userGroups)).length > 0
      : false;
  if (!listed && !inGroup) {
    return refuse(`you are not allowed to run ${command.runbook} on ${command.system}`);
  }
  const worker = table.workers[command.runbook];
  if (!worker) return refuse(`${command.runbook} has no worker function in this deployment`);
  const needsApproval = access.destructive && command.apply;
  if (needsApproval && !options.approvals) {
    return refuse(
      `${command.runbook} is destructive: applying it needs a second person's approval, which /ops does not collect yet; run it without --apply for the dry run, or apply it with the CLI`,
    );
  }
  const dryRun = command.dryRun || (access.destructive && !command.apply);
  return { allowed: true, access, dryRun, worker, needsApproval };
}

const refuse = (reason: string): Decision => ({ allowed: false, reason });

/** `/ops help`. */
export function helpText(): string {
  return [
    "*/ops* runs ops-autopilot runbooks.",
    "• `/ops list`: the systems and the runbooks you may run on each",
    "• `/ops plan <system>`: what /ops may run on a system, and who may",
    "• `/ops status [<system>]`: capacity and off-hours, last backup, last drill, open alarms, last rollback (one line per system without one)",
    "• `/ops <runbook> <system> [key=value …]`: run it; the report comes back here",
    "• destructive runbooks run as a dry run; `--apply` asks a second person to approve; `--dry-run` for any runbook",
  ].join("\n");
}

/** `/ops list`: the runbooks this person may run, per system (others are not shown). */
export function listText(table: SlackAccessTable, who: Pick<Requester, "userId" | "channelId">): string {
  const lines = Object.entries(table.systems).flatMap(([id, system]) => {
    const mine = Object.entries(system.runbooks)
      .filter(([, a]) => a.users.includes(who.userId) || a.userGroups.length > 0)
      .map(([name, a]) => `${name}${a.destructive ? " (destructive)" : ""}`);
    return mine.length ? [`• *${id}* (${system.name}): ${mine.join(", ")}`] : [];
  });
  return lines.length ? lines.join("\n") : "Nothing: no system allows you a runbook from Slack.";
}

/** `/ops plan <system>`: the system's Slack entries. */
export function planText(table: SlackAccessTable, systemId: string): string {
  const system = table.systems[systemId];
  if (!system) return `unknown system "${systemId}"; known: ${Object.keys(table.systems).join(", ") || "(none)"}`;
  const lines = Object.entries(system.runbooks).map(
    ([name, a]) =>
      `• \`${name}\`${a.destructive ? " (destructive: dry run unless --apply)" : ""}: ${a.description} — users ${
        a.users.map((u) => `<@${u}>`).join(" ") || "-"
      }, groups ${a.userGroups.map((g) => `<!subteam^${g}>`).join(" ") || "-"}, channels ${a.channels
        .map((c) => `<#${c}>`)
        .join(" ")}`,
  );
  return [`*${systemId}* (${system.name}) from Slack:`, ...lines].join("\n");
}

/**
 * Reads the table from the environment, checking its shape by hand (no zod at cold start). A table
 * that does not parse throws: the function fails at cold start, not at the first command.
 */
export function parseAccessTable(json: string | undefined): SlackAccessTable {
  if (!json) throw new Error("OPS_SLACK_ACCESS is required: the deployment plan's Slack access table (JSON)");
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new Error("OPS_SLACK_ACCESS is not JSON", { cause: error });
  }
  const table = value as SlackAccessTable;
  const isRecord = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  const strings = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === "string");
  if (!isRecord(table) || !isRecord(table.systems) || !isRecord(table.workers)) {
    throw new Error("OPS_SLACK_ACCESS must be { systems: {…}, workers: {…} }");
  }
  for (const [id, system] of Object.entries(table.systems)) {
    if (!isRecord(system) || !isRecord(system.runbooks)) throw new Error(`OPS_SLACK_ACCESS.systems.${id}: no runbooks`);
    for (const [name, a] of Object.entries(system.runbooks)) {
      if (!strings(a.users) || !strings(a.userGroups) || !strings(a.channels) || typeof a.destructive !== "boolean") {
        throw new Error(
          `OPS_SLACK_ACCESS.systems.${id}.runbooks.${name}: needs users, userGroups, channels, destructive`,
        );
      }
    }
  }
  return table;
}
