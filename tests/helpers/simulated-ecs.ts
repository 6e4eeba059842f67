import {
  type Deployment,
  DescribeServicesCommand,
  ECSClient,
  type Service,
  TagResourceCommand,
  UpdateServiceCommand,
} from "@aws-sdk/client-ecs";
import { type AwsClientStub, mockClient } from "aws-sdk-client-mock";
import { awsArn, DEPLOY_ACCOUNT_ID } from "./aws-account.js";

/**
 * A simulated clock: `sleep` advances it instead of waiting, so a 5-minute rollback runs in milliseconds.
 */
export class SimClock {
  constructor(private ms: number) {}
  now = (): Date => new Date(this.ms);
  advance(ms: number): void {
    this.ms += ms;
  }
  sleep = async (ms: number): Promise<void> => {
    this.ms += ms;
  };
}

/** One deployment as the simulator keeps it. */
interface SimDeployment {
  id: string;
  status: "PRIMARY" | "ACTIVE";
  taskDefinition: string;
  createdAt: Date;
  rolloutState: "IN_PROGRESS" | "COMPLETED" | "FAILED";
  rolloutStateReason: string;
  readyAt: number;
}

/** One service of the simulator. */
export interface SimService {
  name: string;
  arn: string;
  desired: number;
  controller: "ECS" | "CODE_DEPLOY" | "EXTERNAL";
  circuitBreakerRollback: boolean;
  tags: Map<string, string>;
  deployments: SimDeployment[];
  events: { id: string; createdAt: Date; message: string }[];
}

/** Options of {@link SimulatedEcs}. */
export interface SimulatedEcsOptions {
  clock: SimClock;
  cluster: string;
  region?: string;
  account?: string;
  /** Simulated time each API call takes (advances the clock). */
  latencyMs?: number;
  /** A new deployment reaches steady state this long after UpdateService. */
  deployMs?: number;
  /** Real time each API call takes (a timer), for benchmarks that measure wall time. */
  realLatencyMs?: number;
}

export const taskDefinitionArn = (revision: string, region = "us-east-1", account = DEPLOY_ACCOUNT_ID) =>
  awsArn("ecs", `task-definition/${revision}`, { region, account });

/**
 * ECS as DescribeServices / UpdateService / TagResource see it (response shapes of the ECS API reference),
 * over a simulated clock: UpdateService starts a PRIMARY deployment that reaches steady state `deployMs`
 * later, when the old one is drained and a "has reached a steady state" event is logged.
 */
export class SimulatedEcs {
  readonly services = new Map<string, SimService>();
  readonly mock: AwsClientStub<ECSClient>;
  /** Every call: simulated instant `at`, wall-clock `wall` (performance.now) when it was sent. */
  readonly calls: { command: string; at: number; wall: number; input: unknown }[] = [];
  private seq = 1000;

  constructor(readonly options: SimulatedEcsOptions) {
    const ecs = mockClient(ECSClient);
    ecs
      .on(DescribeServicesCommand)
      .callsFake(async (input) =>
        this.call("DescribeServices", input, () =>
          this.describe(input.services ?? [], (input.include ?? []).includes("TAGS")),
        ),
      );
    ecs
      .on(UpdateServiceCommand)
      .callsFake(async (input) =>
        this.call("UpdateService", input, () =>
          this.update(input.service ?? "", input.taskDefinition ?? "", input.forceNewDeployment === true),
        ),
      );
    ecs
      .on(TagResourceCommand)
      .callsFake(async (input) =>
        this.call("TagResource", input, () => this.tag(input.resourceArn ?? "", input.tags ?? [])),
      );
    this.mock = ecs;
  }

  /** Adds a service running `revision`, deployed `deployedAgoMs` before now, steady. */
  addService(spec: {
    name: string;
    revision: string;
    deployedAgoMs?: number;
    desired?: number;
    controller?: SimService["controller"];
    circuitBreakerRollback?: boolean;
    tags?: Record<string, string>;
  }): SimService {
    const region = this.options.region ?? "us-east-1";
    const account = this.options.account ?? DEPLOY_ACCOUNT_ID;
    const now = this.options.clock.now().getTime();
    const service: SimService = {
      name: spec.name,
      arn: awsArn("ecs", `service/${this.options.cluster}/${spec.name}`, { region, account }),
      desired: spec.desired ?? 2,
      controller: spec.controller ?? "ECS",
      circuitBreakerRollback: spec.circuitBreakerRollback ?? false,
      tags: new Map(Object.entries(spec.tags ?? {})),
      deployments: [
        {
          id: `ecs-svc/${this.seq++}`,
          status: "PRIMARY",
          taskDefinition: taskDefinitionArn(spec.revision, region, account),
          createdAt: new Date(now - (spec.deployedAgoMs ?? 5 * 60_000)),
          rolloutState: "COMPLETED",
          rolloutStateReason: "ECS deployment completed.",
          readyAt: now,
        },
      ],
      events: [],
    };
    this.services.set(spec.name, service);
    return service;
  }

  /** Starts a deployment as a person's deploy would (not through the runbook). */
  deploy(name: string, revision: string): SimDeployment {
    return this.startDeployment(this.get(name), taskDefinitionArn(revision, this.options.region, this.options.account));
  }

  /** Marks the PRIMARY deployment FAILED (circuit breaker), as ECS does before rolling back itself. */
  failPrimary(name: string): void {
    const primary = this.get(name).deployments.find((d) => d.status === "PRIMARY");
    if (primary) {
      primary.rolloutState = "FAILED";
      primary.rolloutStateReason = "ECS deployment circuit breaker: task failed to start.";
    }
  }

