import "aws-sdk-client-mock-vitest/extend";
import {
  ApplicationAutoScalingServiceException,
  DescribeScalableTargetsCommand,
  RegisterScalableTargetCommand,
} from "@aws-sdk/client-application-auto-scaling";
import {
  type Deployment,
  DescribeServicesCommand,
  ECSServiceException,
  ServerException,
  type Service,
  TagResourceCommand,
  type TaskSet,
  UntagResourceCommand,
  UpdateServiceCommand,
} from "@aws-sdk/client-ecs";
import { DescribeClusterCommand } from "@aws-sdk/client-eks";
import { mockClient } from "aws-sdk-client-mock";
import { describe, expect, it } from "vitest";
import type { AwsClients } from "../../lib/aws/clients.js";
import { keepAwakeRunbook } from "../../runbooks/keep-awake/index.js";
import { scaleDownRunbook } from "../../runbooks/scale-down/index.js";
import { scaleUpRunbook } from "../../runbooks/scale-up/index.js";
import { KEEP_AWAKE_TAG, OPT_OUT_TAG, RECORD_TAG } from "../../runbooks/scaling/tags.js";
import type { AnyRunbook, Report } from "../../runbooks/types.js";
import { type System, type SystemInput, systemSchema } from "../../systems/schema.js";
import { ACCOUNT_ID, REGION } from "../helpers/aws-account.js";
import { testClients, testContext } from "../helpers/context.js";

const ACCOUNT = ACCOUNT_ID;
const CLUSTER = "shop";
const MON_EVENING = "2026-11-23T16:00:30Z"; // Monday 18:00:30 SAST
const TUE_MORNING = "2026-11-24T05:00:20Z"; // Tuesday 07:00:20 SAST

type OffHoursInput = Extract<SystemInput["offHours"], { enabled: true }>;

/** An ECS Fargate system in Johannesburg with off-hours 18:00–07:00, weekends off, Christmas a holiday. */
function shop(names: string[], offHours: Partial<OffHoursInput> = {}): System {
  return systemSchema.parse({
    id: "shop",
    name: "Shop",
    account: { region: REGION, accountId: ACCOUNT },
    timezone: "Africa/Johannesburg",
    runtime: {
      kind: "ecs",
      cluster: CLUSTER,
      launchType: "FARGATE",
      services: names.map((name) => ({ name, cpuUnits: 512, memoryMiB: 1024 })),
    },
    databases: [],
    dr: { rtoMinutes: 60, rpoMinutes: 1440, drillSource: "pg_dump" },
    offHours: {
      enabled: true,
      start: "18:00",
      end: "07:00",
      floor: 1,
      weekendsOff: true,
      holidays: ["2026-12-25"],
      ...offHours,
    },
  } satisfies SystemInput);
}

interface FakeService {
  desired: number;
  tags: Map<string, string>;
  deployments: Deployment[];
  taskSets?: TaskSet[];
  status: string;
}

