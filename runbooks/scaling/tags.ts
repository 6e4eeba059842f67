import { TagFormatError } from "./errors.js";

/**
 * The state off-hours scaling keeps on each ECS service, as tags (state lives on the resource: no database of our own).
 * Values use only letters, digits, spaces and `= : . -`, the characters every AWS service accepts in tags.
 */

/**
 * What a service had before scale-down: `v1 desired=4 min=2 max=10 floor=1 at=2026-11-21T16:00:00Z`
 * (`min`/`max` only when Application Auto Scaling was registered; `floor` is the count scale-down set).
 * Written before anything is lowered, never overwritten during its own off-hours period (a left-over from an
 * earlier night is replaced), removed by scale-up once restored.
 */
export const RECORD_TAG = "ops-autopilot:offhours-original";

/** Opt-out, set by a team: any value except `false` (case-insensitive) means "leave this service alone". */
export const OPT_OUT_TAG = "ops-autopilot:offhours-opt-out";

/** Keep-awake override: an ISO instant in UTC (`2026-11-21T20:00:00Z`); scale-down skips the service until then. */
export const KEEP_AWAKE_TAG = "ops-autopilot:keep-awake-until";

/**
 * Where a backend keeps the three marks: ECS tags, or Kubernetes annotations (whose keys cannot hold `:`).
 * The values are the same in both, so one parser and one set of rules serve both.
 */
export interface MarkKeys {
  /** What the marks are called in messages. */
  kind: "tag" | "annotation";
  record: string;
  optOut: string;
  keepAwake: string;
}

/** The marks on ECS services (tags). */
export const ECS_MARKS: MarkKeys = {
  kind: "tag",
  record: RECORD_TAG,
  optOut: OPT_OUT_TAG,
  keepAwake: KEEP_AWAKE_TAG,
};

/** The marks on Kubernetes deployments (annotations; a DNS-label prefix, as annotation keys require). */
export const KUBE_MARKS: MarkKeys = {
  kind: "annotation",
  record: "ops-autopilot/offhours-original",
  optOut: "ops-autopilot/offhours-opt-out",
  keepAwake: "ops-autopilot/keep-awake-until",
};

/** Application Auto Scaling bounds of a service (or an HPA's min/max replicas). */
export interface Bounds {
  min: number;
  max: number;
}

/** A service's capacity: desired count, and its autoscaling bounds when a scalable target is registered. */
export interface Capacity {
  desired: number;
  bounds?: Bounds;
}

/** The content of {@link RECORD_TAG}. */
export interface CapacityRecord extends Capacity {
  /** Desired count scale-down set (the floor at the time). */
  floor: number;
  /** When the record was written. */
  at: Date;
}

