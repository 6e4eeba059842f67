import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { clientsForSystem, createAwsClients } from "../../lib/aws/clients.js";
import { errorMessage, RunbookError, UnknownNameError, ValidationError } from "../../lib/errors.js";
import { mapPool } from "../../lib/pool.js";
import { parseSettings } from "../../lib/settings.js";
import { formatLocal } from "../../lib/timezone.js";
import { type Fleet, findSystem } from "../../systems/index.js";
import type { System } from "../../systems/schema.js";
import { type CliIo, EXIT, writeJson } from "../io.js";
import { parseTimeOption } from "../time.js";
import { plural } from "./backups.js";

/** One action line of an audit record (lib/audit.ts). */
export interface AuditAction {
  resource: string;
  action: string;
  status: string;
  reason?: string;
  [field: string]: unknown;
}

/** One run as its audit record tells it: the summary line and the action lines before it. */
export interface AuditRun {
  key: string;
  runbook: string;
  system: string;
  dryRun: boolean;
  startedAt: string;
  finishedAt?: string;
  status: string;
  summary: string;
  actions: AuditAction[];
}

/**
 * Parses one audit record (JSON lines: actions, then a summary) into a run (pure). A line that is not
 * JSON, or a record without its summary line, is an error naming the key: the trail must not be read
 * as complete when it is not.
 */
export function parseAuditRecord(key: string, text: string): AuditRun {
  const lines = text.split("\n").filter((l) => l.trim());
  const actions: AuditAction[] = [];
  let summary: Record<string, unknown> | undefined;
  for (const [i, line] of lines.entries()) {
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(line) as Record<string, unknown>;
    } catch (error) {
      throw new RunbookError(`audit record ${key} line ${i + 1} is not JSON: ${errorMessage(error)}`, { cause: error });
    }
    if (value.type === "summary") summary = value;
    else if (value.type === "action") {
      const { type: _type, runbook: _r, system: _s, dryRun: _d, startedAt: _t, ...action } = value;
      actions.push(action as AuditAction);
    }
  }
  if (!summary) throw new RunbookError(`audit record ${key} has no summary line`);
  return {
    key,
    runbook: String(summary.runbook),
    system: String(summary.system),
    dryRun: summary.dryRun === true,
    startedAt: String(summary.startedAt),
    ...(typeof summary.finishedAt === "string" ? { finishedAt: summary.finishedAt } : {}),
    status: String(summary.status),
    summary: String(summary.summary ?? ""),
    actions,
  };
}

/** The readable trail (pure): a line per run in the system's zone, its actions indented below. */
export function formatAudit(system: System, runs: AuditRun[], where: string): string {
  const lines = [`${system.name} (${system.id}): ${plural(runs.length, "run")} in ${where}`];
  for (const run of runs) {
    const at = formatLocal(new Date(run.startedAt), system.timezone);
    lines.push("", `${at}  ${run.runbook}${run.dryRun ? " (dry run)" : ""}  ${run.status}: ${run.summary}`);
    for (const a of run.actions) {
      lines.push(`  ${a.status.padEnd(8)} ${a.action} ${a.resource}${a.reason ? ` — ${a.reason}` : ""}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

/** Where a system's audit records are: the demo's in its bucket on the embedded stack; a deployed system's in the audit bucket. */
export function auditStore(io: CliIo, system: System, bucket: string | undefined): { s3: S3Client; bucket: string } {
  const chosen = bucket ?? io.env.OPS_AUDIT_BUCKET ?? (system.deploy ? undefined : system.backup?.bucket);
  if (!chosen) {
    throw new ValidationError(
      `system "${system.id}" is deployed: its audit records are in the deployment's audit bucket; name it with --bucket B or $OPS_AUDIT_BUCKET (ops-autopilot-<stage>-audit-<account>-<region>)`,
    );
  }
  const forcePath = parseSettings(io.env).s3ForcePathStyle;
  const s3 = system.deploy
    ? createAwsClients({
        region: io.env.OPS_AUDIT_REGION ?? io.env.AWS_REGION ?? "us-east-1",
        s3ForcePathStyle: forcePath,
      }).s3
    : clientsForSystem(system, { s3ForcePathStyle: forcePath }).s3;
  return { s3, bucket: chosen };
}

async function auditKeys(s3: S3Client, bucket: string, prefix: string, startAfter: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        ...(token ? { ContinuationToken: token } : { StartAfter: startAfter }),
      }),
    );
    for (const o of page.Contents ?? []) if (o.Key?.endsWith(".jsonl")) keys.push(o.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

/** Options of {@link auditCommand}: `ops audit --system S [--since T] [--runbook R] [--json]`. */
export interface AuditOptions {
  system: string;
  since?: string;
  runbook?: string;
  bucket?: string;
  json: boolean;
  /** The runbooks' names, to check `--runbook` against. */
  runbooks: readonly string[];
}

/** `ops audit`: the system's audit records, oldest first, readable or as JSON. */
export async function auditCommand(io: CliIo, fleet: Fleet, options: AuditOptions): Promise<number> {
  const system = findSystem(fleet, options.system);
  if (options.runbook !== undefined && !options.runbooks.includes(options.runbook)) {
    throw new UnknownNameError("runbook", options.runbook, options.runbooks);
  }
  const since =
    options.since === undefined
      ? undefined
      : parseTimeOption("since", options.since, { timezone: system.timezone, now: io.now() });
  const store = auditStore(io, system, options.bucket);
  const prefix = `audit/${system.id}/`;
  // Keys are partitioned by UTC day: start the listing at the day --since falls in.
  const startAfter = since ? `${prefix}${since.toISOString().slice(0, 10).replace(/-/g, "/")}/` : "";
  const keys = await auditKeys(store.s3, store.bucket, prefix, startAfter);
  const read = await mapPool(keys, 8, async (key) => {
    const object = await store.s3.send(new GetObjectCommand({ Bucket: store.bucket, Key: key }));
    return parseAuditRecord(key, (await object.Body?.transformToString("utf8")) ?? "");
  });
  const runs = read
    .map((outcome) => {
      if (outcome.status === "error") throw outcome.error;
      if (outcome.status !== "done") throw new RunbookError("audit record not read");
      return outcome.value;
    })
    .filter((r) => (since ? Date.parse(r.startedAt) >= since.getTime() : true))
    .filter((r) => (options.runbook ? r.runbook === options.runbook : true))
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  if (options.json) writeJson(io, { system: system.id, bucket: store.bucket, runs });
  else io.out.write(formatAudit(system, runs, `s3://${store.bucket}/${prefix}`));
  return EXIT.ok;
}
