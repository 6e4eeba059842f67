import { ListObjectsV2Command, PutObjectCommand, type PutObjectCommandInput, type S3Client } from "@aws-sdk/client-s3";
import { z } from "zod";
import { serverSideEncryption } from "../lib/backup/encryption.js";
import { isWriteConflict } from "../lib/s3-claim.js";
import { getObjectIfPresent } from "../lib/s3-object.js";

/**
 * What ops-autopilot remembers of one alarm, in one S3 object (`<prefix>/<alarm name>.json`) written with
 * conditional requests: the state last seen, the event that set it, and the open episode (first ALARM
 * until OK) with its Slack thread, so that a repeated event is not re-sent, OK lands in the thread, and a
 * reminder knows when the last one went out. No database of our own: the conditional write is the lock.
 */
export const alarmStateSchema = z.object({
  version: z.literal(1),
  alarm: z.string(),
  state: z.enum(["ALARM", "OK", "INSUFFICIENT_DATA"]),
  /** When the alarm entered `state` (CloudWatch's timestamp). */
  since: z.string(),
  /** The EventBridge event id that set `state` (a duplicate delivery carries the same id). */
  eventId: z.string(),
  /** The step taken for that event, when it was claimed, and the channels it reached so far. */
  step: z.string(),
  claimedAt: z.string(),
  delivered: z.array(z.string()).default([]),
  /** From the first ALARM until OK. */
  episode: z
    .object({
      startedAt: z.string(),
      slack: z.object({ channel: z.string(), ts: z.string() }).optional(),
      lastNotifiedAt: z.string(),
      reminders: z.number().int().min(0).default(0),
    })
    .optional(),
});

/** One alarm's remembered state. */
export type AlarmState = z.infer<typeof alarmStateSchema>;

/** An alarm state change as the decision needs it. */
export interface AlarmChange {
  eventId: string;
  state: AlarmState["state"];
  /** When CloudWatch changed the state (ISO). */
  timestamp: string;
}

/** What to do about an event (or a reminder tick). */
export type AlarmStep =
  | { kind: "open" }
  | { kind: "again" }
  | { kind: "remind" }
  | { kind: "resolve" }
  | { kind: "no-data" }
  | { kind: "record"; reason: string }
  | { kind: "redo"; step: AlarmStep["kind"] }
  | { kind: "skip"; reason: string };

/**
 * A claim left by a copy that has not finished delivering is retried after this long: Lambda retries a
 * failed event a minute or more later, while a duplicate delivery arrives within seconds.
 */
export const REDO_AFTER_MS = 60_000;

/**
 * The step for a state change, in the order the rules apply:
 * 1. an event older than the recorded state → skip (EventBridge does not keep order);
 * 2. the event that set the recorded state → skip (a duplicate), unless its delivery was claimed more
 *    than a minute ago and did not reach every channel (the copy died or a channel failed) → redo;
 * 3. ALARM with no open episode → open (post, page, SMS); with an open episode that is in ALARM → skip
 *    (already sent: reminders go by the clock, not by events); back from no data → again (in thread);
 * 4. OK with an open episode → resolve (in thread, resolve the page); without → record only;
 * 5. INSUFFICIENT_DATA with an open episode in ALARM → no-data (in thread; the episode stays open);
 *    without → record only.
 */
export function decideAlarmStep(options: {
  state?: AlarmState;
  change: AlarmChange;
  now: Date;
  allDelivered: (state: AlarmState) => boolean;
}): AlarmStep {
  const { state, change } = options;
  if (!state) return stepForChange(undefined, change);
  return outOfOrderOrDuplicate({ ...options, state }) ?? stepForChange(state, change);
}

/** Rules 1 and 2: an event older than the recorded state, or the event that set it. */
function outOfOrderOrDuplicate(options: {
  state: AlarmState;
  change: AlarmChange;
  now: Date;
  allDelivered: (state: AlarmState) => boolean;
}): AlarmStep | undefined {
  const { state, change } = options;
  if (Date.parse(change.timestamp) < Date.parse(state.since)) {
    return { kind: "skip", reason: `older than the recorded ${state.state} since ${state.since}` };
  }
  if (change.eventId !== state.eventId) return undefined;
  const stale = options.now.getTime() - Date.parse(state.claimedAt) >= REDO_AFTER_MS;
  if (stale && !options.allDelivered(state)) return { kind: "redo", step: state.step as AlarmStep["kind"] };
  return { kind: "skip", reason: "duplicate delivery of an event already handled" };
}

