import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  AddTagsToResourceCommand,
  type DBInstance,
  DBInstanceAlreadyExistsFault,
  DBInstanceNotFoundFault,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  DescribeDBSnapshotsCommand,
  ListTagsForResourceCommand,
  RDSClient,
  RestoreDBInstanceFromDBSnapshotCommand,
  RestoreDBInstanceToPointInTimeCommand,
} from "@aws-sdk/client-rds";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import "aws-sdk-client-mock-vitest/extend";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { CheckResult } from "../../lib/postgres/checks.js";
import {
  drillEventPattern,
  rdsInstanceEventDetailSchema,
  rdsInstanceEventSchema,
} from "../../runbooks/drill-continue/events.js";
import { drillContinueRunbook } from "../../runbooks/drill-continue/index.js";
import { continueRdsDrill, type ValidateFn } from "../../runbooks/drill-continue/rds-continue.js";
import { drillJanitorRunbook } from "../../runbooks/drill-janitor/index.js";
import { ReportBuilder } from "../../runbooks/report.js";
import { restoreDrillRunbook } from "../../runbooks/restore-drill/index.js";
import { findDrillOwner } from "../../runbooks/restore-drill/names.js";
import type { DrillRecord } from "../../runbooks/restore-drill/record.js";
import { drillCatalogueSchema } from "../../runbooks/restore-drill/settings.js";
import { builtinFleet } from "../../systems/index.js";
import { ACCOUNT_ID } from "../helpers/aws-account.js";
import { testContext } from "../helpers/context.js";

const FIXTURES = join(import.meta.dirname, "../fixtures");
const DATE_KEYS = new Set([
  "InstanceCreateTime",
  "LatestRestorableTime",
  "SnapshotCreateTime",
  "OriginalSnapshotCreateTime",
  "SnapshotDatabaseTime",
  "ValidTill",
]);

/** Loads a fixture; timestamps become Dates, as the SDK deserialises them. */
function fixture<T = Record<string, unknown>>(name: string): T {
  const revive = (value: unknown, key = ""): unknown => {
    if (typeof value === "string" && DATE_KEYS.has(key)) return new Date(value);
    if (Array.isArray(value)) return value.map((v) => revive(v));
    if (value && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(v, k)]));
    }
    return value;
  };
  return revive(JSON.parse(readFileSync(join(FIXTURES, name), "utf8"))) as T;
}

const eventDetail = (name: string) => drillContinueRunbook.input.parse(fixture<{ detail: unknown }>(name).detail);

const rdsMock = mockClient(RDSClient);
const s3Mock = mockClient(S3Client);
const secretsMock = mockClient(SecretsManagerClient);

/** A small RDS account: instances with tags; tags and deletions change them as RDS would. */
class FakeRds {
  readonly instances = new Map<string, DBInstance>();

  constructor() {
    rdsMock.on(DescribeDBInstancesCommand).callsFake((input: { DBInstanceIdentifier?: string }) => {
      if (input.DBInstanceIdentifier) {
        const instance = this.instances.get(input.DBInstanceIdentifier);
        if (!instance) {
          throw new DBInstanceNotFoundFault({
            message: `DBInstance ${input.DBInstanceIdentifier} not found.`,
            $metadata: { httpStatusCode: 404 },
          });
        }
        return { DBInstances: [structuredClone(instance)] };
      }
      return { DBInstances: [...this.instances.values()].map((i) => structuredClone(i)) };
    });
    rdsMock.on(ListTagsForResourceCommand).callsFake((input: { ResourceName: string }) => ({
      TagList: structuredClone(this.byArn(input.ResourceName)?.TagList ?? []),
    }));
    rdsMock
      .on(AddTagsToResourceCommand)
      .callsFake((input: { ResourceName: string; Tags: { Key: string; Value: string }[] }) => {
        const instance = this.byArn(input.ResourceName);
        if (instance) {
          const tags = new Map((instance.TagList ?? []).map((t) => [t.Key, t.Value]));
          for (const tag of input.Tags) tags.set(tag.Key, tag.Value);
          instance.TagList = [...tags].map(([Key, Value]) => ({ Key, Value }));
        }
        return {};
      });
    rdsMock.on(DeleteDBInstanceCommand).callsFake((input: { DBInstanceIdentifier: string }) => {
      const instance = this.instances.get(input.DBInstanceIdentifier);
      if (!instance) {
        throw new DBInstanceNotFoundFault({ message: "DBInstance not found.", $metadata: { httpStatusCode: 404 } });
      }
      instance.DBInstanceStatus = "deleting";
      return { ...fixture("rds-delete-db-instance.json"), DBInstance: { ...structuredClone(instance) } };
    });
  }

  add(instance: DBInstance): DBInstance {
    this.instances.set(instance.DBInstanceIdentifier ?? "", instance);
    return instance;
  }

  byArn(arn: string): DBInstance | undefined {
    return [...this.instances.values()].find((i) => i.DBInstanceArn === arn);
  }

  tag(id: string, key: string): string | undefined {
    return this.instances.get(id)?.TagList?.find((t) => t.Key === key)?.Value;
  }
}

