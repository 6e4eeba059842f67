import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  AddTagsToResourceCommand,
  type DBInstance,
  DBInstanceNotFoundFault,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  ListTagsForResourceCommand,
  RDSClient,
  RestoreDBInstanceToPointInTimeCommand,
} from "@aws-sdk/client-rds";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import "aws-sdk-client-mock-vitest/extend";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ensureDatabase, seedInventory } from "../../lib/local/seed.js";
import { drillContinueRunbook } from "../../runbooks/drill-continue/index.js";
import { drillJanitorRunbook } from "../../runbooks/drill-janitor/index.js";
import { restoreDrillRunbook } from "../../runbooks/restore-drill/index.js";
import { listDrillRecords, pendingPrefix } from "../../runbooks/restore-drill/record.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import type { System } from "../../systems/schema.js";
import { ACCOUNT_ID } from "../helpers/aws-account.js";
import { testContext } from "../helpers/context.js";
import { startTestStack, type TestStack } from "../helpers/stack.js";

/**
 * The RDS drill end to end with everything real but RDS: the "restored instance" is the local
 * PostgreSQL (its endpoint in the faked DescribeDBInstances), so validation runs real SQL, records go to
 * a real S3 server, and the plan written at the start is what the continuation reads.
 */

const BUCKET = "ops-autopilot-demo";
const rdsMock = mockClient(RDSClient);
const fixture = (name: string) =>
  JSON.parse(readFileSync(join(import.meta.dirname, "../fixtures", name), "utf8")) as Record<string, unknown>;

