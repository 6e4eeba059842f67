import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { z } from "zod";
import { serverSideEncryption } from "../../lib/backup/encryption.js";
import { errorMessage } from "../../lib/errors.js";
import type { CheckResult } from "../../lib/postgres/checks.js";
import { redactValue } from "../../lib/redact.js";
import { getObjectIfPresent } from "../../lib/s3-object.js";
import { compactTimestamp, drillClaimPrefix, drillPrefix } from "../../runbooks/backup/layout.js";
import type { Verdict } from "./verdict.js";

/**
 * The record of one finished drill, saved as JSON under `drills/<system>/` in the system's backup
 * bucket. `ops drill-history` and the trend chart read these records back.
 */
export interface DrillRecord {
  version: 1;
  drillId: string;
  system: string;
  database: string;
  source: "pg_dump" | "rds-snapshot" | "rds-pitr";
  /** Restored and every check passed (verdicts aside). */
  outcome: "passed" | "failed";
  startedAt: string;
  /** When validation ended (or the drill failed). */
  finishedAt: string;
  /** Drill start → validated: what the RTO is judged on. */
  restoreMs?: number;
  /** The point in time the restored data is from. */
  recoveryPoint?: string;
  rto: Verdict;
  rpo: Verdict;
  /** What was restored: the backup object, the snapshot, or the PITR instant. */
  restoredFrom: Record<string, unknown>;
  /** Where: the scratch database or instance. */
  scratch: string;
  checks: CheckResult[];
  cleanup: { status: "removed" | "absent" | "failed" | "pending"; reason?: string };
  warnings: string[];
  /** One line for people. */
  summary: string;
  /** Restore internals worth keeping (mode, bytes, pg_restore errors). */
  restore?: Record<string, unknown>;
}

const verdictSchema = z.looseObject({
  objective: z.enum(["RTO", "RPO"]),
  verdict: z.enum(["met", "missed"]),
  targetMs: z.number(),
  measuredMs: z.number().optional(),
  marginMs: z.number().optional(),
  note: z.string().optional(),
});

/** Lenient schema for reading records back (older or newer fields are kept). */
export const drillRecordSchema = z.looseObject({
  version: z.literal(1),
  drillId: z.string(),
  system: z.string(),
  database: z.string(),
  source: z.enum(["pg_dump", "rds-snapshot", "rds-pitr"]),
  outcome: z.enum(["passed", "failed"]),
  startedAt: z.string(),
  finishedAt: z.string(),
  restoreMs: z.number().optional(),
  recoveryPoint: z.string().optional(),
  rto: verdictSchema,
  rpo: verdictSchema,
  summary: z.string(),
});

/** Prefix under which RDS drills in flight keep their plan (read by `drill-continue`). */
export function pendingPrefix(system: string): string {
  return `${drillPrefix(system)}pending/`;
}

/** Key of a finished drill's record: `drills/<system>/<YYYYMMDDTHHMMSSZ>-<database>.json` (sorts by time). */
export function drillRecordKey(system: string, database: string, startedAt: Date): string {
  return `${drillPrefix(system)}${compactTimestamp(startedAt)}-${database}.json`;
}

/** Saves a record (secrets removed). Returns the key. */
export async function saveDrillRecord(
  s3: S3Client,
  options: { bucket: string; kmsKeyId?: string; record: DrillRecord },
): Promise<string> {
  const { record } = options;
  const key = drillRecordKey(record.system, record.database, new Date(record.startedAt));
  await s3.send(
    new PutObjectCommand({
      Bucket: options.bucket,
      Key: key,
      Body: JSON.stringify(redactValue(record), null, 2),
      ContentType: "application/json",
      ...serverSideEncryption(options.kmsKeyId),
    }),
  );
  return key;
}

/** A record read back, with its key. */
export type StoredDrillRecord = z.infer<typeof drillRecordSchema> & { key: string };

