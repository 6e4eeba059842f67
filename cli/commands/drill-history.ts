import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { type AwsClients, clientsForSystem } from "../../lib/aws/clients.js";
import { UnknownNameError, ValidationError } from "../../lib/errors.js";
import { type Fleet, findSystem } from "../../lib/fleet.js";
import { startLocalS3 } from "../../lib/local/s3.js";
import { formatLocal } from "../../lib/timezone.js";
import { type ChartPoint, linearTrend, renderDrillChart, trendAbsence } from "../../runbooks/restore-drill/chart.js";
import { listDrillRecords, type StoredDrillRecord } from "../../runbooks/restore-drill/record.js";
import { formatDuration, formatTarget } from "../../runbooks/restore-drill/verdict.js";
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
  let s3: S3Client;
  let stop: (() => Promise<void>) | undefined;
  if (system.id === "demo" && !io.env.AWS_ENDPOINT_URL_S3 && !io.env.AWS_ENDPOINT_URL) {
    // The demo's bucket lives in the embedded S3 server's directory: serve it for the time of the read.
    const stateDir = resolve(options.stateDir ?? io.env.OPS_STATE_DIR ?? ".state");
    const local = await startLocalS3({ directory: `${stateDir}/s3`, buckets: [backup.bucket] });
    s3 = local.client();
    stop = () => local.stop();
  } else {
    s3 = (
      deps.clientsFor ?? ((s) => clientsForSystem(s, { s3ForcePathStyle: io.env.OPS_S3_FORCE_PATH_STYLE === "1" }))
    )(system).s3;
  }
  try {
    const listed = await listDrillRecords(s3, {
      bucket: backup.bucket,
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
    if (options.json) {
      writeJson(io, {
        system: system.id,
        rtoMinutes,
        rpoMinutes: system.dr.rpoMinutes,
        records,
        trend: trend
          ? { slopeMinutesPerWeek: trend.slopePerDay * 7, crossing: trend.crossing?.toISOString(), note: trend.note }
          : null,
        chart: records.length > 0 ? out : null,
      });
      return EXIT.ok;
    }
    io.out.write(
      `${system.name} (${system.id}): RTO ${formatTarget(rtoMinutes * 60_000)}, RPO ${formatTarget(system.dr.rpoMinutes * 60_000)}, drills from ${system.dr.drillSource}\n`,
    );
    if (records.length === 0) {
      io.out.write(`no drill records under s3://${backup.bucket}/drills/${system.id}/ yet\n`);
      return EXIT.ok;
    }
    io.out.write(
      `${table(
        ["started", "database", "source", "outcome", "restore", "RTO", "RTO margin", "RPO age", "RPO", "RPO margin"],
        rows(records, system),
      )}\n`,
    );
    io.out.write(`${foldLine("", trend?.note ?? trendAbsence(points), "  ")}\n`);
    io.out.write(`chart: ${out}\n`);
    return EXIT.ok;
  } finally {
    await stop?.();
  }
}