describe("RDS point-in-time drill against a real PostgreSQL", () => {
  let stack: TestStack;
  let system: System;
  /** The RDS drill system with these SQL checks in its catalogue (the only place checks come from). */
  const withChecks = (checks: unknown[]): System =>
    ({ ...system, dr: { ...system.dr, drill: { ...(system.dr.drill ?? {}), checks } } }) as System;
  let env: Record<string, string | undefined>;
  const instances = new Map<string, DBInstance>();

  beforeAll(async () => {
    stack = await startTestStack([BUCKET]);
    await ensureDatabase(stack.postgres.connection(), "partpal_demo");
    await seedInventory(stack.postgres.connection("partpal_demo"), { scale: 0.05 });
    const demo = findSystem(builtinFleet(), "demo");
    const database = demo.databases[0];
    if (!database) throw new Error("demo has no database");
    system = {
      ...demo,
      dr: { ...demo.dr, rtoMinutes: 15, rpoMinutes: 5, drillSource: "rds-pitr" },
      databases: [{ ...database, rdsInstanceId: "demo-db" }],
    };
    // The local server has no TLS; an RDS one would.
    env = { OPS_DEMO_DATABASE_URL: stack.postgres.url("partpal_demo"), PATH: process.env.PATH };
  });

  afterAll(async () => {
    rdsMock.restore();
    await stack?.stop();
  });

  beforeEach(() => {
    rdsMock.reset();
    instances.clear();
    const source = (
      fixture("rds-describe-db-instances-flash-sale-db.json").DBInstances as DBInstance[]
    )[0] as DBInstance;
    instances.set("demo-db", {
      ...source,
      DBInstanceIdentifier: "demo-db",
      DBInstanceArn: `arn:aws:rds:us-east-1:${ACCOUNT_ID}:db:demo-db`,
      LatestRestorableTime: new Date(Date.now() - 3 * 60_000),
    });
    rdsMock.on(DescribeDBInstancesCommand).callsFake((input: { DBInstanceIdentifier?: string }) => {
      if (!input.DBInstanceIdentifier) return { DBInstances: [...instances.values()].map((i) => structuredClone(i)) };
      const found = instances.get(input.DBInstanceIdentifier);
      if (!found) throw new DBInstanceNotFoundFault({ message: "DBInstance not found", $metadata: {} });
      return { DBInstances: [structuredClone(found)] };
    });
    const byArn = (arn: string) => [...instances.values()].find((i) => i.DBInstanceArn === arn);
    rdsMock.on(ListTagsForResourceCommand).callsFake((input: { ResourceName: string }) => ({
      TagList: structuredClone(byArn(input.ResourceName)?.TagList ?? []),
    }));
    rdsMock
      .on(AddTagsToResourceCommand)
      .callsFake((input: { ResourceName: string; Tags: { Key: string; Value: string }[] }) => {
        const instance = byArn(input.ResourceName);
        if (instance) {
          const tags = new Map((instance.TagList ?? []).map((t) => [t.Key, t.Value]));
          for (const t of input.Tags) tags.set(t.Key, t.Value);
          instance.TagList = [...tags].map(([Key, Value]) => ({ Key, Value }));
        }
        return {};
      });
    rdsMock
      .on(RestoreDBInstanceToPointInTimeCommand)
      .callsFake((input: { TargetDBInstanceIdentifier: string; Tags: { Key: string; Value: string }[] }) => {
        const response = fixture("rds-restore-db-instance-to-point-in-time.json").DBInstance as DBInstance;
        instances.set(input.TargetDBInstanceIdentifier, {
          ...response,
          DBInstanceIdentifier: input.TargetDBInstanceIdentifier,
          DBInstanceArn: `arn:aws:rds:us-east-1:${ACCOUNT_ID}:db:${input.TargetDBInstanceIdentifier}`,
          DBInstanceStatus: "creating",
          TagList: input.Tags,
        });
        return { DBInstance: response };
      });
    rdsMock.on(DeleteDBInstanceCommand).callsFake((input: { DBInstanceIdentifier: string }) => {
      const instance = instances.get(input.DBInstanceIdentifier);
      if (!instance) throw new DBInstanceNotFoundFault({ message: "DBInstance not found", $metadata: {} });
      instance.DBInstanceStatus = "deleting";
      return { DBInstance: structuredClone(instance) };
    });
  });

  /** RDS finishes the restore: the copy is reachable (here: the local server). */
  const becomeAvailable = (id: string) => {
    const instance = instances.get(id);
    if (!instance) throw new Error(`no ${id}`);
    instance.DBInstanceStatus = "available";
    instance.Endpoint = { Address: "127.0.0.1", Port: stack.postgres.port, HostedZoneId: "Z2R2ITUGPM61AM" };
  };

  const event = (id: string) =>
    drillContinueRunbook.input.parse({
      ...(fixture("rds-event-restored-pitr.json").detail as object),
      SourceIdentifier: id,
      SourceArn: `arn:aws:rds:us-east-1:${ACCOUNT_ID}:db:${id}`,
    });

  it("starts, waits for the event, validates through SQL, deletes the copy, records the verdicts", async () => {
    const start = new Date();
    const drilled = withChecks([{ name: "vehicles", sql: "select count(*) from vehicles", expect: { equals: 1000 } }]);
    const ctx = (minutes: number) =>
      testContext({
        system: drilled,
        clients: stack.clients,
        env,
        now: () => new Date(start.getTime() + minutes * 60_000),
      });
    const started = await restoreDrillRunbook.run(ctx(0), restoreDrillRunbook.input.parse({}));
    expect(started.status, started.summary).toBe("succeeded");
    const [id] = [...instances.keys()].filter((k) => k.startsWith("drill-"));
    if (!id) throw new Error("no scratch instance");

    // An early event: the instance is still being created.
    const early = await drillContinueRunbook.run(ctx(5), event(id));
    expect(early.status).toBe("skipped");
    expect(rdsMock).not.toHaveReceivedCommand(DeleteDBInstanceCommand);

    becomeAvailable(id);
    const done = await drillContinueRunbook.run(ctx(11), event(id));
    expect(done.status, done.summary).toBe("succeeded");
    expect(rdsMock).toHaveReceivedCommandWith(DeleteDBInstanceCommand, {
      DBInstanceIdentifier: id,
      SkipFinalSnapshot: true,
    });
    expect(done.summary).toMatch(/drill passed; RTO met: 11m00s of 15 min \(margin 4m00s\); RPO met: 3m00s of 5 min/);

    const { records } = await listDrillRecords(stack.s3, { bucket: BUCKET, system: "demo" });
    const record = records.at(-1) as unknown as { checks: { name: string; status: string; actual?: string }[] };
    // Expectations from the source, read at the start; the custom check from the catalogue (not the plan),
    // run as the drill's own role on the copy.
    expect(record.checks.map((c) => [c.name, c.status])).toEqual([
      ["table count", "passed"],
      ["rows public.sales", "passed"],
      ["rows public.parts", "passed"],
      ["rows public.vehicles", "passed"],
      ["vehicles", "passed"],
    ]);

    // The same event again: nothing validated, nothing deleted twice.
    const again = await drillContinueRunbook.run(ctx(12), event(id));
    expect(again.status).toBe("skipped");
    expect(rdsMock).toHaveReceivedCommandTimes(DeleteDBInstanceCommand, 1);
  });

  it("the janitor continues a drill whose event never came, and a failing check still deletes the copy", async () => {
    const start = new Date(Date.now() + 3_600_000);
    const drilled = withChecks([
      { name: "no vehicles at all", sql: "select count(*) from vehicles", expect: { equals: 0 } },
    ]);
    const ctx = (minutes: number) =>
      testContext({
        system: drilled,
        clients: stack.clients,
        env,
        now: () => new Date(start.getTime() + minutes * 60_000),
      });
    await restoreDrillRunbook.run(ctx(0), restoreDrillRunbook.input.parse({}));
    const [id] = [...instances.keys()].filter((k) => k.startsWith("drill-"));
    if (!id) throw new Error("no scratch instance");
    becomeAvailable(id);

    const swept = await drillJanitorRunbook.run(ctx(40), drillJanitorRunbook.input.parse({}));
    expect(rdsMock).toHaveReceivedCommandWith(DeleteDBInstanceCommand, {
      DBInstanceIdentifier: id,
      SkipFinalSnapshot: true,
    });
    expect(swept.actions.find((a) => a.action === "validate")?.reason).toMatch(
      /no vehicles at all: the first column of the first row is not = 0/,
    );
    const { records } = await listDrillRecords(stack.s3, { bucket: BUCKET, system: "demo" });
    const record = records.at(-1);
    expect(record?.outcome).toBe("failed");
    expect(record?.summary).toMatch(/continued by drill-janitor/);
    // Its plan is gone with it. (Its claim stays while the instance exists, so that a late duplicate event
    // cannot claim it again; the janitor removes it once the instance is gone.)
    const plans = await stack.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: pendingPrefix("demo") }));
    expect((plans.Contents ?? []).map((o) => o.Key).filter((k) => !k?.includes("/claims/"))).toEqual([]);
  });
});
