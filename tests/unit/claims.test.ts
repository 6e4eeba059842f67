import { RDSClient } from "@aws-sdk/client-rds";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type PutObjectCommandInput,
  S3Client,
} from "@aws-sdk/client-s3";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { type Claim, claimObject, releaseClaim, renewClaim } from "../../lib/s3-claim.js";
import { backupRunbook } from "../../runbooks/backup/index.js";
import { runExclusive } from "../../runbooks/exclusive.js";
import { ReportBuilder } from "../../runbooks/report.js";
import { restoreDrillRunbook } from "../../runbooks/restore-drill/index.js";
import { listDrillRecords } from "../../runbooks/restore-drill/record.js";
import { testContext } from "../helpers/context.js";

const s3Mock = mockClient(S3Client);
const secretsMock = mockClient(SecretsManagerClient);
const rdsMock = mockClient(RDSClient);
const s3 = new S3Client({ region: "us-east-1" });
const now = new Date("2026-11-21T03:00:05Z");
const where = { s3, bucket: "ops-autopilot-demo", key: "pg_dump/demo/inventory/in-progress.json" };

/** What S3 answers when a conditional write's condition does not hold. */
const preconditionFailed = () =>
  Object.assign(new Error("At least one of the pre-conditions you specified did not hold"), {
    name: "PreconditionFailed",
    $metadata: { httpStatusCode: 412 },
  });

const stored = (claim: Claim, etag = '"etag-1"') => ({
  ETag: etag,
  Body: { transformToString: async () => JSON.stringify(claim) } as never,
});

const other = (expiresAt: string): Claim => ({
  holder: "run-other",
  startedAt: "2026-11-21T03:00:01.000Z",
  expiresAt,
});

const puts = () => s3Mock.commandCalls(PutObjectCommand).map((call) => call.args[0].input as PutObjectCommandInput);

beforeEach(() => {
  s3Mock.reset();
  secretsMock.reset();
  rdsMock.reset();
});