const settledDeployment = (desired: number, createdAt = new Date("2026-11-20T09:00:00Z")): Deployment => ({
  id: "ecs-svc/1234567890123456789",
  status: "PRIMARY",
  taskDefinition: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/shop:42`,
  desiredCount: desired,
  pendingCount: 0,
  runningCount: desired,
  failedTasks: 0,
  createdAt,
  updatedAt: createdAt,
  launchType: "FARGATE",
  rolloutState: "COMPLETED",
  rolloutStateReason: "ECS deployment ecs-svc/1234567890123456789 completed.",
});

const throttling = () =>
  new ECSServiceException({
    name: "ThrottlingException",
    $fault: "client",
    $metadata: { httpStatusCode: 400, requestId: "req-throttled" },
    message: "Rate exceeded",
  });

/**
 * A small in-memory ECS + Application Auto Scaling account behind aws-sdk-client-mock. Responses have the
 * shapes of the API reference (DescribeServices: services[] with deployments/tags, failures[] with
 * reason MISSING; DescribeScalableTargets: ScalableTargets[] with ResourceId service/<cluster>/<service>),
 * and it refuses batches larger than the APIs accept.
 */
class FakeAccount {
  readonly services = new Map<string, FakeService>();
  readonly targets = new Map<string, { min: number; max: number }>();
  /** Every change, in order: `TagResource api`, `UpdateService api=1`, ... */
  readonly writes: string[] = [];
  readonly describeBatches: number[] = [];
  /** Returns an error to throw for a call, or undefined to let it through. */
  fault: (command: string, service: string) => Error | undefined = () => undefined;
  readonly clients: AwsClients = testClients();
  readonly ecs = mockClient(this.clients.ecs);
  readonly aas = mockClient(this.clients.autoscaling);

  constructor() {
    this.ecs
      .on(DescribeServicesCommand)
      .callsFake(async (input: { cluster?: string; services?: string[]; include?: string[] }) => {
        const names = input.services ?? [];
        if (names.length > 10)
          throw new Error(`DescribeServices got ${names.length} services; the API takes at most 10`);
        this.describeBatches.push(names.length);
        this.maybeFail("DescribeServices", names.join(","));
        const services: Service[] = [];
        const failures = [];
        for (const name of names) {
          const svc = this.services.get(name);
          if (svc) services.push(this.shape(name, input.include?.includes("TAGS") ?? false));
          else failures.push({ arn: this.arn(name), reason: "MISSING" });
        }
        return { services, failures, $metadata: {} };
      });
    this.ecs.on(UpdateServiceCommand).callsFake(async (input: { service?: string; desiredCount?: number }) => {
      const name = input.service ?? "";
      this.maybeFail("UpdateService", name);
      const svc = this.get(name);
      if (input.desiredCount !== undefined) svc.desired = input.desiredCount;
      this.writes.push(`UpdateService ${name}=${input.desiredCount}`);
      return { service: this.shape(name, false) };
    });
    this.ecs
      .on(TagResourceCommand)
      .callsFake(async (input: { resourceArn?: string; tags?: { key?: string; value?: string }[] }) => {
        const name = this.nameOf(input.resourceArn);
        this.maybeFail("TagResource", name);
        for (const tag of input.tags ?? []) this.get(name).tags.set(tag.key ?? "", tag.value ?? "");
        this.writes.push(`TagResource ${name}`);
        return {};
      });
    this.ecs.on(UntagResourceCommand).callsFake(async (input: { resourceArn?: string; tagKeys?: string[] }) => {
      const name = this.nameOf(input.resourceArn);
      this.maybeFail("UntagResource", name);
      for (const key of input.tagKeys ?? []) this.get(name).tags.delete(key);
      this.writes.push(`UntagResource ${name}`);
      return {};
    });
    this.aas
      .on(DescribeScalableTargetsCommand)
      .callsFake(async (input: { ResourceIds?: string[]; MaxResults?: number }) => {
        if ((input.ResourceIds?.length ?? 0) > 50 || (input.MaxResults ?? 50) > 50)
          throw new Error("over the API limit");
        this.maybeFail("DescribeScalableTargets", (input.ResourceIds ?? []).join(","));
        const ScalableTargets = (input.ResourceIds ?? []).flatMap((id) => {
          const bounds = this.targets.get(id);
          return bounds
            ? [
                {
                  ServiceNamespace: "ecs" as const,
                  ResourceId: id,
                  ScalableDimension: "ecs:service:DesiredCount" as const,
                  MinCapacity: bounds.min,
                  MaxCapacity: bounds.max,
                  RoleARN: `arn:aws:iam::${ACCOUNT}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService`,
                  CreationTime: new Date("2026-01-10T08:00:00Z"),
                  SuspendedState: {
                    DynamicScalingInSuspended: false,
                    DynamicScalingOutSuspended: false,
                    ScheduledScalingSuspended: false,
                  },
                  ScalableTargetARN: `arn:aws:application-autoscaling:${REGION}:${ACCOUNT}:scalable-target/0ec1${id.length}`,
                },
              ]
            : [];
        });
        return { ScalableTargets, $metadata: {} };
      });
    this.aas
      .on(RegisterScalableTargetCommand)
      .callsFake(async (input: { ResourceId?: string; MinCapacity?: number; MaxCapacity?: number }) => {
        const id = input.ResourceId ?? "";
        this.maybeFail("RegisterScalableTarget", id.split("/").pop() ?? "");
        this.targets.set(id, { min: input.MinCapacity ?? 0, max: input.MaxCapacity ?? 0 });
        this.writes.push(`RegisterScalableTarget ${id.split("/").pop()}=${input.MinCapacity}..${input.MaxCapacity}`);
        // Application Auto Scaling brings the desired count inside new bounds by itself.
        const svc = this.services.get(id.split("/").pop() ?? "");
        if (svc && input.MaxCapacity !== undefined && svc.desired > input.MaxCapacity) svc.desired = input.MaxCapacity;
        if (svc && input.MinCapacity !== undefined && svc.desired < input.MinCapacity) svc.desired = input.MinCapacity;
        return {
          ScalableTargetARN: `arn:aws:application-autoscaling:${REGION}:${ACCOUNT}:scalable-target/0ec1`,
          $metadata: {},
        };
      });
  }

  add(
    name: string,
    options: {
      desired: number;
      bounds?: { min: number; max: number };
      tags?: Record<string, string>;
      deployments?: Deployment[];
      taskSets?: TaskSet[];
    },
  ): this {
    this.services.set(name, {
      desired: options.desired,
      tags: new Map(Object.entries(options.tags ?? {})),
      deployments: options.deployments ?? [settledDeployment(options.desired)],
      ...(options.taskSets ? { taskSets: options.taskSets } : {}),
      status: "ACTIVE",
    });
    if (options.bounds) this.targets.set(`service/${CLUSTER}/${name}`, options.bounds);
    return this;
  }

  get(name: string): FakeService {
    const svc = this.services.get(name);
    if (!svc) throw new Error(`ServiceNotFoundException: ${name}`);
    return svc;
  }

  bounds(name: string) {
    return this.targets.get(`service/${CLUSTER}/${name}`);
  }

  arn(name: string) {
    return `arn:aws:ecs:${REGION}:${ACCOUNT}:service/${CLUSTER}/${name}`;
  }

  private nameOf(arn: string | undefined) {
    return arn?.split("/").pop() ?? "";
  }

  private maybeFail(command: string, service: string) {
    const error = this.fault(command, service);
    if (error) throw error;
  }

  private shape(name: string, withTags: boolean): Service {
    const svc = this.get(name);
    return {
      serviceArn: this.arn(name),
      serviceName: name,
      clusterArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/${CLUSTER}`,
      status: svc.status,
      desiredCount: svc.desired,
      runningCount: svc.desired,
      pendingCount: 0,
      launchType: "FARGATE",
      taskDefinition: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/shop:42`,
      deployments: svc.deployments,
      ...(svc.taskSets ? { taskSets: svc.taskSets } : {}),
      createdAt: new Date("2026-01-10T08:00:00Z"),
      schedulingStrategy: "REPLICA",
      deploymentController: { type: "ECS" },
      ...(withTags ? { tags: [...svc.tags].map(([key, value]) => ({ key, value })) } : {}),
    };
  }
}

async function run(
  runbook: AnyRunbook,
  account: FakeAccount,
  system: System,
  options: { at: string; input?: Record<string, unknown>; dryRun?: boolean; signal?: AbortSignal },
): Promise<Report> {
  const ctx = testContext({
    system,
    clients: account.clients,
    now: new Date(options.at),
    dryRun: options.dryRun ?? false,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return runbook.run(ctx, runbook.input.parse(options.input ?? {}));
}

const action = (report: Report, service: string, name?: string) =>
  report.actions.find((a) => a.resource === `${CLUSTER}/${service}` && (name === undefined || a.action === name));

describe("scale-down and scale-up of ECS services", () => {
  it("without autoscaling: records the desired count on the service first, then lowers it; scale-up restores it", async () => {
    const account = new FakeAccount().add("api", { desired: 4 });
    const system = shop(["api"]);
    const down = await run(scaleDownRunbook, account, system, { at: MON_EVENING });
    expect(down.status).toBe("succeeded");
    expect(action(down, "api")).toMatchObject({ status: "done", before: { desired: 4 }, after: { desired: 1 } });
    expect(account.get("api").tags.get(RECORD_TAG)).toBe("v1 desired=4 floor=1 at=2026-11-23T16:00:30Z");
    expect(account.writes).toEqual(["TagResource api", "UpdateService api=1"]);
    expect(account.ecs).toHaveReceivedCommandWith(UpdateServiceCommand, {
      cluster: CLUSTER,
      service: "api",
      desiredCount: 1,
    });
    expect(account.ecs).toHaveReceivedCommandWith(DescribeServicesCommand, { include: ["TAGS"] });
    expect(account.aas).not.toHaveReceivedCommand(RegisterScalableTargetCommand);

    const up = await run(scaleUpRunbook, account, system, { at: TUE_MORNING });
    expect(up.status).toBe("succeeded");
    expect(action(up, "api")).toMatchObject({ status: "done", before: { desired: 1 }, after: { desired: 4 } });
    expect(account.get("api").desired).toBe(4);
    expect(account.get("api").tags.has(RECORD_TAG)).toBe(false);
  });

  it("with autoscaling: records min/max too, lowers the bounds before the desired count, restores them in the morning", async () => {
    const account = new FakeAccount().add("worker", { desired: 6, bounds: { min: 2, max: 10 } });
    const system = shop(["worker"]);
    await run(scaleDownRunbook, account, system, { at: MON_EVENING });
    expect(account.get("worker").tags.get(RECORD_TAG)).toBe(
      "v1 desired=6 min=2 max=10 floor=1 at=2026-11-23T16:00:30Z",
    );
    expect(account.writes).toEqual([
      "TagResource worker",
      "RegisterScalableTarget worker=1..1",
      "UpdateService worker=1",
    ]);
    expect(account.aas).toHaveReceivedCommandWith(RegisterScalableTargetCommand, {
      ServiceNamespace: "ecs",
      ResourceId: "service/shop/worker",
      ScalableDimension: "ecs:service:DesiredCount",
      MinCapacity: 1,
      MaxCapacity: 1,
    });
    account.writes.length = 0;
    const up = await run(scaleUpRunbook, account, system, { at: TUE_MORNING });
    expect(action(up, "worker")).toMatchObject({ status: "done", after: { desired: 6, min: 2, max: 10 } });
    expect(account.writes).toEqual([
      "RegisterScalableTarget worker=2..10",
      "UpdateService worker=6",
      "UntagResource worker",
    ]);
    expect(account.bounds("worker")).toEqual({ min: 2, max: 10 });
    expect(account.get("worker").desired).toBe(6);
  });

  it("double scale-down never overwrites the original; scale-up restores it; a second scale-up changes nothing", async () => {
    const account = new FakeAccount().add("api", { desired: 4, bounds: { min: 2, max: 10 } });
    const system = shop(["api"]);
    await run(scaleDownRunbook, account, system, { at: MON_EVENING });
    const writesAfterFirst = account.writes.length;
    const again = await run(scaleDownRunbook, account, system, { at: "2026-11-23T16:05:00Z" });
    expect(action(again, "api")).toMatchObject({ status: "skipped" });
    expect(action(again, "api")?.reason).toMatch(/already at the floor; original desired 4 \(min 2, max 10\)/);
    expect(account.writes.length).toBe(writesAfterFirst);
    expect(account.get("api").tags.get(RECORD_TAG)).toBe("v1 desired=4 min=2 max=10 floor=1 at=2026-11-23T16:00:30Z");

    await run(scaleUpRunbook, account, system, { at: TUE_MORNING });
    expect(account.get("api").desired).toBe(4);
    expect(account.bounds("api")).toEqual({ min: 2, max: 10 });
    const writesAfterUp = account.writes.length;
    const second = await run(scaleUpRunbook, account, system, { at: "2026-11-24T05:10:00Z" });
    expect(second.status).toBe("skipped");
    expect(action(second, "api")?.reason).toMatch(/nothing recorded/);
    expect(account.writes.length).toBe(writesAfterUp);
  });

  it("a redeploy that resets the count at night is lowered again, keeping the first record", async () => {
    const account = new FakeAccount().add("api", { desired: 4 });
    const system = shop(["api"]);
    await run(scaleDownRunbook, account, system, { at: MON_EVENING });
    account.get("api").desired = 4; // e.g. an IaC deploy wrote the template's count back
    const again = await run(scaleDownRunbook, account, system, { at: "2026-11-23T20:00:00Z" });
    expect(action(again, "api")).toMatchObject({ status: "done", after: { desired: 1 } });
    expect(action(again, "api")?.reason).toMatch(/original desired 4 recorded at 2026-11-23 18:00 \+02:00 is kept/);
    expect(account.get("api").tags.get(RECORD_TAG)).toBe("v1 desired=4 floor=1 at=2026-11-23T16:00:30Z");
    expect(account.writes.filter((w) => w.startsWith("TagResource"))).toHaveLength(1);
  });

  it("RegisterScalableTarget done, then UpdateService fails: the record is already there and scale-up restores it", async () => {
    const account = new FakeAccount().add("worker", { desired: 6, bounds: { min: 2, max: 10 } });
    account.fault = (command) =>
      command === "UpdateService"
        ? new ServerException({ message: "Service Unavailable", $metadata: { httpStatusCode: 500 } })
        : undefined;
    const system = shop(["worker"]);
    const down = await run(scaleDownRunbook, account, system, { at: MON_EVENING });
    expect(action(down, "worker")?.status).toBe("failed");
    expect(action(down, "worker")?.reason).toMatch(/UpdateService failed .*the original is recorded on the service/);
    expect(account.writes).toEqual(["TagResource worker", "RegisterScalableTarget worker=1..1"]);
    expect(account.get("worker").tags.get(RECORD_TAG)).toBe(
      "v1 desired=6 min=2 max=10 floor=1 at=2026-11-23T16:00:30Z",
    );
    account.fault = () => undefined;
    await run(scaleUpRunbook, account, system, { at: TUE_MORNING });
    expect(account.get("worker").desired).toBe(6);
    expect(account.bounds("worker")).toEqual({ min: 2, max: 10 });
    expect(account.get("worker").tags.has(RECORD_TAG)).toBe(false);
  });

  it("a record a failed untag left behind is not restored over a count the team changed the next day", async () => {
    const account = new FakeAccount().add("api", { desired: 4 });
    const system = shop(["api"]);
    await run(scaleDownRunbook, account, system, { at: MON_EVENING });
    account.fault = (command) =>
      command === "UntagResource"
        ? new ServerException({ message: "Service Unavailable", $metadata: { httpStatusCode: 500 } })
        : undefined;
    const up = await run(scaleUpRunbook, account, system, { at: TUE_MORNING });
    expect(action(up, "api")?.reason).toMatch(/capacity restored \(UpdateService\) but the record is still there/);
    account.fault = () => undefined;
    account.get("api").desired = 6; // the team raised it during Tuesday
    const down = await run(scaleDownRunbook, account, system, { at: "2026-11-24T16:00:30Z" });
    expect(action(down, "api")?.reason).toMatch(
      /original desired 6 recorded .*replacing a record left from 2026-11-23 18:00/,
    );
    expect(account.get("api").tags.get(RECORD_TAG)).toBe("v1 desired=6 floor=1 at=2026-11-24T16:00:30Z");
    await run(scaleUpRunbook, account, system, { at: "2026-11-25T05:00:20Z" });
    expect(account.get("api").desired).toBe(6);
  });

  it("a service the team set to 0 stays at 0, down and up", async () => {
    const account = new FakeAccount().add("batch", { desired: 0 });
    const system = shop(["batch"]);
    const down = await run(scaleDownRunbook, account, system, { at: MON_EVENING });
    expect(action(down, "batch")?.reason).toMatch(/desired 0 is below the floor 1/);
    const up = await run(scaleUpRunbook, account, system, { at: TUE_MORNING });
    expect(action(up, "batch")?.status).toBe("skipped");
    expect(account.writes).toEqual([]);
    expect(account.get("batch").desired).toBe(0);
  });

  it("a service the team lowered to 0 during the night stays at 0; the record is kept", async () => {
    const account = new FakeAccount().add("api", { desired: 3 });
    const system = shop(["api"]);
    await run(scaleDownRunbook, account, system, { at: MON_EVENING });
    account.get("api").desired = 0;
    const up = await run(scaleUpRunbook, account, system, { at: TUE_MORNING });
    expect(action(up, "api")).toMatchObject({ status: "skipped" });
    expect(account.get("api").desired).toBe(0);
    expect(account.get("api").tags.has(RECORD_TAG)).toBe(true);
  });

  it("skips a deployment in progress and says why; nothing is written", async () => {
    const account = new FakeAccount().add("api", {
      desired: 4,
      deployments: [
        { ...settledDeployment(4, new Date("2026-11-23T16:00:00Z")), id: "ecs-svc/2", rolloutState: "IN_PROGRESS" },
        { ...settledDeployment(4), status: "ACTIVE" },
      ],
    });
    const down = await run(scaleDownRunbook, account, shop(["api"]), { at: MON_EVENING });
    expect(action(down, "api")).toMatchObject({ status: "skipped" });
    expect(action(down, "api")?.reason).toMatch(/deployment in progress: deployment ecs-svc\/2 is rolling out/);
    expect(account.writes).toEqual([]);
  });

  it("skips a service deployed 10 minutes ago; a run after the grace period picks it up", async () => {
    const account = new FakeAccount().add("api", {
      desired: 4,
      deployments: [settledDeployment(4, new Date("2026-11-23T15:50:30Z"))],
    });
    const system = shop(["api"]);
    const early = await run(scaleDownRunbook, account, system, { at: MON_EVENING });
    expect(action(early, "api")?.reason).toMatch(
      /deployed 10 min ago .* within the 30-min grace period; a later run picks it up/,
    );
    expect(account.writes).toEqual([]);
    const later = await run(scaleDownRunbook, account, system, { at: "2026-11-23T16:25:00Z" });
    expect(action(later, "api")).toMatchObject({ status: "done", after: { desired: 1 } });
  });

  it("opt-out fails safe: any value but false leaves the service alone", async () => {
    const account = new FakeAccount()
      .add("a", { desired: 3, tags: { [OPT_OUT_TAG]: "true" } })
      .add("b", { desired: 3, tags: { [OPT_OUT_TAG]: "yes please" } })
      .add("c", { desired: 3, tags: { [OPT_OUT_TAG]: "false" } })
      .add("d", { desired: 3 });
    const down = await run(scaleDownRunbook, account, shop(["a", "b", "c", "d"]), { at: MON_EVENING });
    expect(action(down, "a")?.status).toBe("skipped");
    expect(action(down, "b")?.reason).toMatch(/opted out/);
    expect(action(down, "c")?.status).toBe("done");
    expect(action(down, "d")?.status).toBe("done");
    expect(account.get("a").desired).toBe(3);
    expect(account.get("b").tags.has(RECORD_TAG)).toBe(false);
  });

  it("keep-awake: set with until=22:00, respected by scale-down, expiring by itself", async () => {
    const account = new FakeAccount().add("api", { desired: 4 }).add("web", { desired: 2 });
    const system = shop(["api", "web"]);
    const keep = await run(keepAwakeRunbook, account, system, {
      at: "2026-11-23T15:00:00Z",
      input: { until: "22:00" },
    });
    expect(keep.status).toBe("succeeded");
    expect(account.get("api").tags.get(KEEP_AWAKE_TAG)).toBe("2026-11-23T20:00:00Z");
    expect(account.get("web").tags.get(KEEP_AWAKE_TAG)).toBe("2026-11-23T20:00:00Z");
    expect(keep.summary).toMatch(/keep 2 services awake until 2026-11-23 22:00 \+02:00/);

    const evening = await run(scaleDownRunbook, account, system, { at: MON_EVENING });
    expect(action(evening, "api")?.reason).toMatch(/kept awake until 2026-11-23 22:00 \+02:00/);
    expect(account.get("api").desired).toBe(4);

    const late = await run(scaleDownRunbook, account, system, { at: "2026-11-23T20:05:00Z" });
    expect(action(late, "api")).toMatchObject({ status: "done", after: { desired: 1 } });
    expect(account.get("web").desired).toBe(1);
  });

  it("keep-awake wakes a service that is already down and can be cleared", async () => {
    const account = new FakeAccount().add("api", { desired: 4, bounds: { min: 2, max: 8 } });
    const system = shop(["api"]);
    await run(scaleDownRunbook, account, system, { at: MON_EVENING });
    expect(account.get("api").desired).toBe(1);
    const keep = await run(keepAwakeRunbook, account, system, { at: "2026-11-23T18:00:00Z", input: { until: "3h" } });
    expect(action(keep, "api", "wake")).toMatchObject({ status: "done", after: { desired: 4, min: 2, max: 8 } });
    expect(account.get("api").desired).toBe(4);
    expect(account.bounds("api")).toEqual({ min: 2, max: 8 });
    expect(account.get("api").tags.has(RECORD_TAG)).toBe(false);

    const clear = await run(keepAwakeRunbook, account, system, {
      at: "2026-11-23T18:30:00Z",
      input: { clear: "true" },
    });
    expect(action(clear, "api", "clear-keep-awake")?.status).toBe("done");
    expect(account.get("api").tags.has(KEEP_AWAKE_TAG)).toBe(false);
  });

  it("keep-awake without until keeps the services up until tonight's off-hours end; a past time changes nothing", async () => {
    const account = new FakeAccount().add("api", { desired: 4 });
    const system = shop(["api"]);
    await run(keepAwakeRunbook, account, system, { at: "2026-11-23T13:00:00Z" });
    expect(account.get("api").tags.get(KEEP_AWAKE_TAG)).toBe("2026-11-24T05:00:00Z");
    const writes = account.writes.length;
    const past = await run(keepAwakeRunbook, account, system, {
      at: "2026-11-23T13:00:00Z",
      input: { until: "2026-11-23T09:00" },
    });
    expect(past.status).toBe("failed");
    expect(past.summary).toMatch(/not in the future/);
    expect(account.writes.length).toBe(writes);
    expect(() => keepAwakeRunbook.input.parse({ until: "tonight" })).toThrow(/HH:MM/);
  });

  it("one of twenty services failing does not stop the other nineteen; the failed one keeps its record", async () => {
    const account = new FakeAccount();
    const names = Array.from({ length: 20 }, (_, i) => `svc-${String(i + 1).padStart(2, "0")}`);
    for (const name of names) account.add(name, { desired: 3 });
    account.fault = (command, service) =>
      command === "UpdateService" && service === "svc-07"
        ? new ServerException({ message: "Service Unavailable", $metadata: { httpStatusCode: 500 } })
        : undefined;
    const system = shop(names);
    const down = await run(scaleDownRunbook, account, system, { at: MON_EVENING });
    expect(down.status).toBe("partial");
    expect(down.actions.filter((a) => a.status === "done")).toHaveLength(19);
    expect(action(down, "svc-07")).toMatchObject({ status: "failed" });
    expect(action(down, "svc-07")?.reason).toMatch(
      /UpdateService failed for svc-07: Service Unavailable; the original is recorded/,
    );
    expect(down.metrics.servicesFailed).toBe(1);
    expect(account.describeBatches).toEqual([10, 10]);
    expect(account.get("svc-07").desired).toBe(3);
    expect(account.get("svc-07").tags.get(RECORD_TAG)).toMatch(/^v1 desired=3 /);

    account.fault = () => undefined;
    const up = await run(scaleUpRunbook, account, system, { at: TUE_MORNING });
    expect(up.status).toBe("succeeded");
    for (const name of names) {
      expect(account.get(name).desired, name).toBe(3);
      expect(account.get(name).tags.has(RECORD_TAG), name).toBe(false);
    }
  });

  it("throttling is retried: ThrottlingException, then success", async () => {
    const account = new FakeAccount().add("api", { desired: 4 });
    const throttled = new Set<string>();
    account.fault = (command, service) => {
      const key = `${command} ${service}`;
      if ((command === "UpdateService" || command === "DescribeServices") && !throttled.has(key)) {
        throttled.add(key);
        return throttling();
      }
      return undefined;
    };
    const down = await run(scaleDownRunbook, account, shop(["api"]), { at: MON_EVENING });
    expect(down.status).toBe("succeeded");
    expect(action(down, "api")?.status).toBe("done");
    expect(account.ecs).toHaveReceivedCommandTimes(UpdateServiceCommand, 2);
    expect(account.ecs).toHaveReceivedCommandTimes(DescribeServicesCommand, 2);
    expect(account.get("api").desired).toBe(1);
  });

  it("dry run changes nothing: no UpdateService, RegisterScalableTarget or tag calls; says what it would do", async () => {
    const account = new FakeAccount()
      .add("api", { desired: 4, bounds: { min: 2, max: 10 } })
      .add("web", { desired: 2 });
    const system = shop(["api", "web"]);
    const down = await run(scaleDownRunbook, account, system, { at: MON_EVENING, dryRun: true });
    expect(down.dryRun).toBe(true);
    expect(action(down, "api")).toMatchObject({
      status: "would-do",
      before: { desired: 4, min: 2, max: 10 },
      after: { desired: 1, min: 1, max: 1 },
    });
    expect(down.summary).toMatch(/^would lower 2 services to the floor 1 \(api 4→1, web 2→1\)/);
    const keep = await run(keepAwakeRunbook, account, system, {
      at: MON_EVENING,
      dryRun: true,
      input: { until: "22:00" },
    });
    expect(action(keep, "api", "keep-awake")?.status).toBe("would-do");
    expect(account.ecs).not.toHaveReceivedCommand(UpdateServiceCommand);
    expect(account.ecs).not.toHaveReceivedCommand(TagResourceCommand);
    expect(account.ecs).not.toHaveReceivedCommand(UntagResourceCommand);
    expect(account.aas).not.toHaveReceivedCommand(RegisterScalableTargetCommand);
    expect(account.writes).toEqual([]);
    expect(account.get("api").tags.size).toBe(0);
  });

  it("reports before/after per service and the savings per night and per month from the task size", async () => {
    const account = new FakeAccount()
      .add("api", { desired: 4 })
      .add("worker", { desired: 6, bounds: { min: 2, max: 10 } });
    const down = await run(scaleDownRunbook, account, shop(["api", "worker"]), { at: MON_EVENING });
    // (3 + 5) tasks × 13 h; 0.5 vCPU + 1 GB at us-east-1 prices = $0.024685 per task-hour.
    expect(down.metrics.taskHoursSavedPerNight).toBe(104);
    expect(down.metrics.costSavedPerNightUsd).toBe(2.57);
    // Weekends off: 5 × 13 h + 48 h = 113 h a week.
    expect(down.metrics.costSavedPerMonthUsd).toBeCloseTo(8 * 113 * (365.25 / 12 / 7) * 0.024685, 1);
    expect(down.summary).toMatch(/~104 task-hours and ~\$2\.57 per night, ~\$97\.\d\d per month/);
    expect(down.details?.savings).toMatchObject({ price: { region: "us-east-1", source: "table" } });
  });

  it("outside the window nothing is touched (a late delivery); ignoreWindow=true runs by hand", async () => {
    const account = new FakeAccount().add("api", { desired: 4 });
    const system = shop(["api"]);
    const noon = await run(scaleDownRunbook, account, system, { at: "2026-11-23T10:00:00Z" });
    expect(noon.status).toBe("skipped");
    expect(noon.actions[0]?.reason).toMatch(/outside off-hours \(18:00–07:00 Africa\/Johannesburg.*Monday 12:00/);
    expect(account.ecs).not.toHaveReceivedAnyCommand();
    const forced = await run(scaleDownRunbook, account, system, {
      at: "2026-11-23T10:00:00Z",
      input: { ignoreWindow: "true" },
    });
    expect(action(forced, "api")?.status).toBe("done");
  });

  it("a late run at 08:33 says it is 08:33 (the real local time), not the 08:38 its decision looked at", async () => {
    // Prepare: Monday 08:33 SAST, business hours, so scale-down skips and says what time it is.
    const account = new FakeAccount().add("api", { desired: 4 });
    const system = shop(["api"]);
    // Act
    const late = await run(scaleDownRunbook, account, system, { at: "2026-11-23T06:33:00Z" });
    // Assess
    expect(late.status).toBe("skipped");
    expect(late.actions[0]?.reason).toContain("it is Monday 08:33 there");
    expect(late.summary).toBe("skipped: outside off-hours (Monday 08:33 Africa/Johannesburg)");
    expect(JSON.stringify(late)).not.toContain("08:38 there");
    expect(late.details?.window).toMatchObject({
      state: { off: false, localTime: "Monday 08:33", decidedFor: "Monday 08:38" },
    });
  });

  it("scale-up leaves services down on a holiday and on a weekend", async () => {
    const account = new FakeAccount().add("api", { desired: 4 });
    const system = shop(["api"]);
    await run(scaleDownRunbook, account, system, { at: "2026-12-24T16:00:30Z" });
    const christmas = await run(scaleUpRunbook, account, system, { at: "2026-12-25T05:00:20Z" });
    expect(christmas.status).toBe("skipped");
    expect(christmas.summary).toMatch(/2026-12-25 is a holiday/);
    const saturday = await run(scaleUpRunbook, account, system, { at: "2026-12-26T05:00:20Z" });
    expect(saturday.summary).toMatch(/Saturday is a weekend day/);
    expect(account.get("api").desired).toBe(1);
    await run(scaleUpRunbook, account, system, { at: "2026-12-28T05:00:20Z" });
    expect(account.get("api").desired).toBe(4);
  });

  it("stops between services when the deadline signal fires and reports partial with what was left", async () => {
    const account = new FakeAccount();
    const names = ["s1", "s2", "s3", "s4", "s5"];
    for (const name of names) account.add(name, { desired: 2 });
    const controller = new AbortController();
    account.fault = (command) => {
      if (command === "UpdateService" && account.writes.filter((w) => w.startsWith("UpdateService")).length === 1) {
        controller.abort();
      }
      return undefined;
    };
    const down = await run(scaleDownRunbook, account, shop(names), {
      at: MON_EVENING,
      signal: controller.signal,
      input: { concurrency: 1 },
    });
    expect(down.status).toBe("partial");
    expect(down.actions.filter((a) => a.status === "done").map((a) => a.resource)).toEqual(["shop/s1", "shop/s2"]);
    expect(down.actions.at(-1)?.reason).toMatch(/3 services left as they were: s3, s4, s5/);
    expect(account.get("s5").desired).toBe(2);
  });

  it("a service whose record is unreadable, or that is missing, is reported failed and not touched", async () => {
    const account = new FakeAccount().add("api", { desired: 2, tags: { [RECORD_TAG]: "desired=4" } });
    const down = await run(scaleDownRunbook, account, shop(["api", "ghost"]), { at: MON_EVENING });
    expect(action(down, "api")).toMatchObject({ status: "failed" });
    expect(action(down, "api")?.reason).toMatch(/unreadable.*not touched/);
    expect(action(down, "ghost")).toMatchObject({ status: "failed", reason: "DescribeServices: MISSING" });
    expect(down.status).toBe("failed");
    expect(account.writes).toEqual([]);
  });

  it("a service whose autoscaling cannot be read is not lowered (autoscaling would undo it)", async () => {
    const account = new FakeAccount().add("api", { desired: 4 });
    account.fault = (command) =>
      command === "DescribeScalableTargets"
        ? new ApplicationAutoScalingServiceException({
            name: "AccessDeniedException",
            $fault: "client",
            $metadata: { httpStatusCode: 400 },
            message: "not authorized",
          })
        : undefined;
    const down = await run(scaleDownRunbook, account, shop(["api"]), { at: MON_EVENING });
    expect(action(down, "api")).toMatchObject({ status: "failed" });
    expect(action(down, "api")?.reason).toMatch(/DescribeScalableTargets failed: not authorized/);
    expect(account.writes).toEqual([]);
  });

  it("only the policy's targets are scaled down, but scale-up restores any service it recorded", async () => {
    const account = new FakeAccount().add("api", { desired: 4 }).add("worker", { desired: 5 });
    const targeted = shop(["api", "worker"], { targets: ["worker"] });
    await run(scaleDownRunbook, account, targeted, { at: MON_EVENING });
    expect(account.get("api").desired).toBe(4);
    expect(account.get("worker").desired).toBe(1);
    // The target list changed overnight: worker is no longer targeted but must still come back.
    const retargeted = shop(["api", "worker"], { targets: ["api"] });
    await run(scaleUpRunbook, account, retargeted, { at: TUE_MORNING });
    expect(account.get("worker").desired).toBe(5);
  });
});

describe("systems that are not scaled", () => {
  it("PartPal runs on EKS: no ECS or Application Auto Scaling call, the cluster is looked up instead", async () => {
    const clients = testClients();
    const ecs = mockClient(clients.ecs);
    const aas = mockClient(clients.autoscaling);
    const eks = mockClient(clients.eks);
    eks.on(DescribeClusterCommand).rejects(new Error("no such cluster in this test"));
    const ctx = testContext({ system: "partpal-ims", clients, now: new Date("2026-11-23T16:00:30Z") });
    const report = await scaleDownRunbook.run(ctx, scaleDownRunbook.input.parse({}));
    expect(report.actions.map((a) => [a.resource, a.status])).toEqual([
      ["eks/partpal-ims/partpal/partpal-api", "failed"],
      ["eks/partpal-ims/partpal/partpal-ims", "failed"],
    ]);
    expect(report.actions[0]?.reason).toContain("eks:DescribeCluster partpal-ims failed");
    expect(JSON.stringify(report)).not.toContain("not supported");
    expect(ecs).not.toHaveReceivedAnyCommand();
    expect(aas).not.toHaveReceivedAnyCommand();
  });

  it("Flash Sale (off-hours disabled, floor 10) is never scaled: scale-down does nothing, scale-up finds no record", async () => {
    const account = new FakeAccount();
    const ctx = (at: string) => testContext({ system: "flash-sale", clients: account.clients, now: new Date(at) });
    // Re-point the fake at Flash Sale's cluster: its one service at its autoscaling floor of 10.
    account.services.set("flash-sale-service", {
      desired: 10,
      tags: new Map(),
      deployments: [settledDeployment(10)],
      status: "ACTIVE",
    });
    account.targets.set("service/flash-sale-cluster/flash-sale-service", { min: 10, max: 50 });
    const down = await scaleDownRunbook.run(ctx(MON_EVENING), scaleDownRunbook.input.parse({ ignoreWindow: "true" }));
    expect(down.status).toBe("skipped");
    expect(down.actions[0]?.reason).toMatch(/^off-hours disabled: Autoscaling floor is 10 tasks/);
    const up = await scaleUpRunbook.run(ctx(TUE_MORNING), scaleUpRunbook.input.parse({}));
    expect(up.actions.map((a) => a.status)).toEqual(["skipped"]);
    expect(account.writes).toEqual([]);
    expect(account.get("flash-sale-service").desired).toBe(10);
    expect(account.targets.get("service/flash-sale-cluster/flash-sale-service")).toEqual({ min: 10, max: 50 });
  });
});