/** An ISO instant to the second, `Z` suffix: compact and valid in a tag value. */
export function isoSeconds(instant: Date): string {
  return instant.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Serialises a record for {@link RECORD_TAG}. */
export function formatRecord(record: CapacityRecord): string {
  const bounds = record.bounds ? ` min=${record.bounds.min} max=${record.bounds.max}` : "";
  return `v1 desired=${record.desired}${bounds} floor=${record.floor} at=${isoSeconds(record.at)}`;
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;

/** Parses an ISO instant that carries its offset; `undefined` for anything else (a bare local time is ambiguous). */
export function parseInstant(text: string): Date | undefined {
  if (!ISO_INSTANT.test(text.trim())) return undefined;
  const ms = Date.parse(text.trim());
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/**
 * Parses a {@link RECORD_TAG} value. Strict on purpose: an unknown version, key or a half-written record
 * throws {@link TagFormatError}, and the caller leaves the service as it is rather than guess.
 */
export function parseRecord(value: string, keys: MarkKeys = ECS_MARKS): CapacityRecord {
  const fail = (problem: string): never => {
    throw new TagFormatError({ tag: keys.record, value, problem, kind: keys.kind });
  };
  const [version, ...pairs] = value.trim().split(/\s+/);
  if (version !== "v1") fail(`expected it to start with "v1", found "${version ?? ""}"`);
  const fields = recordFields(pairs, fail);
  const count = (key: string): number | undefined => {
    const text = fields.get(key);
    if (text === undefined) return undefined;
    if (!/^\d{1,6}$/.test(text)) fail(`${key} must be a whole number, found "${text}"`);
    return Number(text);
  };
  const desired = count("desired");
  const floor = count("floor");
  const min = count("min");
  const max = count("max");
  const atText = fields.get("at");
  if (desired === undefined) return fail("desired is missing");
  if (floor === undefined) return fail("floor is missing");
  if (atText === undefined) return fail("at is missing");
  const at = parseInstant(atText);
  if (!at) return fail(`at must be an ISO instant such as 2026-11-21T16:00:00Z, found "${atText}"`);
  if ((min === undefined) !== (max === undefined)) fail("min and max must be given together");
  if (min !== undefined && max !== undefined) {
    if (min > max) fail(`min ${min} is above max ${max}`);
    return { desired, bounds: { min, max }, floor, at };
  }
  return { desired, floor, at };
}

/** The `key=value` pairs of a record, each key known and given once; anything else goes to `fail`. */
function recordFields(pairs: readonly string[], fail: (problem: string) => never): Map<string, string> {
  const fields = new Map<string, string>();
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    const key = eq > 0 ? pair.slice(0, eq) : "";
    if (!["desired", "min", "max", "floor", "at"].includes(key)) fail(`unexpected "${pair}"`);
    if (fields.has(key)) fail(`"${key}" appears twice`);
    fields.set(key, pair.slice(eq + 1));
  }
  return fields;
}

/** ECS tags as a map (ECS spells the fields `key`/`value`). */
export function tagMap(
  tags: readonly { key?: string | undefined; value?: string | undefined }[] = [],
): Map<string, string> {
  const map = new Map<string, string>();
  for (const tag of tags) if (tag.key !== undefined) map.set(tag.key, tag.value ?? "");
  return map;
}

/** The service's record: absent, readable, or unreadable (with the error saying why). */
export type RecordState =
  | { kind: "none" }
  | { kind: "present"; record: CapacityRecord }
  | { kind: "invalid"; error: TagFormatError };

/** Reads the record ({@link RECORD_TAG} on ECS) from a workload's marks. */
export function readRecord(tags: ReadonlyMap<string, string>, keys: MarkKeys = ECS_MARKS): RecordState {
  const value = tags.get(keys.record);
  if (value === undefined) return { kind: "none" };
  try {
    return { kind: "present", record: parseRecord(value, keys) };
  } catch (error) {
    if (error instanceof TagFormatError) return { kind: "invalid", error };
    throw error;
  }
}

/**
 * Whether a team opted the service out. Fails safe: a typo (`ture`), an empty value or `yes` all mean
 * "leave it alone"; only an explicit `false` lets off-hours scaling act.
 */
export function readOptOut(
  tags: ReadonlyMap<string, string>,
  keys: MarkKeys = ECS_MARKS,
): { optedOut: boolean; value?: string } {
  const value = tags.get(keys.optOut);
  if (value === undefined) return { optedOut: false };
  return { optedOut: value.trim().toLowerCase() !== "false", value };
}

/** The keep-awake override at an instant: none, active until a time, expired, or unreadable. */
export type KeepAwakeState =
  | { kind: "none" }
  | { kind: "active"; until: Date }
  | { kind: "expired"; until: Date }
  | { kind: "invalid"; value: string };

/** Reads {@link KEEP_AWAKE_TAG}; it expires by itself, so no one has to remember to remove it. */
export function readKeepAwake(
  tags: ReadonlyMap<string, string>,
  now: Date,
  keys: MarkKeys = ECS_MARKS,
): KeepAwakeState {
  const value = tags.get(keys.keepAwake);
  if (value === undefined) return { kind: "none" };
  const until = parseInstant(value);
  if (!until) return { kind: "invalid", value };
  return until.getTime() > now.getTime() ? { kind: "active", until } : { kind: "expired", until };
}
