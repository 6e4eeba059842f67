import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { type AwsClients, clientsForSystem } from "../../lib/aws/clients.js";
import { UnknownNameError, ValidationError } from "../../lib/errors.js";
import { startLocalS3 } from "../../lib/local/s3.js";
import { parseSettings } from "../../lib/settings.js";
import { formatLocal } from "../../lib/timezone.js";
import { type ChartPoint, linearTrend, renderDrillChart, trendAbsence } from "../../runbooks/restore-drill/chart.js";
import { listDrillRecords, type StoredDrillRecord } from "../../runbooks/restore-drill/record.js";
import { formatDuration, formatTarget } from "../../runbooks/restore-drill/verdict.js";
import { type Fleet, findSystem } from "../../systems/index.js";
import type { System } from "../../systems/schema.js";
import { type CliIo, EXIT, foldLine, table, writeJson } from "../io.js";

/** Options of {@link drillHistoryCommand} (`ops drill-history --system S [--database D] [--out F] [--json]`). */
export interface DrillHistoryOptions {
  system: string;
  json: boolean;
  /** Only this database's drills. */
  database?: string;
  /** Where the chart goes (`.svg`); default `drill-history-<system>.svg` in the working directory. */
  out?: string;
  /** Only the newest N drills. */
  limit?: number;
  /** The demo's state directory (default `$OPS_STATE_DIR` or `.state`), read when `--system demo`. */
  stateDir?: string;
}

/** What the command needs besides its options; `clientsFor` is replaceable in tests. */
export interface DrillHistoryDeps {
  fleet: Fleet;
  clientsFor?: (system: System) => AwsClients;
}

const margin = (ms: number | undefined) =>
  ms === undefined ? "—" : ms >= 0 ? `+${formatDuration(ms)}` : `-${formatDuration(-ms)}`;

function rows(records: StoredDrillRecord[], system: System): string[][] {
  return records.map((r) => [
    formatLocal(new Date(r.startedAt), system.timezone),
    r.database,
    r.source,
    r.outcome,
    r.restoreMs === undefined ? "—" : formatDuration(r.restoreMs),
    r.rto.verdict,
    margin(r.rto.marginMs),
    r.rpo.measuredMs === undefined ? "—" : formatDuration(r.rpo.measuredMs),
    r.rpo.verdict,
    margin(r.rpo.marginMs),
  ]);
}

/**
 * `ops drill-history --system S`: the system's drill records from its backup bucket, as a table and as
 * an SVG chart of restore time against the RTO with a linear trend and the date the trend would miss
 * the RTO. For `--system demo` with no S3 endpoint configured, reads the embedded stack's state.
 */
export async function drillHistoryCommand(
  io: CliIo,
  deps: DrillHistoryDeps,
  options: DrillHistoryOptions,
): Promise<number> {
  const system = findSystem(deps.fleet, options.system);
  const backup = checkOptions(system, options);
  const bucket = await openDrillBucket(io, { system, bucket: backup.bucket, deps, options });
  try {
    const history = await readHistory(io, { s3: bucket.s3, system, bucket: backup.bucket, options });
    if (options.json) writeHistoryJson(io, system, history);
    else writeHistoryText(io, { system, bucket: backup.bucket, history });
    return EXIT.ok;
  } finally {
    await bucket.stop?.();
  }
}

/** Bad options are refused before anything is read; the system's backup section is where records live. */
function checkOptions(system: System, options: DrillHistoryOptions): NonNullable<System["backup"]> {
  const backup = system.backup;
  if (!backup) {
    throw new ValidationError(`system "${system.id}" has no backup section: its drill records have nowhere to live`);
  }
  if (options.database && !system.databases.some((d) => d.id === options.database)) {
    throw new UnknownNameError(
      "database",
      options.database,
      system.databases.map((d) => d.id),
    );
  }
  if (options.limit !== undefined && (!Number.isInteger(options.limit) || options.limit < 1)) {
    throw new ValidationError(`--limit must be a whole number ≥ 1 (got ${options.limit})`);
  }
  return backup;
}