describe("claimObject (lib/s3-claim)", () => {
  it("creates the claim only if absent, with the lease in it", async () => {
    s3Mock.on(PutObjectCommand).resolves({});
    const result = await claimObject({ ...where, holder: "run-1", now, leaseMs: 16 * 60_000 });
    expect(result).toEqual({ claimed: true });
    expect(puts()).toHaveLength(1);
    expect(puts()[0]).toMatchObject({ Key: where.key, IfNoneMatch: "*", ServerSideEncryption: "AES256" });
    expect(JSON.parse(String(puts()[0]?.Body))).toEqual({
      holder: "run-1",
      startedAt: "2026-11-21T03:00:05.000Z",
      expiresAt: "2026-11-21T03:16:05.000Z",
    });
  });

  it("a live claim of another run: not claimed, says whose, writes nothing more", async () => {
    s3Mock.on(PutObjectCommand).rejects(preconditionFailed());
    s3Mock.on(GetObjectCommand).resolves(stored(other("2026-11-21T03:16:01.000Z")));
    const result = await claimObject({ ...where, holder: "run-2", now, leaseMs: 60_000 });
    expect(result).toEqual({ claimed: false, heldBy: other("2026-11-21T03:16:01.000Z") });
    expect(puts()).toHaveLength(1);
  });

  it("our own create, retried by the SDK after a lost response, is ours", async () => {
    s3Mock.on(PutObjectCommand).rejects(preconditionFailed());
    s3Mock.on(GetObjectCommand).resolves(stored({ ...other("2026-11-21T04:00:00.000Z"), holder: "run-1" }));
    expect(await claimObject({ ...where, holder: "run-1", now, leaseMs: 60_000 })).toEqual({
      claimed: true,
      etag: '"etag-1"',
    });
  });

  it("a stale claim (its run died) is taken over only if unchanged since read (If-Match its ETag)", async () => {
    const stale = other("2026-11-20T03:16:01.000Z");
    s3Mock.on(PutObjectCommand, { IfNoneMatch: "*" }).rejects(preconditionFailed());
    s3Mock.on(PutObjectCommand, { IfMatch: '"etag-stale"' }).resolves({});
    s3Mock.on(GetObjectCommand).resolves(stored(stale, '"etag-stale"'));
    const result = await claimObject({ ...where, holder: "run-3", now, leaseMs: 60_000 });
    expect(result).toEqual({ claimed: true, takenOver: stale });
    expect(puts().map((p) => p.IfMatch ?? p.IfNoneMatch)).toEqual(["*", '"etag-stale"']);
  });

  it("two runs taking over the same stale claim: the one whose If-Match fails is not claimed", async () => {
    const stale = other("2026-11-20T03:16:01.000Z");
    const winner: Claim = {
      holder: "run-4",
      startedAt: now.toISOString(),
      expiresAt: "2026-11-21T03:20:00.000Z",
    };
    s3Mock.on(PutObjectCommand).rejects(preconditionFailed());
    s3Mock.on(GetObjectCommand).resolvesOnce(stored(stale, '"etag-stale"')).resolves(stored(winner, '"etag-2"'));
    const result = await claimObject({ ...where, holder: "run-5", now, leaseMs: 60_000 });
    expect(result).toEqual({ claimed: false, heldBy: winner });
  });

  it("a stale claim deleted before the takeover lands (404) is created afresh", async () => {
    s3Mock
      .on(PutObjectCommand, { IfNoneMatch: "*" })
      .rejectsOnce(preconditionFailed())
      .resolves({ ETag: '"etag-new"' });
    s3Mock
      .on(PutObjectCommand, { IfMatch: '"etag-stale"' })
      .rejects(Object.assign(new Error("Not Found"), { name: "NoSuchKey" }));
    s3Mock.on(GetObjectCommand).resolves(stored(other("2026-11-20T03:16:01.000Z"), '"etag-stale"'));
    const result = await claimObject({ ...where, holder: "run-7", now, leaseMs: 60_000 });
    expect(result).toEqual({ claimed: true, etag: '"etag-new"' });
    expect(puts().map((p) => p.IfMatch ?? p.IfNoneMatch)).toEqual(["*", '"etag-stale"', "*"]);
  });

  it("after a lost takeover race, a winner's claim that is itself stale is not reported as holding", async () => {
    const stale = other("2026-11-20T03:16:01.000Z");
    s3Mock.on(PutObjectCommand).rejects(preconditionFailed());
    s3Mock.on(GetObjectCommand).resolves(stored(stale, '"etag-stale"'));
    await expect(claimObject({ ...where, holder: "run-8", now, leaseMs: 60_000 })).rejects.toThrow(
      /could not claim .*: 4 conditional writes conflicted/,
    );
  });

  it("other S3 errors are not taken for a held claim", async () => {
    s3Mock.on(PutObjectCommand).rejects(Object.assign(new Error("Access Denied"), { name: "AccessDenied" }));
    await expect(claimObject({ ...where, holder: "run-6", now, leaseMs: 60_000 })).rejects.toThrow(/Access Denied/);
    expect(s3Mock.commandCalls(GetObjectCommand)).toHaveLength(0);
  });
});

describe("renewClaim", () => {
  it("extends the lease of our own version only (If-Match), keeping the start", async () => {
    s3Mock.on(PutObjectCommand).resolves({ ETag: '"etag-2"' });
    const later = new Date("2026-11-21T05:00:00Z");
    const renewed = await renewClaim({
      ...where,
      holder: "run-1",
      now: later,
      startedAt: now,
      leaseMs: 15 * 60_000,
      etag: '"etag-1"',
    });
    expect(renewed).toEqual({ etag: '"etag-2"' });
    expect(puts()[0]).toMatchObject({ IfMatch: '"etag-1"' });
    expect(JSON.parse(String(puts()[0]?.Body))).toEqual({
      holder: "run-1",
      startedAt: "2026-11-21T03:00:05.000Z",
      expiresAt: "2026-11-21T05:15:00.000Z",
    });
  });
});

describe("releaseClaim", () => {
  it("with our version's ETag: one conditional delete; a claim replaced meanwhile (412) stays", async () => {
    s3Mock.on(DeleteObjectCommand).rejects(preconditionFailed());
    await releaseClaim({ ...where, holder: "run-1", etag: '"etag-1"' });
    expect(s3Mock.commandCalls(DeleteObjectCommand).map((c) => c.args[0].input.IfMatch)).toEqual(['"etag-1"']);
    expect(s3Mock.commandCalls(GetObjectCommand)).toHaveLength(0);
  });

  it("deletes the claim while it is this run's", async () => {
    s3Mock.on(GetObjectCommand).resolves(stored({ ...other("2026-11-21T04:00:00.000Z"), holder: "run-1" }));
    s3Mock.on(DeleteObjectCommand).resolves({});
    await releaseClaim({ ...where, holder: "run-1" });
    expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(1);
  });

  it("leaves the claim of a run that took over after this one's lease ran out", async () => {
    s3Mock.on(GetObjectCommand).resolves(stored(other("2026-11-21T04:00:00.000Z")));
    await releaseClaim({ ...where, holder: "run-1" });
    expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
  });
});

