/**
 * What rollback keeps on each ECS service, as tags (state lives on the resource: no database of our own). Tags survive
 * `UpdateService` (a redeploy changes the task definition, never the service's tags), so the record of the
 * last known-good outlives the deployments it is about. Values use only the characters ECS accepts in tags.
 */

/** The last known-good task definition: its full ARN. */
export const KNOWN_GOOD_TAG = "ops-autopilot:last-known-good";
/** When it was promoted (ISO instant). */
export const KNOWN_GOOD_AT_TAG = "ops-autopilot:last-known-good-at";
/** Why it was promoted: which deployment, how long it baked, what was checked. */
export const KNOWN_GOOD_WHY_TAG = "ops-autopilot:last-known-good-why";
/** Revisions we rolled back from (`family:revision`, newest first): never a rollback target again. */
export const ROLLED_BACK_FROM_TAG = "ops-autopilot:rolled-back-from";
/** The last rollback: `v1 at=<iso> from=<family:rev> to=<family:rev> trigger=<kind>`. */
export const LAST_ROLLBACK_TAG = "ops-autopilot:last-rollback";
/** A completed deployment being baked: `v1 revision=<family:rev> deployment=<id> started=<iso> state=baking`. */
export const BAKE_TAG = "ops-autopilot:bake";
/** The health probe's consecutive counts between runs (`lib/health/evaluate.ts`). */
export const PROBE_TAG = "ops-autopilot:probe";

/** `family:revision` of a task definition ARN (or of `family:revision` itself). */
export function revisionOf(taskDefinition: string): string {
  return taskDefinition.includes("task-definition/")
    ? (taskDefinition.split("task-definition/").pop() ?? "")
    : taskDefinition;
}

/** ECS accepts letters, digits, spaces and `+ - = . _ : / @` in tag values, at most 256 characters. */
export function tagSafe(text: string): string {
  return text
    .replace(/[^\p{L}\p{N} +\-=._:/@]/gu, " ")
    .replace(/\s+/g, " ")
    .trim()
    .slice(0, 256);
}

/** An ISO instant to the second. */
export function isoSeconds(instant: Date): string {
  return instant.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** `key=value` pairs after a `v1` marker; undefined when the marker is missing. */
function pairs(value: string | undefined): Map<string, string> | undefined {
  if (!value?.startsWith("v1 ")) return undefined;
  const map = new Map<string, string>();
  for (const pair of value.slice(3).trim().split(/\s+/)) {
    const eq = pair.indexOf("=");
    if (eq > 0) map.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return map;
}

function instant(text: string | undefined): Date | undefined {
  const ms = Date.parse(text ?? "");
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/** The last rollback, as recorded. */
export interface LastRollback {
  at: Date;
  from: string;
  to: string;
  trigger: string;
}

export function formatLastRollback(record: LastRollback): string {
  return `v1 at=${isoSeconds(record.at)} from=${record.from} to=${record.to} trigger=${record.trigger}`;
}

/** Unreadable records are ignored (absent): the guards that use them then fail towards not acting twice elsewhere. */
export function parseLastRollback(value: string | undefined): LastRollback | undefined {
  const map = pairs(value);
  const at = instant(map?.get("at"));
  const from = map?.get("from");
  const to = map?.get("to");
  if (!at || !from || !to) return undefined;
  return { at, from, to, trigger: map?.get("trigger") ?? "unknown" };
}

/** A deployment under bake. */
export interface BakeRecord {
  revision: string;
  deployment: string;
  started: Date;
  state: "baking" | "promoted" | "failed";
  /** Why a bake failed. */
  reason?: string;
}

export function formatBake(record: BakeRecord): string {
  const reason = record.reason ? ` reason=${tagSafe(record.reason).replace(/ /g, "_")}` : "";
  return tagSafe(
    `v1 revision=${record.revision} deployment=${record.deployment} started=${isoSeconds(record.started)} state=${record.state}${reason}`,
  );
}

export function parseBake(value: string | undefined): BakeRecord | undefined {
  const map = pairs(value);
  const started = instant(map?.get("started"));
  const revision = map?.get("revision");
  const deployment = map?.get("deployment");
  const state = map?.get("state");
  if (!started || !revision || !deployment) return undefined;
  if (state !== "baking" && state !== "promoted" && state !== "failed") return undefined;
  const reason = map?.get("reason")?.replace(/_/g, " ");
  return { revision, deployment, started, state, ...(reason ? { reason } : {}) };
}

/** The rolled-back-from list, space-separated. */
export function parseRolledBackFrom(value: string | undefined): string[] {
  return (value ?? "").split(/\s+/).filter(Boolean);
}