/** The S3 client that reads the records, and how to stop the embedded server when the demo needs one. */
async function openDrillBucket(
  io: CliIo,
  args: { system: System; bucket: string; deps: DrillHistoryDeps; options: DrillHistoryOptions },
): Promise<{ s3: S3Client; stop?: () => Promise<void> }> {
  const { system, bucket, deps, options } = args;
  if (system.id === "demo" && !io.env.AWS_ENDPOINT_URL_S3 && !io.env.AWS_ENDPOINT_URL) {
    // The demo's bucket lives in the embedded S3 server's directory: serve it for the time of the read.
    const stateDir = resolve(options.stateDir ?? io.env.OPS_STATE_DIR ?? ".state");
    const local = await startLocalS3({ directory: `${stateDir}/s3`, buckets: [bucket] });
    return { s3: local.client(), stop: () => local.stop() };
  }
  const clientsFor =
    deps.clientsFor ?? ((s) => clientsForSystem(s, { s3ForcePathStyle: parseSettings(io.env).s3ForcePathStyle }));
  return { s3: clientsFor(system).s3 };
}

/** The records read, the chart's points and trend, and where the chart was written (when there is one). */
interface History {
  records: StoredDrillRecord[];
  points: ChartPoint[];
  trend: ReturnType<typeof linearTrend>;
  out: string;
}

/** Reads the records (skipped ones reported on stderr) and writes the chart when there is something to draw. */
async function readHistory(
  io: CliIo,
  args: { s3: S3Client; system: System; bucket: string; options: DrillHistoryOptions },
): Promise<History> {
  const { s3, system, bucket, options } = args;
  const listed = await listDrillRecords(s3, {
    bucket,
    system: system.id,
    ...(options.limit ? { limit: options.limit } : {}),
  });
  const records = options.database ? listed.records.filter((r) => r.database === options.database) : listed.records;
  for (const s of listed.skipped) io.err.write(`skipped ${s.key}: ${s.reason}\n`);
  const rtoMinutes = system.dr.rtoMinutes;
  const points: ChartPoint[] = records.map((r) => ({
    at: new Date(r.startedAt),
    ...(r.outcome === "passed" && r.restoreMs !== undefined ? { restoreMinutes: r.restoreMs / 60_000 } : {}),
    outcome: r.outcome,
    label: r.summary,
  }));
  const trend = linearTrend(points, rtoMinutes);
  const out = resolve(options.out ?? `drill-history-${system.id}.svg`);
  if (records.length > 0) {
    const title = `${system.name}${options.database ? ` / ${options.database}` : ""}: restore drills against the RTO`;
    await writeFile(
      out,
      renderDrillChart({
        title,
        rtoMinutes,
        points,
        ...(trend ? { trend } : {}),
        caption: trend?.note ?? trendAbsence(points) ?? "",
        timezone: system.timezone,
      }),
    );
  }
  return { records, points, trend, out };
}

function writeHistoryJson(io: CliIo, system: System, history: History): void {
  const { records, trend, out } = history;
  writeJson(io, {
    system: system.id,
    rtoMinutes: system.dr.rtoMinutes,
    rpoMinutes: system.dr.rpoMinutes,
    records,
    trend: trend
      ? { slopeMinutesPerWeek: trend.slopePerDay * 7, crossing: trend.crossing?.toISOString(), note: trend.note }
      : null,
    chart: records.length > 0 ? out : null,
  });
}

function writeHistoryText(io: CliIo, args: { system: System; bucket: string; history: History }): void {
  const { system, bucket, history } = args;
  const { records, points, trend, out } = history;
  io.out.write(
    `${system.name} (${system.id}): RTO ${formatTarget(system.dr.rtoMinutes * 60_000)}, RPO ${formatTarget(system.dr.rpoMinutes * 60_000)}, drills from ${system.dr.drillSource}\n`,
  );
  if (records.length === 0) {
    io.out.write(`no drill records under s3://${bucket}/drills/${system.id}/ yet\n`);
    return;
  }
  io.out.write(
    `${table(
      ["started", "database", "source", "outcome", "restore", "RTO", "RTO margin", "RPO age", "RPO", "RPO margin"],
      rows(records, system),
    )}\n`,
  );
  io.out.write(`${foldLine("", trend?.note ?? trendAbsence(points), "  ")}\n`);
  io.out.write(`chart: ${out}\n`);
}