/** An S3 bucket in memory (records and plans). */
class FakeS3 {
  readonly objects = new Map<string, string>();

  constructor() {
    s3Mock.on(PutObjectCommand).callsFake((input: { Key: string; Body: string; IfNoneMatch?: string }) => {
      if (input.IfNoneMatch === "*" && this.objects.has(input.Key)) {
        throw new S3ServiceException({
          name: "PreconditionFailed",
          $fault: "client",
          $metadata: { httpStatusCode: 412 },
          message: "At least one of the pre-conditions you specified did not hold",
        });
      }
      this.objects.set(input.Key, String(input.Body));
      return { ETag: '"0a1b2c3d4e5f"', ServerSideEncryption: "AES256" };
    });
    s3Mock.on(GetObjectCommand).callsFake((input: { Key: string }) => {
      const text = this.objects.get(input.Key);
      if (text === undefined) throw new NoSuchKey({ message: "The specified key does not exist.", $metadata: {} });
      return {
        ContentType: "application/json",
        ContentLength: text.length,
        Body: { transformToString: async () => text, transformToByteArray: async () => Buffer.from(text) },
      };
    });
    s3Mock.on(DeleteObjectCommand).callsFake((input: { Key: string }) => {
      this.objects.delete(input.Key);
      return {};
    });
    s3Mock.on(ListObjectsV2Command).callsFake((input: { Prefix?: string }) => ({
      IsTruncated: false,
      KeyCount: this.objects.size,
      Contents: [...this.objects.keys()]
        .filter((k) => k.startsWith(input.Prefix ?? ""))
        .map((Key) => ({ Key, Size: this.objects.get(Key)?.length ?? 0 })),
    }));
  }

  json(key: string): unknown {
    const text = this.objects.get(key);
    return text === undefined ? undefined : JSON.parse(text);
  }

  keys(prefix: string): string[] {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix));
  }
}

const fleet = builtinFleet();
const flashSale = fleet.systems.find((s) => s.id === "flash-sale");
const ode = fleet.systems.find((s) => s.id === "ode");
if (!flashSale || !ode) throw new Error("catalogue lacks flash-sale or ode");

const SCRATCH = "drill-flash-sale-98e94-main-c84641-20261121t100000z";
const scratchInstance = () =>
  fixture<{ DBInstances: DBInstance[] }>("rds-describe-db-instances-drill-available.json").DBInstances[0] as DBInstance;
const sourceInstance = () =>
  fixture<{ DBInstances: DBInstance[] }>("rds-describe-db-instances-flash-sale-db.json").DBInstances[0] as DBInstance;

let rds: FakeRds;
let s3: FakeS3;