/**
 * Reads every drill record of a system, oldest first. Records that do not parse are reported in
 * `skipped`, not thrown: one bad file must not hide the history.
 */
export async function listDrillRecords(
  s3: S3Client,
  options: { bucket: string; system: string; limit?: number },
): Promise<{ records: StoredDrillRecord[]; skipped: { key: string; reason: string }[] }> {
  const keys = await recordKeys(s3, options);
  const chosen = options.limit ? keys.slice(-options.limit) : keys;
  const records: StoredDrillRecord[] = [];
  const skipped: { key: string; reason: string }[] = [];
  for (const key of chosen) {
    const read = await readRecord(s3, options.bucket, key);
    if (read.ok) records.push(read.record);
    else skipped.push({ key, reason: read.reason });
  }
  records.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  return { records, skipped };
}

/** Whether a key under the drill prefix is a record: plans and claims of drills in progress live there too. */
function isRecordKey(key: string, system: string): boolean {
  return key.endsWith(".json") && !key.startsWith(pendingPrefix(system)) && !key.startsWith(drillClaimPrefix(system));
}

/** The record keys of a system, sorted (oldest first: the keys carry the start time). */
async function recordKeys(s3: S3Client, options: { bucket: string; system: string }): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: options.bucket,
        Prefix: drillPrefix(options.system),
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    for (const object of page.Contents ?? []) {
      if (isRecordKey(object.Key ?? "", options.system)) keys.push(object.Key ?? "");
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

/** One record, or why it could not be read. */
async function readRecord(
  s3: S3Client,
  bucket: string,
  key: string,
): Promise<{ ok: true; record: StoredDrillRecord } | { ok: false; reason: string }> {
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const parsed = drillRecordSchema.safeParse(JSON.parse((await object.Body?.transformToString("utf8")) ?? ""));
    if (parsed.success) return { ok: true, record: { ...parsed.data, key } };
    return { ok: false, reason: parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") };
  } catch (error) {
    return { ok: false, reason: errorMessage(error) };
  }
}

/** Key of an RDS drill's pending plan. */
export function pendingPlanKey(system: string, instanceId: string): string {
  return `${pendingPrefix(system)}${instanceId}.json`;
}

/**
 * Key of the claim on an RDS drill's validation: created once (If-None-Match), so of several
 * continuations (duplicate events, the janitor) exactly one validates. Under `pending/claims/`, named
 * after the instance, so the janitor removes it with the plan once the instance is gone.
 */
export function claimKey(system: string, instanceId: string): string {
  return `${pendingClaimsPrefix(system)}${instanceId}.json`;
}

/** Where the claims of {@link claimKey} live. */
export function pendingClaimsPrefix(system: string): string {
  return `${pendingPrefix(system)}claims/`;
}

/** Reads a JSON object; undefined when it does not exist. */
export async function readJsonObject(s3: S3Client, bucket: string, key: string): Promise<unknown> {
  const object = await getObjectIfPresent(s3, { bucket, key });
  if (!object) return undefined;
  return JSON.parse((await object.Body?.transformToString("utf8")) ?? "null");
}

/**
 * Writes a JSON object (SSE as the bucket's backups). With `onlyIfAbsent`, S3 refuses to overwrite an
 * existing object (`PreconditionFailed`, or `ConditionalRequestConflict` when two writes race).
 */
export async function writeJsonObject(
  s3: S3Client,
  options: { bucket: string; key: string; value: unknown; kmsKeyId?: string; onlyIfAbsent?: boolean },
): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: options.bucket,
      Key: options.key,
      Body: JSON.stringify(redactValue(options.value), null, 2),
      ContentType: "application/json",
      ...(options.onlyIfAbsent ? { IfNoneMatch: "*" } : {}),
      ...serverSideEncryption(options.kmsKeyId),
    }),
  );
}

/** Deletes an object; a missing object is not an error. */
export async function deleteObject(s3: S3Client, bucket: string, key: string): Promise<void> {
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
}