describe("backup runbook, a duplicate event while the first run is still dumping", () => {
  const held = other("2026-11-21T03:16:01.000Z");

  it("reports skipped with whose claim and until when, and touches neither backups nor credentials", async () => {
    s3Mock.on(PutObjectCommand).rejects(preconditionFailed());
    s3Mock.on(GetObjectCommand).resolves(stored(held));
    const ctx = testContext({ system: "demo", now });
    const report = await backupRunbook.run(ctx, { force: false, minIntervalMinutes: 60 });
    expect(report.status).toBe("skipped");
    expect(report.actions).toHaveLength(1);
    expect(report.actions[0]?.reason).toMatch(
      /another run has been taking this backup since 2026-11-21T03:00:01.000Z .*in-progress\.json holds until 2026-11-21T03:16:01.000Z/,
    );
    expect(s3Mock.commandCalls(ListObjectsV2Command)).toHaveLength(0);
    expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(0);
    expect(secretsMock.calls()).toHaveLength(0);
  });

  it("a dry run reads the claim and says it would skip, writing nothing", async () => {
    s3Mock.on(GetObjectCommand).resolves(stored(held));
    const ctx = testContext({ system: "demo", now, dryRun: true });
    const report = await backupRunbook.run(ctx, { force: false, minIntervalMinutes: 60 });
    expect(report.actions.map((a) => a.status)).toEqual(["skipped"]);
    expect(puts()).toHaveLength(0);
  });
});

describe("restore-drill runbook, a duplicate schedule event seconds after the first", () => {
  const held = other("2026-11-21T03:16:01.000Z");

  it("RDS drill: skipped while the first run holds the drill's claim; no restore requested", async () => {
    s3Mock.on(PutObjectCommand).rejects(preconditionFailed());
    s3Mock.on(GetObjectCommand).resolves(stored(held));
    const ctx = testContext({ system: "flash-sale", now });
    const report = await restoreDrillRunbook.run(ctx, {});
    expect(report.actions.map((a) => [a.resource, a.status])).toEqual([["flash-sale/main", "skipped"]]);
    expect(report.actions[0]?.reason).toMatch(
      /another run has been taking this drill since .*drills\/flash-sale\/claims\/main\.json/,
    );
    expect(rdsMock.calls()).toHaveLength(0);
  });

  it("claims live beside the drill records and are never read as one", async () => {
    s3Mock.on(ListObjectsV2Command).resolves({
      Contents: [{ Key: "drills/demo/claims/inventory.json" }, { Key: "drills/demo/pending/claims/x.json" }],
    });
    const { records, skipped } = await listDrillRecords(s3, { bucket: "b", system: "demo" });
    expect({ records, skipped }).toEqual({ records: [], skipped: [] });
    expect(s3Mock.commandCalls(GetObjectCommand)).toHaveLength(0);
  });
});