beforeEach(() => {
  rdsMock.reset();
  s3Mock.reset();
  secretsMock.reset();
  rds = new FakeRds();
  s3 = new FakeS3();
  // The source database's RDS-format secret; validation reuses its user and password on the copy.
  secretsMock.on(GetSecretValueCommand).resolves({
    ARN: `arn:aws:secretsmanager:ap-south-1:${ACCOUNT_ID}:secret:flash-sale/db-password-a1B2c3`,
    Name: "flash-sale/db-password",
    VersionId: "EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE",
    SecretString: JSON.stringify({
      username: "flashsale",
      password: "s3cret-Passw0rd",
      engine: "postgres",
      host: "flash-sale-db.c9akciq32.ap-south-1.rds.amazonaws.com",
      port: 5432,
      dbname: "flashsale",
    }),
    VersionStages: ["AWSCURRENT"],
    CreatedDate: new Date("2025-03-02T08:45:00Z"),
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});

const at = (iso: string) => () => new Date(iso);

describe("restore-drill, rds-pitr (Flash Sale)", () => {
  beforeEach(() => {
    rds.add(sourceInstance());
    rdsMock
      .on(RestoreDBInstanceToPointInTimeCommand)
      .resolves(fixture("rds-restore-db-instance-to-point-in-time.json"));
    // The source's statistics are read through its secret; here the secret is missing (a warning, not a failure).
    secretsMock
      .on(GetSecretValueCommand)
      .rejects(
        new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret.", $metadata: {} }),
      );
  });

  it("starts a point-in-time restore into a small, private, tagged scratch instance and returns at once", async () => {
    const ctx = testContext({ system: flashSale, now: at("2026-11-21T10:00:00Z") });
    const report = await restoreDrillRunbook.run(ctx, restoreDrillRunbook.input.parse({}));
    expect(report.status, report.summary).toBe("succeeded");
    expect(rdsMock).toHaveReceivedCommandTimes(RestoreDBInstanceToPointInTimeCommand, 1);
    const call = rdsMock.commandCalls(RestoreDBInstanceToPointInTimeCommand)[0]?.args[0].input;
    expect(call).toMatchObject({
      SourceDBInstanceIdentifier: "flash-sale-db",
      TargetDBInstanceIdentifier: SCRATCH,
      RestoreTime: new Date("2026-11-21T09:55:12.000Z"),
      DBInstanceClass: "db.t4g.small",
      MultiAZ: false,
      PubliclyAccessible: false,
      DeletionProtection: false,
      BackupRetentionPeriod: 0,
      DBSubnetGroupName: "flash-sale-db-subnets",
      VpcSecurityGroupIds: ["sg-0a1b2c3d4e5f60718"],
    });
    const tags = new Map(call?.Tags?.map((t) => [t.Key, t.Value]));
    expect(Object.fromEntries(tags)).toMatchObject({
      "ops-autopilot:drill-id": "flash-sale/main/20261121t100000z",
      "ops-autopilot:system": "flash-sale",
      "ops-autopilot:drill-started": "2026-11-21T10:00:00.000Z",
      // max(3 × 30 min, 180 min) for an RDS drill
      "ops-autopilot:drill-deadline": "2026-11-21T13:00:00.000Z",
      "ops-autopilot:drill-state": "restoring",
      "ops-autopilot:recovery-point": "2026-11-21T09:55:12.000Z",
    });
    // The plan for the continuation is in the bucket; nothing waited for RDS.
    expect(s3.json(`drills/flash-sale/pending/${SCRATCH}.json`)).toMatchObject({
      drillId: "flash-sale/main/20261121t100000z",
      source: "rds-pitr",
      recoveryPoint: "2026-11-21T09:55:12.000Z",
    });
    expect(rdsMock).not.toHaveReceivedCommand(DeleteDBInstanceCommand);
    expect(report.metrics["recoveryPointAgeMs.main"]).toBe(288_000);
    expect(report.summary).toMatch(/1 RDS restore started .*against RPO 5 min/);
    const plan = s3.json(`drills/flash-sale/pending/${SCRATCH}.json`) as { warnings: string[] };
    expect(plan.warnings.join(" ")).toMatch(/source statistics unavailable/);
    // No SQL travels through S3: the continuation reads the checks from the catalogue.
    expect(plan).not.toHaveProperty("checks");
  });

  it("uses the configured class, subnet group and security groups", async () => {
    const ctx = testContext({ system: flashSale, now: at("2026-11-21T10:00:00Z") });
    await restoreDrillRunbook.run(
      ctx,
      restoreDrillRunbook.input.parse({
        instanceClass: "db.t4g.micro",
        subnetGroup: "drills-private",
        securityGroupIds: "sg-0123456789abcdef0,sg-0fedcba9876543210",
      }),
    );
    expect(rdsMock).toHaveReceivedCommandWith(RestoreDBInstanceToPointInTimeCommand, {
      DBInstanceClass: "db.t4g.micro",
      DBSubnetGroupName: "drills-private",
      VpcSecurityGroupIds: ["sg-0123456789abcdef0", "sg-0fedcba9876543210"],
    });
  });

  it("does not start a second drill while one is in flight", async () => {
    rds.add(scratchInstance());
    const ctx = testContext({ system: flashSale, now: at("2026-11-21T10:30:00Z") });
    const report = await restoreDrillRunbook.run(ctx, restoreDrillRunbook.input.parse({}));
    expect(report.status).toBe("skipped");
    expect(report.actions[0]?.reason).toMatch(/in progress/);
    expect(rdsMock).not.toHaveReceivedCommand(RestoreDBInstanceToPointInTimeCommand);
  });

  it("treats a duplicate start (instance already exists) as done, not as a failure", async () => {
    rdsMock
      .on(RestoreDBInstanceToPointInTimeCommand)
      .rejects(
        new DBInstanceAlreadyExistsFault({ message: "DB instance already exists", $metadata: { httpStatusCode: 400 } }),
      );
    const report = await restoreDrillRunbook.run(
      testContext({ system: flashSale, now: at("2026-11-21T10:00:00Z") }),
      restoreDrillRunbook.input.parse({}),
    );
    expect(report.status).toBe("skipped");
    expect(report.actions.at(-1)?.reason).toMatch(/already started/);
  });

  it("a dry run restores nothing and writes nothing", async () => {
    const ctx = testContext({ system: flashSale, now: at("2026-11-21T10:00:00Z"), dryRun: true });
    const report = await restoreDrillRunbook.run(ctx, restoreDrillRunbook.input.parse({}));
    expect(report.actions.map((a) => a.status)).toEqual(["would-do", "would-do"]);
    expect(rdsMock).not.toHaveReceivedCommand(RestoreDBInstanceToPointInTimeCommand);
    expect(s3Mock).not.toHaveReceivedCommand(PutObjectCommand);
  });

  it("fails clearly when the source has no point-in-time recovery", async () => {
    const source = sourceInstance();
    delete source.LatestRestorableTime;
    source.BackupRetentionPeriod = 0;
    rds.add(source);
    const report = await restoreDrillRunbook.run(
      testContext({ system: flashSale, now: at("2026-11-21T10:00:00Z") }),
      restoreDrillRunbook.input.parse({}),
    );
    expect(report.status).toBe("failed");
    expect(report.summary).toMatch(/LatestRestorableTime/);
    expect(rdsMock).not.toHaveReceivedCommand(RestoreDBInstanceToPointInTimeCommand);
  });
});

describe("restore-drill, rds-snapshot (ODE)", () => {
  it("restores the newest available snapshot, ignoring one still being created", async () => {
    const source = sourceInstance();
    Object.assign(source, {
      DBInstanceIdentifier: "ode-postgres",
      DBInstanceArn: `arn:aws:rds:us-east-1:${ACCOUNT_ID}:db:ode-postgres`,
      DBSubnetGroup: { DBSubnetGroupName: "ode-private" },
      VpcSecurityGroups: [{ VpcSecurityGroupId: "sg-0123abcd4567ef890", Status: "active" }],
    });
    rds.add(source);
    rdsMock.on(DescribeDBSnapshotsCommand).resolves(fixture("rds-describe-db-snapshots-ode-postgres.json"));
    rdsMock
      .on(RestoreDBInstanceFromDBSnapshotCommand)
      .resolves(fixture("rds-restore-db-instance-from-db-snapshot.json"));
    secretsMock.on(GetSecretValueCommand).rejects(new Error("AccessDeniedException"));
    const report = await restoreDrillRunbook.run(
      testContext({ system: ode, now: at("2026-11-21T10:00:00Z") }),
      restoreDrillRunbook.input.parse({}),
    );
    expect(report.status, report.summary).toBe("succeeded");
    expect(rdsMock).toHaveReceivedCommandWith(RestoreDBInstanceFromDBSnapshotCommand, {
      DBInstanceIdentifier: "drill-ode-87e5a-main-65a73d-20261121t100000z",
      DBSnapshotIdentifier: "rds:ode-postgres-2026-11-21-03-05",
      PubliclyAccessible: false,
      MultiAZ: false,
      DBSubnetGroupName: "ode-private",
    });
    // Recovery point = the snapshot's creation: 6 h 54 min before the drill.
    expect(report.metrics["recoveryPointAgeMs.main"]).toBe(
      new Date("2026-11-21T10:00:00Z").getTime() - new Date("2026-11-21T03:05:37.904Z").getTime(),
    );
  });
});

describe("drill-continue", () => {
  const passing: ValidateFn = async () => [
    { name: "table count", kind: "tables", status: "passed", expected: "12", actual: "12" },
    { name: "rows public.orders", kind: "rows", status: "passed", expected: "~5000 ± 10 %", actual: "5012" },
  ];

  const continueWith = async (now: string, validate: ValidateFn) => {
    const ctx = testContext({ system: flashSale, now: at(now) });
    const report = new ReportBuilder(ctx, "drill-continue");
    const record = await continueRdsDrill(ctx, report, { instanceId: SCRATCH, by: "event", validate });
    return { record, report: report.finish({ summary: record?.summary ?? "" }) };
  };

  it("parses real EventBridge payloads and maps the instance to its system", () => {
    for (const name of ["rds-event-restored-pitr.json", "rds-event-restored-snapshot.json", "rds-event-created.json"]) {
      const event = fixture<{ source: string; "detail-type": string; detail: unknown }>(name);
      expect(event.source).toBe(drillEventPattern.source[0]);
      expect(event["detail-type"]).toBe(drillEventPattern["detail-type"][0]);
      expect(rdsInstanceEventSchema.safeParse(event).success, name).toBe(true);
      const detail = rdsInstanceEventDetailSchema.parse(event.detail);
      expect(drillEventPattern.detail.EventID).toContain(detail.EventID);
      expect(detail.SourceIdentifier.startsWith(drillEventPattern.detail.SourceIdentifier[0].prefix)).toBe(true);
    }
    expect(findDrillOwner(fleet.systems, SCRATCH)?.system.id).toBe("flash-sale");
    expect(findDrillOwner(fleet.systems, "drill-ode-87e5a-main-65a73d-20261121t100000z")?.system.id).toBe("ode");
    expect(findDrillOwner(fleet.systems, "flash-sale-db")).toBeUndefined();
  });

  it("validates once available, judges RTO and RPO, deletes the instance without a final snapshot, saves the record", async () => {
    rds.add(scratchInstance());
    const validate = vi.fn(passing);
    const { record } = await continueWith("2026-11-21T10:20:00Z", validate);
    expect(validate).toHaveBeenCalledTimes(1);
    const conn = validate.mock.calls[0]?.[0];
    // The copy's own address, the source's credentials, TLS verified against the RDS CAs.
    expect(conn).toMatchObject({
      host: "drill-flash-sale-98e94-main-c84641-20261121t100000z.c9akciq32.ap-south-1.rds.amazonaws.com",
      port: 5432,
      user: "flashsale",
      database: "flashsale",
      sslmode: "verify-full",
    });
    expect(rdsMock).toHaveReceivedCommandWith(DeleteDBInstanceCommand, {
      DBInstanceIdentifier: SCRATCH,
      SkipFinalSnapshot: true,
      DeleteAutomatedBackups: true,
    });
    expect(rds.tag(SCRATCH, "ops-autopilot:drill-state")).toBe("passed");
    expect(record?.outcome).toBe("passed");
    // Started 10:00, validated 10:20: 20 min of 30 → met with 10 min to spare.
    expect(record?.rto).toMatchObject({ verdict: "met", measuredMs: 20 * 60_000, marginMs: 10 * 60_000 });
    // Latest restorable 09:55:12 at a 10:00 start: 4 min 48 s of 5 min → met, 12 s margin.
    expect(record?.rpo).toMatchObject({ verdict: "met", measuredMs: 288_000, marginMs: 12_000 });
    const saved = s3.json("drills/flash-sale/20261121T100000Z-main.json") as DrillRecord;
    expect(saved.summary).toBe(record?.summary);
    expect(saved.cleanup.status).toBe("removed");
    // The secret's password is nowhere in what was saved.
    expect(JSON.stringify([...s3.objects.values()])).not.toContain("s3cret-Passw0rd");
  });

  it("takes the SQL checks from the catalogue, never from the plan in S3, and runs them as the drill's own role", async () => {
    rds.add(scratchInstance());
    // A plan someone with bucket access rewrote to carry SQL of their own.
    s3.objects.set(
      `drills/flash-sale/pending/${SCRATCH}.json`,
      JSON.stringify({
        version: 1,
        drillId: "flash-sale/main/20261121t100000z",
        system: "flash-sale",
        database: "main",
        instanceId: SCRATCH,
        source: "rds-pitr",
        sourceInstance: "flash-sale-db",
        startedAt: "2026-11-21T10:00:00.000Z",
        deadline: "2026-11-21T13:00:00.000Z",
        recoveryPoint: "2026-11-21T09:55:12.000Z",
        tables: [],
        rowTolerancePercent: 10,
        checks: [{ name: "injected", sql: "select pg_terminate_backend(1)", expect: { rows: 1 } }],
        warnings: [],
      }),
    );
    const catalogued = { name: "orders", sql: "select count(*) from orders", expect: { min: 1 } };
    const system = {
      ...flashSale,
      dr: { ...flashSale.dr, drill: drillCatalogueSchema.parse({ checks: [catalogued] }) },
    };
    const validate = vi.fn(passing);
    const ctx = testContext({ system, now: at("2026-11-21T10:20:00Z") });
    await continueRdsDrill(ctx, new ReportBuilder(ctx, "drill-continue"), {
      instanceId: SCRATCH,
      by: "event",
      validate,
    });
    const expectations = validate.mock.calls[0]?.[1];
    expect(expectations?.checks).toEqual([catalogued]);
    expect(expectations?.checkRole).toMatchObject({
      drillId: "flash-sale/main/20261121t100000z",
      system: "flash-sale",
    });
  });

  it("reports RTO missed with its overrun when validation ends after the target", async () => {
    rds.add(scratchInstance());
    const { record } = await continueWith("2026-11-21T10:42:30Z", passing);
    expect(record?.rto).toMatchObject({ verdict: "missed", marginMs: -12.5 * 60_000 });
    expect(record?.summary).toMatch(/RTO missed: 42m30s of 30 min \(over by 12m30s\)/);
  });

  it("still deletes the instance when validation throws, and records a failed drill", async () => {
    rds.add(scratchInstance());
    const { record, report } = await continueWith("2026-11-21T10:20:00Z", async () => {
      throw new Error("connect ETIMEDOUT 10.0.3.17:5432");
    });
    expect(rdsMock).toHaveReceivedCommandWith(DeleteDBInstanceCommand, {
      DBInstanceIdentifier: SCRATCH,
      SkipFinalSnapshot: true,
    });
    expect(rds.tag(SCRATCH, "ops-autopilot:drill-state")).toBe("failed");
    expect(record?.outcome).toBe("failed");
    expect(record?.rto.verdict).toBe("missed");
    expect(report.actions.find((a) => a.action === "validate")?.reason).toMatch(/ETIMEDOUT/);
  });

  it("still deletes the instance when a custom check fails", async () => {
    rds.add(scratchInstance());
    const failing: ValidateFn = async () => [
      ...(await passing({} as never, {} as never)),
      {
        name: "orders today",
        kind: "custom",
        status: "failed",
        expected: "≥ 1 row",
        actual: "0 rows",
      } satisfies CheckResult,
    ];
    const { record } = await continueWith("2026-11-21T10:20:00Z", failing);
    expect(record?.outcome).toBe("failed");
    expect(record?.summary).toMatch(/orders today/);
    expect(rdsMock).toHaveReceivedCommandTimes(DeleteDBInstanceCommand, 1);
  });

  it("does not validate twice when the event is delivered again", async () => {
    rds.add(scratchInstance());
    const validate = vi.fn(passing);
    await continueWith("2026-11-21T10:20:00Z", validate);
    // RDS keeps the instance "deleting" for minutes: a duplicate event finds it so.
    const again = await continueWith("2026-11-21T10:21:00Z", validate);
    expect(again.record).toBeUndefined();
    expect(validate).toHaveBeenCalledTimes(1);
    expect(rdsMock).toHaveReceivedCommandTimes(DeleteDBInstanceCommand, 1);

    // And if the first deletion had failed (instance still available, state passed): delete, never validate.
    const instance = rds.instances.get(SCRATCH);
    if (instance) instance.DBInstanceStatus = "available";
    const third = await continueWith("2026-11-21T10:40:00Z", validate);
    expect(third.record).toBeUndefined();
    expect(validate).toHaveBeenCalledTimes(1);
    expect(rdsMock).toHaveReceivedCommandTimes(DeleteDBInstanceCommand, 2);
  });

  it("loses the claim to a concurrent duplicate and then does nothing", async () => {
    rds.add(scratchInstance());
    // Another invocation holds the claim (it has not tagged the instance yet).
    s3.objects.set(
      `drills/flash-sale/pending/claims/${SCRATCH}.json`,
      JSON.stringify({ instanceId: SCRATCH, holder: "validating:ffffffff" }),
    );
    const validate = vi.fn(passing);
    const { record, report } = await continueWith("2026-11-21T10:20:00Z", validate);
    expect(record).toBeUndefined();
    expect(validate).not.toHaveBeenCalled();
    expect(rdsMock).not.toHaveReceivedCommand(DeleteDBInstanceCommand);
    expect(rdsMock).not.toHaveReceivedCommand(AddTagsToResourceCommand);
    expect(report.actions[0]?.reason).toMatch(/claimed this drill first/);
  });

  it("validates once when a duplicate read the instance before the first claimed it", async () => {
    rds.add(scratchInstance());
    // The duplicate describes the instance (state "restoring"), then stalls reading the plan until the
    // first invocation has claimed, validated, tagged and deleted; a tag write-then-read-back would let
    // it win too.
    let release: () => void = () => {};
    const stalled = new Promise<void>((resolve) => {
      release = resolve;
    });
    let planReads = 0;
    s3Mock.on(GetObjectCommand, { Key: `drills/flash-sale/pending/${SCRATCH}.json` }).callsFake(async () => {
      if (++planReads === 2) await stalled;
      throw new NoSuchKey({ message: "The specified key does not exist.", $metadata: {} });
    });
    const validate = vi.fn(passing);
    const first = continueWith("2026-11-21T10:20:00Z", validate);
    const second = continueWith("2026-11-21T10:20:01Z", validate);
    const done = await first;
    release();
    const duplicate = await second;
    expect(done.record?.outcome).toBe("passed");
    expect(duplicate.record).toBeUndefined();
    expect(duplicate.report.actions[0]?.reason).toMatch(/claimed this drill first/);
    expect(validate).toHaveBeenCalledTimes(1);
    expect(rdsMock).toHaveReceivedCommandTimes(DeleteDBInstanceCommand, 1);
  });

  it("keeps its claim when the SDK retried its own write and S3 answered PreconditionFailed", async () => {
    rds.add(scratchInstance());
    // The first PUT landed but its response was lost; the retry finds the object (ours) already there.
    s3Mock
      .on(PutObjectCommand, { Key: `drills/flash-sale/pending/claims/${SCRATCH}.json` })
      .callsFake((input: { Key: string; Body: string }) => {
        s3.objects.set(input.Key, String(input.Body));
        throw new S3ServiceException({
          name: "PreconditionFailed",
          $fault: "client",
          $metadata: { httpStatusCode: 412 },
          message: "At least one of the pre-conditions you specified did not hold",
        });
      });
    const validate = vi.fn(passing);
    const { record } = await continueWith("2026-11-21T10:20:00Z", validate);
    expect(validate).toHaveBeenCalledTimes(1);
    expect(record?.outcome).toBe("passed");
  });

  it("waits for the next event while the instance is still being created", async () => {
    const instance = scratchInstance();
    instance.DBInstanceStatus = "creating";
    delete instance.Endpoint;
    rds.add(instance);
    const validate = vi.fn(passing);
    const { record, report } = await continueWith("2026-11-21T10:05:00Z", validate);
    expect(record).toBeUndefined();
    expect(report.status).toBe("skipped");
    expect(validate).not.toHaveBeenCalled();
    expect(rdsMock).not.toHaveReceivedCommand(AddTagsToResourceCommand);
    expect(rdsMock).not.toHaveReceivedCommand(DeleteDBInstanceCommand);
  });

  it("never touches an instance that is not a drill of this system", async () => {
    const other = scratchInstance();
    other.TagList = (other.TagList ?? []).map((t) => (t.Key === "ops-autopilot:system" ? { ...t, Value: "ims-2" } : t));
    rds.add(other);
    const { record, report } = await continueWith("2026-11-21T10:20:00Z", passing);
    expect(record).toBeUndefined();
    expect(report.actions[0]?.reason).toMatch(/system ims-2/);
    expect(rdsMock).not.toHaveReceivedCommand(DeleteDBInstanceCommand);
    expect(rdsMock).not.toHaveReceivedCommand(AddTagsToResourceCommand);
  });

  it("the runbook does nothing with an empty input", async () => {
    const report = await drillContinueRunbook.run(
      testContext({ system: flashSale, now: at("2026-11-21T10:20:00Z") }),
      drillContinueRunbook.input.parse({}),
    );
    expect(report.status).toBe("skipped");
    expect(rdsMock.calls()).toHaveLength(0);
  });

  it("the runbook ignores events of instances that are not drills, without calling RDS", async () => {
    rds.add(sourceInstance());
    const report = await drillContinueRunbook.run(
      testContext({ system: flashSale, now: at("2026-11-21T10:20:00Z") }),
      eventDetail("rds-event-source-backup.json"),
    );
    expect(report.status).toBe("skipped");
    expect(rdsMock.calls()).toHaveLength(0);
  });

  it("the runbook, on a duplicate event of a finished drill, neither validates nor deletes again", async () => {
    const done = scratchInstance();
    done.DBInstanceStatus = "deleting";
    done.TagList = (done.TagList ?? []).map((t) =>
      t.Key === "ops-autopilot:drill-state" ? { ...t, Value: "passed" } : t,
    );
    rds.add(done);
    const report = await drillContinueRunbook.run(
      testContext({ system: flashSale, now: at("2026-11-21T10:25:00Z") }),
      eventDetail("rds-event-created.json"),
    );
    expect(report.status).toBe("skipped");
    expect(rdsMock).not.toHaveReceivedCommand(DeleteDBInstanceCommand);
    expect(rdsMock).not.toHaveReceivedCommand(AddTagsToResourceCommand);
  });

  it("the runbook fails and deletes a drill whose instance is still not available at its deadline", async () => {
    const stuck = scratchInstance();
    stuck.DBInstanceStatus = "creating";
    delete stuck.Endpoint;
    rds.add(stuck);
    const report = await drillContinueRunbook.run(
      testContext({ system: flashSale, now: at("2026-11-21T13:05:00Z") }),
      eventDetail("rds-event-restored-pitr.json"),
    );
    expect(report.status).toBe("failed");
    expect(report.summary).toMatch(/deadline/);
    expect(rdsMock).toHaveReceivedCommandWith(DeleteDBInstanceCommand, {
      DBInstanceIdentifier: SCRATCH,
      SkipFinalSnapshot: true,
    });
  });
});

describe("drill-janitor, RDS", () => {
  const withTags = (id: string, tags: Record<string, string>, status = "available"): DBInstance => {
    const instance = scratchInstance();
    instance.DBInstanceIdentifier = id;
    instance.DBInstanceArn = `arn:aws:rds:ap-south-1:${ACCOUNT_ID}:db:${id}`;
    instance.DBInstanceStatus = status;
    instance.TagList = (instance.TagList ?? []).map((t) => (t.Key && t.Key in tags ? { ...t, Value: tags[t.Key] } : t));
    for (const [Key, Value] of Object.entries(tags)) {
      if (!instance.TagList.some((t) => t.Key === Key)) instance.TagList.push({ Key, Value });
    }
    return instance;
  };

  it("deletes drills past their deadline or already judged, keeps those in flight, never touches anything else", async () => {
    rds.add(sourceInstance());
    const lateId = "drill-flash-sale-98e94-main-c84641-20261121t060000z";
    const judgedId = "drill-flash-sale-98e94-main-c84641-20261121t080000z";
    const liveId = "drill-flash-sale-98e94-main-c84641-20261121t100000z";
    rds.add(
      withTags(
        lateId,
        {
          "ops-autopilot:drill-deadline": "2026-11-21T09:00:00.000Z",
          "ops-autopilot:drill-started": "2026-11-21T06:00:00.000Z",
        },
        "creating",
      ),
    );
    rds.add(withTags(judgedId, { "ops-autopilot:drill-state": "passed" }));
    rds.add(withTags(liveId, {}, "creating"));
    const untagged = scratchInstance();
    untagged.DBInstanceIdentifier = "drill-someone-elses-instance";
    untagged.DBInstanceArn = `arn:aws:rds:ap-south-1:${ACCOUNT_ID}:db:drill-someone-elses-instance`;
    untagged.TagList = [{ Key: "team", Value: "data" }];
    rds.add(untagged);
    const otherSystem = withTags("drill-ims-2-7c094-main-f36fa8-20261121t060000z", {
      "ops-autopilot:system": "ims-2",
      "ops-autopilot:drill-deadline": "2026-11-21T09:00:00.000Z",
    });
    rds.add(otherSystem);

    const report = await drillJanitorRunbook.run(
      testContext({ system: flashSale, now: at("2026-11-21T11:00:00Z") }),
      drillJanitorRunbook.input.parse({}),
    );
    expect(report.status, report.summary).toBe("succeeded");
    const deleted = rdsMock.commandCalls(DeleteDBInstanceCommand).map((c) => c.args[0].input.DBInstanceIdentifier);
    expect(deleted.sort()).toEqual([lateId, judgedId].sort());
    for (const call of rdsMock.commandCalls(DeleteDBInstanceCommand)) {
      expect(call.args[0].input).toMatchObject({ SkipFinalSnapshot: true });
    }
    expect(report.actions.find((a) => a.resource === liveId)?.status).toBe("skipped");
    // The timed-out drill is recorded as failed, so the history shows it.
    const records = s3.keys("drills/flash-sale/").filter((k) => !k.includes("/pending/"));
    expect(records).toEqual(["drills/flash-sale/20261121T060000Z-main.json"]);
    expect((s3.json(records[0] ?? "") as DrillRecord).outcome).toBe("failed");
  });

  it("judges a drill whose deadline tag is missing by its start plus the default deadline, not as late", async () => {
    const withoutDeadline = (id: string, started: string): DBInstance => {
      const instance = withTags(id, { "ops-autopilot:drill-started": started }, "creating");
      instance.TagList = instance.TagList?.filter((t) => t.Key !== "ops-autopilot:drill-deadline");
      return instance;
    };
    const recent = "drill-flash-sale-98e94-main-c84641-20261121t103000z";
    const old = "drill-flash-sale-98e94-main-c84641-20261121t060000z";
    rds.add(withoutDeadline(recent, "2026-11-21T10:30:00.000Z"));
    rds.add(withoutDeadline(old, "2026-11-21T06:00:00.000Z"));
    // No deadline, no start tag, no timestamp in its name: nothing says it is over.
    const unknown = withoutDeadline("drill-flash-sale-98e94-main-c84641-manual", "");
    unknown.TagList = unknown.TagList?.filter((t) => t.Key !== "ops-autopilot:drill-started");
    rds.add(unknown);
    const report = await drillJanitorRunbook.run(
      testContext({ system: flashSale, now: at("2026-11-21T11:00:00Z") }),
      drillJanitorRunbook.input.parse({}),
    );
    // Default for an RDS drill of flash-sale: 180 min. 10:30 + 3 h is ahead; 06:00 + 3 h is past.
    const deleted = rdsMock.commandCalls(DeleteDBInstanceCommand).map((c) => c.args[0].input.DBInstanceIdentifier);
    expect(deleted).toEqual([old]);
    expect(report.actions.find((a) => a.resource === recent)).toMatchObject({
      status: "skipped",
      reason: expect.stringMatching(/until 2026-11-21T13:30:00.000Z/),
    });
    expect(report.actions.find((a) => a.resource === "drill-flash-sale-98e94-main-c84641-manual")).toMatchObject({
      status: "failed",
      reason: expect.stringMatching(/no deadline or start time: not deleted/),
    });
  });

  it("a dry run deletes nothing", async () => {
    rds.add(
      withTags("drill-flash-sale-98e94-main-c84641-20261121t060000z", {
        "ops-autopilot:drill-deadline": "2026-11-21T09:00:00.000Z",
      }),
    );
    const report = await drillJanitorRunbook.run(
      testContext({ system: flashSale, now: at("2026-11-21T11:00:00Z"), dryRun: true }),
      drillJanitorRunbook.input.parse({}),
    );
    expect(report.actions.find((a) => a.action === "delete-rds-instance")?.status).toBe("would-do");
    expect(rdsMock).not.toHaveReceivedCommand(DeleteDBInstanceCommand);
  });

  it("removes a stale plan whose drill is gone", async () => {
    s3.objects.set(
      "drills/flash-sale/pending/drill-flash-sale-98e94-main-c84641-20261120t100000z.json",
      JSON.stringify({
        instanceId: "drill-flash-sale-98e94-main-c84641-20261120t100000z",
        deadline: "2026-11-20T13:00:00.000Z",
      }),
    );
    // Claims are named after their instance: kept while it exists, removed once it is gone.
    s3.objects.set(`drills/flash-sale/pending/claims/${SCRATCH}.json`, JSON.stringify({ holder: "validating:1" }));
    s3.objects.set(
      "drills/flash-sale/pending/claims/drill-flash-sale-98e94-main-c84641-20261120t100000z.json",
      JSON.stringify({ holder: "validating:2" }),
    );
    const live = scratchInstance();
    live.DBInstanceStatus = "creating";
    rds.add(live);
    const report = await drillJanitorRunbook.run(
      testContext({ system: flashSale, now: at("2026-11-21T11:00:00Z") }),
      drillJanitorRunbook.input.parse({}),
    );
    expect(s3.keys("drills/flash-sale/pending/")).toEqual([`drills/flash-sale/pending/claims/${SCRATCH}.json`]);
    // A claim is reported as a claim, a plan as a plan.
    const removed = report.actions.filter((a) => a.status === "done" && a.resource.startsWith("s3://"));
    expect(removed.map((a) => [a.action, a.resource.replace(/^s3:\/\/[^/]+\//, "")])).toEqual([
      ["delete-drill-plan", "drills/flash-sale/pending/drill-flash-sale-98e94-main-c84641-20261120t100000z.json"],
      [
        "delete-drill-claim",
        "drills/flash-sale/pending/claims/drill-flash-sale-98e94-main-c84641-20261120t100000z.json",
      ],
    ]);
  });
});
