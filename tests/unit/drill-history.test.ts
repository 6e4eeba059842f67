import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { drillHistoryCommand } from "../../cli/commands/drill-history.js";
import type { CliIo } from "../../cli/io.js";
import { buildDrillRecord } from "../../runbooks/restore-drill/outcome.js";
import { drillRecordKey } from "../../runbooks/restore-drill/record.js";
import { builtinFleet } from "../../systems/index.js";
import { testClients } from "../helpers/context.js";

const s3Mock = mockClient(S3Client);
const fleet = builtinFleet();
const partpal = fleet.systems.find((s) => s.id === "partpal-ims");
if (!partpal) throw new Error("no partpal-ims");

/** Monthly PartPal drills getting 2 minutes slower each month; one failed. */
function history(): Map<string, string> {
  const objects = new Map<string, string>();
  for (let month = 0; month < 5; month++) {
    const startedAt = new Date(Date.UTC(2026, 5 + month, 7, 2, 30));
    const failed = month === 3;
    const record = buildDrillRecord({
      drillId: `partpal-ims/main/${month}`,
      system: partpal as NonNullable<typeof partpal>,
      database: "main",
      source: "pg_dump",
      startedAt,
      finishedAt: startedAt,
      ...(failed
        ? { failure: "checksum mismatch" }
        : { validatedAt: new Date(startedAt.getTime() + (12 + 2 * month) * 60_000) }),
      recoveryPoint: new Date(startedAt.getTime() - 90 * 60_000),
      recoveryPointUsable: !failed,
      restoredFrom: {},
      scratch: "x",
      checks: [],
      cleanup: { status: "removed" },
      warnings: [],
    });
    objects.set(drillRecordKey("partpal-ims", "main", startedAt), JSON.stringify(record));
  }
  objects.set("drills/partpal-ims/pending/drill-partpal-ims-main-x.json", "{}");
  objects.set("drills/partpal-ims/20260101T000000Z-main.json", "{not json");
  return objects;
}

function io(): CliIo & { output: () => string; errors: () => string } {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = "";
  let e = "";
  out.on("data", (d) => {
    o += d;
  });
  err.on("data", (d) => {
    e += d;
  });
  return { out, err, env: {}, now: () => new Date("2026-11-21T10:00:00Z"), output: () => o, errors: () => e };
}

describe("ops drill-history", () => {
  let dir: string;

  beforeEach(async () => {
    s3Mock.reset();
    dir = await mkdtemp(join(tmpdir(), "ops-drill-history-"));
    const objects = history();
    s3Mock.on(ListObjectsV2Command).callsFake((input: { Prefix?: string }) => ({
      IsTruncated: false,
      Contents: [...objects.keys()].filter((k) => k.startsWith(input.Prefix ?? "")).map((Key) => ({ Key, Size: 1 })),
    }));
    s3Mock.on(GetObjectCommand).callsFake((input: { Key: string }) => {
      const text = objects.get(input.Key) ?? "";
      return { Body: { transformToString: async () => text } };
    });
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("prints the history, the trend and the date the RTO would be missed, and writes the chart", async () => {
    const cli = io();
    const out = join(dir, "chart.svg");
    const code = await drillHistoryCommand(
      cli,
      { fleet, clientsFor: () => testClients() },
      { system: "partpal-ims", json: false, out },
    );
    expect(code).toBe(0);
    const text = cli.output();
    expect(text).toContain("RTO 30 min, RPO 24 h, drills from pg_dump");
    // 4 passed + 1 failed, the pending plan not counted, the bad file reported on stderr.
    expect(text.split("\n").filter((l) => /pg_dump\s+(passed|failed)/.test(l))).toHaveLength(5);
    // The table fits 100 columns: the start time folds under its date within its column.
    expect(text).toMatch(
      /2026-06-07\s+main\s+pg_dump\s+passed\s+12m00s\s+met\s+\+18m00s\s+1h30m\s+met\s+\+22h30m\n04:30 \+02:00\n/,
    );
    expect(text.split("\n").filter((line) => line.length > 100)).toEqual([]);
    expect(cli.errors()).toContain("skipped drills/partpal-ims/20260101T000000Z-main.json");
    // 12, 14, 16, (failed), 20 minutes: about +0.47 min/week, reaching 30 min in early 2027.
    expect(text.replace(/\n {2}/g, " ")).toMatch(
      /the RTO \(30 min\) would be missed around 2027-0\d-\d\d if the trend holds/,
    );
    const svg = await readFile(out, "utf8");
    expect(svg).toContain('class="trend"');
    expect(svg.match(/class="drill"/g)).toHaveLength(4);
    expect(svg.match(/class="failed"/g)).toHaveLength(1);
    expect(text).toContain(`chart: ${out}`);
  });

  it("prints JSON with the trend for machines", async () => {
    const cli = io();
    await drillHistoryCommand(
      cli,
      { fleet, clientsFor: () => testClients() },
      { system: "partpal-ims", json: true, out: join(dir, "c.svg") },
    );
    const parsed = JSON.parse(cli.output()) as { records: unknown[]; trend: { crossing: string } };
    expect(parsed.records).toHaveLength(5);
    expect(parsed.trend.crossing).toMatch(/^2027-/);
  });

  it("rejects an unknown system with the list of known ones", async () => {
    await expect(
      drillHistoryCommand(io(), { fleet, clientsFor: () => testClients() }, { system: "nope", json: false }),
    ).rejects.toThrow(/unknown system "nope"/);
  });
});