  /** The revision (`family:rev`) the PRIMARY deployment runs. */
  running(name: string): string {
    const primary = this.get(name).deployments.find((d) => d.status === "PRIMARY");
    return primary?.taskDefinition.split("task-definition/").pop() ?? "";
  }

  /** True when the PRIMARY deployment has reached steady state (its tasks serve). */
  steady(name: string): boolean {
    this.settle();
    return this.get(name).deployments.length === 1;
  }

  count(command: string): number {
    return this.calls.filter((c) => c.command === command).length;
  }

  private get(name: string): SimService {
    const service = this.services.get(name);
    if (!service) throw new Error(`no simulated service ${name}`);
    return service;
  }

  private async call<T>(command: string, input: unknown, answer: () => T): Promise<T & { $metadata: object }> {
    const wall = performance.now();
    if (this.options.realLatencyMs) await new Promise((resolve) => setTimeout(resolve, this.options.realLatencyMs));
    this.options.clock.advance(this.options.latencyMs ?? 0);
    this.calls.push({ command, at: this.options.clock.now().getTime(), wall, input });
    return { ...answer(), $metadata: { httpStatusCode: 200 } };
  }

  private settle(): void {
    const now = this.options.clock.now().getTime();
    for (const service of this.services.values()) {
      const primary = service.deployments.find((d) => d.status === "PRIMARY");
      if (!primary) continue;
      if (primary.rolloutState !== "IN_PROGRESS" || primary.readyAt > now) continue;
      primary.rolloutState = "COMPLETED";
      primary.rolloutStateReason = `ECS deployment ${primary.id} completed.`;
      service.deployments = [primary];
      service.events.unshift({
        id: `ev-${this.seq++}`,
        createdAt: new Date(primary.readyAt),
        message: `(service ${service.name}) has reached a steady state.`,
      });
    }
  }

  private describe(names: string[], withTags: boolean) {
    this.settle();
    const services: Service[] = [];
    const failures: { arn: string; reason: string }[] = [];
    for (const name of names) {
      const service = this.services.get(name);
      if (!service) {
        failures.push({
          arn: awsArn("ecs", `service/${this.options.cluster}/${name}`, { account: DEPLOY_ACCOUNT_ID }),
          reason: "MISSING",
        });
        continue;
      }
      services.push(this.shape(service, withTags));
    }
    return { services, failures };
  }

  private shape(service: SimService, withTags: boolean): Service {
    const now = this.options.clock.now().getTime();
    const deployments: Deployment[] = service.deployments.map((d) => ({
      id: d.id,
      status: d.status,
      taskDefinition: d.taskDefinition,
      desiredCount: d.status === "PRIMARY" ? service.desired : 0,
      pendingCount: 0,
      runningCount: d.status === "PRIMARY" ? (d.readyAt <= now ? service.desired : 0) : service.desired,
      failedTasks: 0,
      createdAt: d.createdAt,
      updatedAt: new Date(now),
      launchType: "FARGATE",
      rolloutState: d.rolloutState,
      rolloutStateReason: d.rolloutStateReason,
    }));
    const primary = service.deployments.find((d) => d.status === "PRIMARY");
    return {
      serviceArn: service.arn,
      serviceName: service.name,
      clusterArn: awsArn("ecs", `cluster/${this.options.cluster}`, { account: DEPLOY_ACCOUNT_ID }),
      status: "ACTIVE",
      desiredCount: service.desired,
      runningCount: service.desired,
      pendingCount: 0,
      launchType: "FARGATE",
      taskDefinition: primary?.taskDefinition ?? "",
      deploymentConfiguration: {
        deploymentCircuitBreaker: { enable: service.circuitBreakerRollback, rollback: service.circuitBreakerRollback },
        maximumPercent: 200,
        minimumHealthyPercent: 100,
      },
      deploymentController: { type: service.controller },
      deployments,
      events: service.events.slice(0, 100),
      createdAt: new Date(now - 30 * 86_400_000),
      ...(withTags ? { tags: [...service.tags].map(([key, value]) => ({ key, value })) } : {}),
    };
  }

  /** Deployments started so far (by `deploy` or by an UpdateService that changed the task definition). */
  deploymentsStarted = 0;

  private update(name: string, taskDefinition: string, force: boolean) {
    const service = this.get(name);
    const arn = taskDefinition.startsWith("arn:")
      ? taskDefinition
      : taskDefinitionArn(taskDefinition, this.options.region, this.options.account);
    // As ECS: an update that changes nothing starts no deployment unless forced (forceNewDeployment).
    const primary = service.deployments.find((d) => d.status === "PRIMARY");
    if (force || primary?.taskDefinition !== arn) this.startDeployment(service, arn);
    return { service: this.shape(service, false) };
  }

  private startDeployment(service: SimService, taskDefinition: string): SimDeployment {
    this.settle();
    this.deploymentsStarted++;
    const now = this.options.clock.now().getTime();
    for (const d of service.deployments) d.status = "ACTIVE";
    const deployment: SimDeployment = {
      id: `ecs-svc/${this.seq++}`,
      status: "PRIMARY",
      taskDefinition,
      createdAt: new Date(now),
      rolloutState: "IN_PROGRESS",
      rolloutStateReason: "ECS deployment in progress.",
      readyAt: now + (this.options.deployMs ?? 180_000),
    };
    service.deployments.unshift(deployment);
    return deployment;
  }

  private tag(arn: string, tags: { key?: string; value?: string }[]) {
    const service = [...this.services.values()].find((s) => s.arn === arn);
    if (!service)
      throw Object.assign(new Error("The specified resource is not found."), { name: "ResourceNotFoundException" });
    for (const tag of tags) if (tag.key) service.tags.set(tag.key, tag.value ?? "");
    return {};
  }
}