describe("runExclusive", () => {
  const options = {
    bucket: where.bucket,
    key: where.key,
    resource: "demo/inventory",
    action: "backup",
    what: "this backup",
  };

  /** A plain process (no deadline) whose work takes 250 ms, renewing a 1 s lease every 40 ms. */
  async function runRenewing() {
    s3Mock.on(DeleteObjectCommand).resolves({});
    const ctx = testContext({ system: "demo", now });
    const work = () => new Promise<void>((resolve) => setTimeout(resolve, 250));
    const lease = { leaseMs: 1000, renewEveryMs: 40 };
    await runExclusive(ctx, new ReportBuilder(ctx, "backup"), { ...options, processLease: lease }, work);
    return { ctx, conditions: puts().map((p) => p.IfMatch ?? p.IfNoneMatch) };
  }

  it("a plain process renews its lease while the work runs, and releases the latest version", async () => {
    let version = 0;
    s3Mock.on(PutObjectCommand).callsFake(() => ({ ETag: `"v${++version}"` }));
    const { conditions } = await runRenewing();
    expect(conditions[0]).toBe("*");
    expect(conditions.length).toBeGreaterThanOrEqual(3);
    // Each renewal is conditional on the version the previous write returned.
    expect(conditions.slice(1)).toEqual(conditions.slice(1).map((_, i) => `"v${i + 1}"`));
    const deletes = s3Mock.commandCalls(DeleteObjectCommand).map((c) => c.args[0].input.IfMatch);
    expect(deletes).toEqual([`"v${version}"`]);
  });

  const lambdaCtx = () => ({
    ...testContext({ system: "demo", now, deadline: new Date("2026-11-21T03:14:35Z") }),
    runId: "req-1",
  });

  it("Lambda's retry of a failed event (same request id, a minute or more later) takes its dead attempt's claim back", async () => {
    const dead: Claim = {
      holder: "attempt-1",
      runId: "req-1",
      startedAt: "2026-11-21T02:58:00.000Z",
      expiresAt: "2026-11-21T03:13:00.000Z",
    };
    s3Mock.on(PutObjectCommand, { IfNoneMatch: "*" }).rejects(preconditionFailed());
    s3Mock.on(PutObjectCommand, { IfMatch: '"etag-dead"' }).resolves({ ETag: '"etag-retry"' });
    s3Mock.on(GetObjectCommand).resolves(stored(dead, '"etag-dead"'));
    s3Mock.on(DeleteObjectCommand).resolves({});
    const ctx = lambdaCtx();
    let ran = false;
    await runExclusive(ctx, new ReportBuilder(ctx, "backup"), options, async () => {
      ran = true;
    });
    expect(ran).toBe(true);
    expect(JSON.parse(String(puts()[1]?.Body))).toMatchObject({
      runId: "req-1",
      expiresAt: "2026-11-21T03:15:35.000Z",
    });
    expect(s3Mock.commandCalls(DeleteObjectCommand).map((c) => c.args[0].input.IfMatch)).toEqual(['"etag-retry"']);
  });

  it("a duplicate delivery with the same request id, seconds apart, is skipped", async () => {
    const running: Claim = {
      holder: "attempt-1",
      runId: "req-1",
      startedAt: "2026-11-21T03:00:01.000Z",
      expiresAt: "2026-11-21T03:15:35.000Z",
    };
    // A takeover (If-Match) would succeed: only the rule about the claim's age stops it.
    s3Mock.on(PutObjectCommand).callsFake((input: PutObjectCommandInput) => {
      if (input.IfNoneMatch) throw preconditionFailed();
      return { ETag: '"etag-2"' };
    });
    s3Mock.on(GetObjectCommand).resolves(stored(running));
    const ctx = lambdaCtx();
    const report = new ReportBuilder(ctx, "backup");
    let ran = false;
    await runExclusive(ctx, report, options, async () => {
      ran = true;
    });
    expect(ran).toBe(false);
    expect(report.actions.map((a) => a.status)).toEqual(["skipped"]);
    expect(puts()).toHaveLength(1);
  });

  it("a renewal that fails for another reason (a timeout) keeps the claim and tries again on the next tick", async () => {
    let version = 0;
    let timedOut = false;
    s3Mock.on(PutObjectCommand).callsFake((input: PutObjectCommandInput) => {
      if (input.IfMatch && !timedOut) {
        timedOut = true;
        throw Object.assign(new Error("socket hang up"), { name: "TimeoutError" });
      }
      return { ETag: `"v${++version}"` };
    });
    const { ctx, conditions } = await runRenewing();
    // The failed renewal of v1 is tried again with v1, then renewals go on.
    expect(conditions.slice(0, 3)).toEqual(["*", '"v1"', '"v1"']);
    expect(conditions.length).toBeGreaterThanOrEqual(4);
    expect(ctx.logLines().some((l) => String(l.message).startsWith("could not renew the claim; trying again"))).toBe(
      true,
    );
  });

  it("the claim is released when the work throws, and the error goes on", async () => {
    s3Mock.on(PutObjectCommand).resolves({ ETag: '"v1"' });
    s3Mock.on(DeleteObjectCommand).resolves({});
    const ctx = testContext({ system: "demo", now, deadline: new Date("2026-11-21T03:14:35Z") });
    await expect(
      runExclusive(ctx, new ReportBuilder(ctx, "backup"), options, async () => {
        throw new Error("pg_dump exploded");
      }),
    ).rejects.toThrow("pg_dump exploded");
    expect(JSON.parse(String(puts()[0]?.Body)).expiresAt).toBe("2026-11-21T03:15:35.000Z");
    expect(s3Mock.commandCalls(DeleteObjectCommand)).toHaveLength(1);
  });
});
