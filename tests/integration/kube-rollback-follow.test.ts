import { DescribeClusterCommand, EKSClient } from "@aws-sdk/client-eks";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { kubeRollbackRunbook } from "../../runbooks/kube-rollback/index.js";
import type { FollowedRollback } from "../../runbooks/kube-rollback/run.js";
import type { Report } from "../../runbooks/types.js";
import { type System, type SystemInput, systemSchema } from "../../systems/schema.js";
import { CREDENTIALS } from "../helpers/aws-account.js";
import { testClients, testContext } from "../helpers/context.js";
import { HealthServer } from "../helpers/health-server.js";
import { type KubeApiServer, type KubeRequest, startKubeApi } from "../helpers/kube-api.js";
import { SimClock } from "../helpers/simulated-ecs.js";

// kube-rollback follows its rollback: the official Kubernetes client against the local HTTPS API server
// (tests/helpers/kube-api.ts), whose staged rollouts show the controller's progress over successive reads;
// a real HTTP health endpoint (tests/helpers/health-server.ts); a simulated clock that ctx.sleep advances.

const CLUSTER = "ode-test";
const NS = "ode";
const T0 = Date.parse("2026-11-23T16:00:00Z");
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

/** worker's revision 3 (template h3) failed its rollout; revision 2 (h2) is the one before. */
const FAILED_CONDITIONS = [
  {
    type: "Progressing",
    status: "False",
    reason: "ProgressDeadlineExceeded",
    message: 'ReplicaSet "worker-3" has timed out progressing.',
  },
];
const FAILED = { conditions: FAILED_CONDITIONS, availableReplicas: 1 };

/** The controller's status after the rollback write (generation 4 → 5), stage by stage. */
const STAGES = {
  /** Read before the controller has seen the write: the failed revision's status, deadline condition and all. */
  notObserved: { observedGeneration: 4, availableReplicas: 1, conditions: FAILED_CONDITIONS },
  rolling: {
    replicas: 3,
    updatedReplicas: 1,
    availableReplicas: 1,
    conditions: [
      {
        type: "Available",
        status: "True",
        reason: "MinimumReplicasAvailable",
        message: "Deployment has minimum availability.",
      },
      {
        type: "Progressing",
        status: "True",
        reason: "ReplicaSetUpdated",
        message: 'ReplicaSet "worker-2" is progressing.',
      },
    ],
  },
  complete: {
    conditions: [
      {
        type: "Available",
        status: "True",
        reason: "MinimumReplicasAvailable",
        message: "Deployment has minimum availability.",
      },
      {
        type: "Progressing",
        status: "True",
        reason: "NewReplicaSetAvailable",
        message: 'ReplicaSet "worker-2" has successfully progressed.',
      },
    ],
  },
};

const health = new HealthServer();
beforeAll(() => health.start());
afterAll(() => health.stop());

let server: KubeApiServer | undefined;
afterEach(async () => {
  health.mode = "up";
  await server?.close();
  server = undefined;
});

function system(options: { baseUrl?: string; followMinutes?: number }): System {
  return systemSchema.parse({
    id: "ode-test",
    name: "ODE test",
    account: { region: "us-east-1" },
    timezone: "America/New_York",
    runtime: { kind: "eks", cluster: CLUSTER, namespace: NS, deployments: [{ name: "worker" }] },
    databases: [],
    dr: { rtoMinutes: 60, rpoMinutes: 1440, drillSource: "pg_dump" },
    offHours: { enabled: false, reason: "test" },
    health: [
      {
        target: "worker",
        path: "/health",
        ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}),
        intervalSeconds: 30,
        timeoutSeconds: 1,
        unhealthyThreshold: 3,
      },
    ],
    ...(options.followMinutes ? { rollback: { followMinutes: options.followMinutes } } : {}),
  } satisfies SystemInput);
}

async function setup(options: { stages?: Record<string, unknown>[]; baseUrl?: string; followMinutes?: number } = {}) {
  const api = await startKubeApi({ cluster: CLUSTER, namespace: NS });
  server = api;
  api.addDeployment({ name: "worker", replicas: 3, status: FAILED });
  if (options.stages) api.rollout(NS, "worker", options.stages);
  const eks = new EKSClient({ region: "us-east-1", credentials: CREDENTIALS });
  mockClient(eks)
    .on(DescribeClusterCommand)
    .resolves({
      cluster: { name: CLUSTER, status: "ACTIVE", endpoint: api.url, certificateAuthority: { data: api.caData } },
    });
  const clock = new SimClock(T0);
  const sys = system(options);
  const run = (input: Record<string, string> = {}, dryRun = false): Promise<Report> =>
    kubeRollbackRunbook.run(
      {
        ...testContext({ system: sys, clients: { ...testClients(), eks }, now: clock.now, dryRun }),
        sleep: clock.sleep,
      },
      kubeRollbackRunbook.input.parse(input),
    );
  return { api, clock, run };
}