/** Rules 3 to 5: what a new state means given the open episode, if any. */
function stepForChange(state: AlarmState | undefined, change: AlarmChange): AlarmStep {
  const open = state?.episode !== undefined;
  switch (change.state) {
    case "ALARM":
      if (!open) return { kind: "open" };
      return state?.state === "ALARM" ? { kind: "skip", reason: "already in ALARM and sent" } : { kind: "again" };
    case "OK":
      return open ? { kind: "resolve" } : { kind: "record", reason: "OK with no open alarm" };
    case "INSUFFICIENT_DATA":
      return open && state?.state === "ALARM"
        ? { kind: "no-data" }
        : { kind: "record", reason: "no data with no open alarm" };
  }
}

/** A reminder is due: in ALARM, and the last notification is older than the interval. */
export function reminderDue(state: AlarmState, now: Date, reminderMs: number): boolean {
  if (state.state !== "ALARM" || !state.episode) return false;
  return now.getTime() - Date.parse(state.episode.lastNotifiedAt) >= reminderMs;
}

/** The state after a step was claimed (before delivery). */
export function claimedState(options: {
  name: string;
  state?: AlarmState;
  change: AlarmChange;
  step: AlarmStep["kind"];
  now: Date;
}): AlarmState {
  const { state, change, now, step } = options;
  const at = now.toISOString();
  const base = {
    version: 1 as const,
    alarm: options.name,
    state: change.state,
    since: change.timestamp,
    eventId: change.eventId,
    step,
    claimedAt: at,
    delivered: [] as string[],
  };
  if (step === "open") return { ...base, episode: { startedAt: change.timestamp, lastNotifiedAt: at, reminders: 0 } };
  if (step === "resolve") return base;
  if (step === "again" || step === "no-data") {
    return { ...base, ...(state?.episode ? { episode: { ...state.episode, lastNotifiedAt: at } } : {}) };
  }
  return { ...base, ...(state?.episode ? { episode: state.episode } : {}) };
}

/** Options of the store. */
export interface AlarmStateStore {
  s3: S3Client;
  bucket: string;
  /** Key prefix, e.g. `alarm-state`. */
  prefix: string;
  kmsKeyId?: string;
}

const keyOf = (store: AlarmStateStore, name: string) => `${store.prefix}/${encodeURIComponent(name)}.json`;

/** The recorded state with its ETag (for a conditional overwrite), or nothing yet. */
export async function readAlarmState(
  store: AlarmStateStore,
  name: string,
): Promise<{ state?: AlarmState; etag?: string } | undefined> {
  const object = await getObjectIfPresent(store.s3, { bucket: store.bucket, key: keyOf(store, name) });
  if (!object) return undefined;
  const text = (await object.Body?.transformToString("utf8")) ?? "";
  let state: AlarmState | undefined;
  try {
    const parsed = alarmStateSchema.safeParse(JSON.parse(text));
    state = parsed.success ? parsed.data : undefined;
  } catch {
    state = undefined;
  }
  return { ...(state ? { state } : {}), ...(object.ETag ? { etag: object.ETag } : {}) };
}

/**
 * Writes the state only if nobody wrote it since we read it: `If-None-Match: *` when there was none,
 * `If-Match: <etag>` otherwise. Returns the new ETag, or `conflict` when another copy won.
 */
export async function writeAlarmState(
  store: AlarmStateStore,
  state: AlarmState,
  previous: { etag?: string } | undefined,
): Promise<{ etag?: string } | "conflict"> {
  const condition: Pick<PutObjectCommandInput, "IfMatch" | "IfNoneMatch"> = previous
    ? previous.etag
      ? { IfMatch: previous.etag }
      : {}
    : { IfNoneMatch: "*" };
  try {
    const out = await store.s3.send(
      new PutObjectCommand({
        Bucket: store.bucket,
        Key: keyOf(store, state.alarm),
        Body: JSON.stringify(state),
        ContentType: "application/json",
        ...condition,
        ...serverSideEncryption(store.kmsKeyId),
      }),
    );
    return out.ETag ? { etag: out.ETag } : {};
  } catch (error) {
    if (isWriteConflict(error)) return "conflict";
    throw error;
  }
}

/** The names of every alarm with a recorded state (for the reminder tick). */
export async function listAlarmStates(store: AlarmStateStore): Promise<string[]> {
  const names: string[] = [];
  let token: string | undefined;
  do {
    const page = await store.s3.send(
      new ListObjectsV2Command({
        Bucket: store.bucket,
        Prefix: `${store.prefix}/`,
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    for (const o of page.Contents ?? []) {
      const file = o.Key?.slice(store.prefix.length + 1);
      if (file?.endsWith(".json")) names.push(decodeURIComponent(file.slice(0, -5)));
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return names;
}