const follows = (report: Report) => (report.details?.follows ?? []) as FollowedRollback[];
const followAction = (report: Report) => report.actions.find((a) => a.action === "follow");

/** The Kubernetes verb a request of the runbook is: list, get or patch, on deployments or replicasets. */
function verbOf(request: KubeRequest): { resource: string; verb: string } {
  // /apis/apps/v1/namespaces/<ns>/<resource>[/<name>]
  const [, , , , , resource, name] = request.path.split("/").filter(Boolean);
  const verb = request.method === "PATCH" ? "patch" : name ? "get" : "list";
  return { resource: resource ?? "?", verb };
}

describe("kube-rollback follows its rollback until complete and healthy", () => {
  it("rolled back, then followed through the controller's stages to complete and the probe passing", async () => {
    // Prepare
    const { api, run } = await setup({
      stages: [STAGES.notObserved, STAGES.rolling, STAGES.complete],
      baseUrl: health.url,
    });
    // Act
    const report = await run();
    // Assess
    expect(report.status).toBe("succeeded");
    expect(report.actions.map((a) => [a.action, a.status])).toEqual([
      ["rollback", "done"],
      ["follow", "done"],
    ]);
    expect(followAction(report)?.reason).toBe(
      `complete on revision 2's template h2 and ${health.url}/health passes after 3 polls`,
    );
    const [followed] = follows(report);
    expect(followed).toMatchObject({
      resource: `eks/${CLUSTER}/${NS}/worker`,
      healthy: true,
      from: { hash: "h3", revision: 3 },
      to: { hash: "h2", revision: 2 },
      issuedAt: at(0),
      completeAt: at(20),
      healthyAt: at(20),
      issuedToHealthyMs: 20_000,
      polls: 3,
    });
    // What Kubernetes said while following: the stale deadline condition of the first read is not news.
    expect(followed?.conditions.map((c) => [c.at, c.type, c.reason, c.message])).toEqual([
      [at(10), "Available", "MinimumReplicasAvailable", "Deployment has minimum availability."],
      [at(10), "Progressing", "ReplicaSetUpdated", 'ReplicaSet "worker-2" is progressing.'],
      [at(20), "Progressing", "NewReplicaSetAvailable", 'ReplicaSet "worker-2" has successfully progressed.'],
    ]);
    expect(report.metrics.issuedToHealthyMs).toBe(20_000);
    expect(report.summary).toBe("rolled back worker; worker healthy 20.0 s after the rollback");
    expect(report.details?.escalation).toBeUndefined();
    expect(health.requests).toBeGreaterThan(0);
    // Following only reads: one spec write (the rollback), and every call within the declared access.
    expect(api.writes()).toHaveLength(1);
    const declared = kubeRollbackRunbook.kubernetesAccess?.(system({}))[0]?.rules ?? [];
    for (const request of api.requests) {
      const { resource, verb } = verbOf(request);
      const rule = declared.find((r) => r.resources.includes(resource));
      expect(rule?.verbs, `${request.method} ${request.path}`).toContain(verb);
    }
  });

  it("a rollout that never completes: failed at the catalogue's followMinutes, naming what is missing", async () => {
    // Prepare
    const { run } = await setup({ stages: [STAGES.rolling], followMinutes: 2 });
    // Act
    const report = await run();
    // Assess
    expect(report.status).toBe("partial");
    expect(followAction(report)).toMatchObject({
      status: "failed",
      reason:
        "not healthy after the rollback to revision 2's template h2: not healthy within 2 min: 1 of 3 replicas updated; 1 of 3 replicas available",
    });
    expect(follows(report)[0]).toMatchObject({ healthy: false, polls: 12 });
    expect(follows(report)[0]?.completeAt).toBeUndefined();
    expect(report.finishedAt).toBe(at(120));
    expect(report.details?.escalation).toMatchObject({
      severity: "critical",
      reason: expect.stringContaining(`eks/${CLUSTER}/${NS}/worker: rolled back to template h2 but not healthy`),
    });
    expect(report.summary).toMatch(/^rolled back worker; worker NOT healthy: not healthy within 2 min: 1 of 3/);
  });

  it("ProgressDeadlineExceeded on the rollback's own rollout: failed at once with the condition's message; the next check escalates", async () => {
    // Prepare
    const timedOut = {
      observedGeneration: 5,
      availableReplicas: 1,
      conditions: [
        {
          type: "Progressing",
          status: "False",
          reason: "ProgressDeadlineExceeded",
          message: 'ReplicaSet "worker-2" has timed out progressing.',
        },
      ],
    };
    const { clock, run } = await setup({ stages: [timedOut] });
    // Act
    const report = await run();
    clock.advance(120_000);
    const during = await run();
    clock.advance(10 * 60_000);
    const next = await run();
    // Assess
    expect(report.status).toBe("partial");
    expect(followAction(report)?.reason).toBe(
      `not healthy after the rollback to revision 2's template h2: the rollback's rollout failed (ProgressDeadlineExceeded: ReplicaSet "worker-2" has timed out progressing.)`,
    );
    expect(follows(report)[0]).toMatchObject({ healthy: false, polls: 1 });
    expect(report.finishedAt).toBe(at(0));
    expect(follows(report)[0]?.conditions).toEqual([
      expect.objectContaining({ message: 'ReplicaSet "worker-2" has timed out progressing.' }),
    ]);
    // Within followMinutes of the rollback the next check leaves it to the run that follows it (which paged)…
    expect(during.actions.map((a) => [a.action, a.status])).toEqual([["kube-rollback", "skipped"]]);
    expect(during.actions[0]?.reason).toBe("our rollback at 2026-11-23T16:00:00.000Z is being followed");
    expect(during.details?.escalation).toBeUndefined();
    // …then no flapping back to the revision just rolled back from: a person decides.
    expect(next.actions.map((a) => a.action)).toEqual(["escalate"]);
    expect(next.actions[0]?.reason).toContain("was itself rolled back from");
  });

  it("the failed revision's ProgressDeadlineExceeded still standing once the rollback is observed: waited past, healthy", async () => {
    // Prepare: one replica, Recreate-like: the controller observes the rollback to the existing replicaset
    // before it sees progress, so the old revision's deadline condition stays on the first reads.
    const stale = { replicas: 3, updatedReplicas: 3, availableReplicas: 0, conditions: FAILED_CONDITIONS };
    const { run } = await setup({ stages: [stale, stale, STAGES.complete] });
    // Act
    const report = await run();
    // Assess
    expect(report.status).toBe("succeeded");
    expect(followAction(report)?.reason).toBe(
      "complete on revision 2's template h2 (no probe-able health endpoint) after 3 polls",
    );
    expect(follows(report)[0]).toMatchObject({ healthy: true, completeAt: at(20) });
    expect(report.details?.escalation).toBeUndefined();
  });

  it("the follow ends before the cluster token expires (14 min after it was signed, less a 30 s margin)", async () => {
    // Prepare: the longest follow the catalogue allows; the token is signed at connect (T0).
    const { run } = await setup({ stages: [STAGES.rolling], followMinutes: 14 });
    // Act
    const report = await run();
    // Assess: T0 + 14 min (the token's expiresAt, a minute before the cluster refuses it) − 30 s.
    expect(report.finishedAt).toBe(at(13 * 60 + 30));
    expect(follows(report)[0]).toMatchObject({ healthy: false, polls: 81 });
    expect(follows(report)[0]?.reason).toMatch(/^not healthy within 13\.5 min: 1 of 3 replicas updated/);
  });

  it("complete, but the health endpoint fails: not healthy, the probe's failure as the reason", async () => {
    // Prepare
    health.mode = "status";
    const { run } = await setup({ baseUrl: health.url, followMinutes: 1 });
    // Act
    const report = await run();
    // Assess
    expect(report.status).toBe("partial");
    expect(followAction(report)?.reason).toBe(
      "not healthy after the rollback to revision 2's template h2: not healthy within 1 min: complete, but the health probe fails: 503 Service Unavailable",
    );
    expect(follows(report)[0]).toMatchObject({ healthy: false, completeAt: at(0) });
    expect(follows(report)[0]?.healthyAt).toBeUndefined();
    expect(health.requests).toBeGreaterThanOrEqual(6);
  });

  it("no probe-able endpoint: complete is healthy, and the report says there was no probe", async () => {
    const { run } = await setup({ stages: [STAGES.rolling, STAGES.complete] });
    const report = await run();
    expect(report.status).toBe("succeeded");
    expect(followAction(report)?.reason).toBe(
      "complete on revision 2's template h2 (no probe-able health endpoint) after 2 polls",
    );
  });

  it("dry run: plans the rollback, sends reads only, does not follow", async () => {
    const { api, run } = await setup({ stages: [STAGES.rolling], baseUrl: health.url });
    const before = health.requests;
    const report = await run({}, true);
    expect(report.actions.map((a) => [a.action, a.status])).toEqual([["rollback", "would-do"]]);
    expect(report.details?.follows).toBeUndefined();
    expect(api.requests.length).toBeGreaterThan(0);
    expect(api.requests.every((r) => r.method === "GET")).toBe(true);
    expect(api.requests.some((r) => r.path.endsWith("/deployments/worker"))).toBe(false);
    expect(health.requests).toBe(before);
  });
});
