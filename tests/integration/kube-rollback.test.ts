import { DescribeClusterCommand, EKSClient } from "@aws-sdk/client-eks";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { ROLLBACK_MARKS } from "../../runbooks/kube-rollback/apply.js";
import { kubeRollbackRunbook } from "../../runbooks/kube-rollback/index.js";
import { decideRollback, mergePatchBetween } from "../../runbooks/kube-rollback/plan.js";
import type { Report } from "../../runbooks/types.js";
import { type System, type SystemInput, systemSchema } from "../../systems/schema.js";
import { CREDENTIALS } from "../helpers/aws-account.js";
import { testClients, testContext } from "../helpers/context.js";
import { type DeploymentSpec, type KubeApiServer, startKubeApi } from "../helpers/kube-api.js";

const CLUSTER = "ode-test";
const NS = "ode";
const NOW = "2026-11-23T16:00:00Z";
const FAILED = {
  conditions: [
    {
      type: "Progressing",
      status: "False",
      reason: "ProgressDeadlineExceeded",
      message: 'ReplicaSet "worker-3" has timed out progressing.',
    },
  ],
  availableReplicas: 1,
};

function system(names: string[]): System {
  return systemSchema.parse({
    id: "ode-test",
    name: "ODE test",
    account: { region: "us-east-1" },
    timezone: "America/New_York",
    runtime: { kind: "eks", cluster: CLUSTER, namespace: NS, deployments: names.map((name) => ({ name })) },
    databases: [],
    dr: { rtoMinutes: 60, rpoMinutes: 1440, drillSource: "pg_dump" },
    offHours: { enabled: false, reason: "test" },
  } satisfies SystemInput);
}

let server: KubeApiServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function setup(specs: DeploymentSpec[]) {
  const api = await startKubeApi({ cluster: CLUSTER, namespace: NS });
  server = api;
  for (const spec of specs) api.addDeployment(spec);
  const eks = new EKSClient({
    region: "us-east-1",
    credentials: CREDENTIALS,
  });
  mockClient(eks)
    .on(DescribeClusterCommand)
    .resolves({
      cluster: { name: CLUSTER, status: "ACTIVE", endpoint: api.url, certificateAuthority: { data: api.caData } },
    });
  const clients = { ...testClients(), eks };
  const sys = system(specs.map((s) => s.name));
  const run = (input: Record<string, string> = {}, options: { at?: string; dryRun?: boolean } = {}): Promise<Report> =>
    kubeRollbackRunbook.run(
      testContext({ system: sys, clients, now: new Date(options.at ?? NOW), dryRun: options.dryRun ?? false }),
      kubeRollbackRunbook.input.parse(input),
    );
  return { api, run };
}

const image = (api: KubeApiServer, name: string) =>
  (
    (api.deployment(NS, name).spec as { template: { spec: { containers: { image: string }[] } } }).template.spec
      .containers[0] as { image: string }
  ).image;
const annotations = (api: KubeApiServer, name: string) =>
  (api.deployment(NS, name).metadata as { annotations: Record<string, string> }).annotations;

describe("kube-rollback on a failed rollout", () => {
  it("ProgressDeadlineExceeded: back to the previous revision's pod template, guards recorded on the deployment", async () => {
    const { api, run } = await setup([
      { name: "worker", replicas: 2, status: FAILED },
      { name: "api", replicas: 2 },
    ]);
    const report = await run();
    const action = report.actions.find((a) => a.action === "rollback");
    expect(action).toMatchObject({ resource: `eks/${CLUSTER}/${NS}/worker`, status: "done" });
    expect(image(api, "worker")).toBe("example/worker:2");
    expect(annotations(api, "worker")[ROLLBACK_MARKS.rolledBackFrom]).toBe("h3");
    expect(annotations(api, "worker")[ROLLBACK_MARKS.lastRollback]).toBe("v1 from=h3 to=h2 at=2026-11-23T16:00:00Z");
    // The controller gave the reused replicaset the next revision, as it does for `kubectl rollout undo`.
    expect(annotations(api, "worker")["deployment.kubernetes.io/revision"]).toBe("4");
    // A healthy deployment is remembered as known-good, not rolled back.
    expect(report.actions.find((a) => a.resource.endsWith("/api"))).toMatchObject({ action: "mark-known-good" });
    expect(annotations(api, "api")[ROLLBACK_MARKS.knownGood]).toBe("h3");
    const patch = api.writes().find((w) => w.path.endsWith("/deployments/worker"));
    expect(patch?.contentType).toBe("application/merge-patch+json");
    expect((patch?.body?.metadata as { resourceVersion?: string } | undefined)?.resourceVersion).toMatch(/^\d+$/);
  });

  it("a duplicate run (the next 2-minute check) does not roll back again", async () => {
    const { api, run } = await setup([{ name: "worker", replicas: 2, status: FAILED }]);
    const first = await run();
    const again = await run({}, { at: "2026-11-23T16:02:00Z" });
    expect(first.actions.map((a) => [a.action, a.status])).toEqual([
      ["rollback", "done"],
      ["follow", "done"],
    ]);
    expect(again.actions.filter((a) => a.action === "rollback" || a.action === "follow")).toEqual([]);
    expect(image(api, "worker")).toBe("example/worker:2");
    expect(api.writes().filter((w) => (w.body?.spec as object | undefined) !== undefined)).toHaveLength(1);
  });

  it("guard: the failing revision is the known-good one → escalate, nothing changed", async () => {
    const { api, run } = await setup([
      { name: "worker", replicas: 2, status: FAILED, annotations: { [ROLLBACK_MARKS.knownGood]: "h3" } },
    ]);
    const report = await run();
    expect(report.actions[0]).toMatchObject({ action: "escalate", status: "failed" });
    expect(report.actions[0]?.reason).toContain("is the known-good one");
    expect(api.writes()).toEqual([]);
  });

  it("guard: rolled back within the cooldown → escalate", async () => {
    const { api, run } = await setup([
      {
        name: "worker",
        replicas: 2,
        status: FAILED,
        annotations: { [ROLLBACK_MARKS.lastRollback]: "v1 from=h4 to=h3 at=2026-11-23T15:50:00Z" },
      },
    ]);
    const report = await run();
    expect(report.actions[0]?.reason).toContain("rolled back 10 min ago, within the 30-min cooldown");
    expect(api.writes()).toEqual([]);
  });

  it("guard: never back to a revision that was rolled back from → escalate", async () => {
    const { api, run } = await setup([
      { name: "worker", replicas: 2, status: FAILED, annotations: { [ROLLBACK_MARKS.rolledBackFrom]: "h2" } },
    ]);
    const report = await run();
    expect(report.actions[0]?.reason).toContain("the earlier revision 2 was itself rolled back from");
    expect(api.writes()).toEqual([]);
  });

  it("dry run: says it would roll back and sends no write", async () => {
    const { api, run } = await setup([{ name: "worker", replicas: 2, status: FAILED }]);
    const report = await run({}, { dryRun: true });
    expect(report.actions[0]).toMatchObject({ action: "rollback", status: "would-do" });
    expect(report.summary).toBe("would roll back worker");
    expect(api.writes()).toEqual([]);
    // A dry run plans: it reads the namespace and follows nothing.
    expect(api.requests.every((r) => r.method === "GET")).toBe(true);
    expect(report.actions.map((a) => a.action)).toEqual(["rollback"]);
  });

  it("a 409 on the first patch (another writer changed it meanwhile): read again, decided again, rolled back once", async () => {
    // Prepare: between our read and our patch, someone else annotates the deployment, so the stored
    // resourceVersion moves on and the server's own optimistic-concurrency check answers 409.
    const { api, run } = await setup([{ name: "worker", replicas: 2, status: FAILED }]);
    let patches = 0;
    api.conflictWhen = (request) => {
      if (request.method === "PATCH" && patches++ === 0) {
        api.touch(NS, "worker", (d) => {
          (d.metadata as { annotations: Record<string, string> }).annotations["team.example/owner"] = "ode";
        });
      }
      return false;
    };
    // Act
    const report = await run();
    // Assess
    expect(report.actions.map((a) => a.action)).toEqual(["rollback", "follow"]);
    expect(report.actions[0]).toMatchObject({ action: "rollback", status: "done" });
    expect(report.actions[0]?.reason).toContain("after 1 conflicting write, read again");
    expect(image(api, "worker")).toBe("example/worker:2");
    expect(annotations(api, "worker")["team.example/owner"]).toBe("ode");
    expect(annotations(api, "worker")[ROLLBACK_MARKS.rolledBackFrom]).toBe("h3");
    const patchesSent = api.writes().filter((w) => w.path.endsWith("/deployments/worker"));
    expect(patchesSent).toHaveLength(2);
    // One fresh read after the 409, one by the follow-up (the controller settles at once here).
    const freshReads = api.requests.filter((r) => r.method === "GET" && r.path.endsWith("/deployments/worker"));
    expect(freshReads).toHaveLength(2);
    expect(report.actions[1]).toMatchObject({ action: "follow", status: "done" });
  });

  it("a duplicate delivery that loses the 409 to the first one's rollback: nothing to do, no escalation", async () => {
    // Prepare: between this run's read and its patch, the other delivery's rollback lands: the template is
    // revision 2's, the guards' annotations written, and the controller has not seen it yet (generation 5,
    // observed 4, revision still 3, the deadline condition still there).
    const { api, run } = await setup([{ name: "worker", replicas: 2, status: FAILED }]);
    let patches = 0;
    api.conflictWhen = (request) => {
      if (request.method === "PATCH" && patches++ === 0) {
        api.touch(NS, "worker", (d) => {
          const meta = d.metadata as { generation: number; annotations: Record<string, string> };
          meta.generation += 1;
          meta.annotations[ROLLBACK_MARKS.rolledBackFrom] = "h3";
          meta.annotations[ROLLBACK_MARKS.lastRollback] = "v1 from=h3 to=h2 at=2026-11-23T15:59:58Z";
          const template = (d.spec as { template: { spec: { containers: { image: string }[] } } }).template;
          (template.spec.containers[0] as { image: string }).image = "example/worker:2";
        });
      }
      return false;
    };
    // Act
    const report = await run();
    // Assess
    expect(report.actions).toEqual([
      expect.objectContaining({
        action: "kube-rollback",
        status: "skipped",
        reason: "our rollback at 2026-11-23T15:59:58.000Z is being followed (after 1 conflicting write, read again)",
      }),
    ]);
    expect(report.details?.escalation).toBeUndefined();
    expect(api.writes()).toHaveLength(1);
    expect(image(api, "worker")).toBe("example/worker:2");
  });

  it("a ProgressDeadlineExceeded naming an earlier replicaset than the current one is not a failure of what runs", async () => {
    // After a rollback, the controller leaves the revision rolled back from's condition standing until it sees
    // progress; here the condition names revision 2's replicaset while revision 3 runs.
    const stale = {
      ...FAILED,
      conditions: [{ ...FAILED.conditions[0], message: 'ReplicaSet "worker-2" has timed out progressing.' }],
    };
    const { api, run } = await setup([{ name: "worker", replicas: 2, status: stale }]);
    const report = await run();
    expect(report.actions.map((a) => [a.action, a.status, a.reason])).toEqual([
      ["kube-rollback", "skipped", "rollout in progress, not failed: nothing to do"],
    ]);
    expect(report.details?.escalation).toBeUndefined();
    expect(api.writes()).toEqual([]);
  });

  it("409 on every patch: gives up after 5 writes, reported failed for the next check", async () => {
    const { api, run } = await setup([{ name: "worker", replicas: 2, status: FAILED }]);
    api.conflictWhen = () => true;
    const report = await run();
    expect(report.actions[0]).toMatchObject({ action: "rollback", status: "failed" });
    expect(report.actions[0]?.reason).toMatch(/HTTP 409.*the next check decides again/);
    expect(api.writes()).toHaveLength(5);
    expect(image(api, "worker")).toBe("example/worker:3");
  });

  it("bad input: an unknown deployment is a failed action naming the known ones; cooldownMinutes=0 is refused", async () => {
    const { api, run } = await setup([{ name: "worker", replicas: 2, status: FAILED }]);
    const report = await run({ deployment: "wrker" });
    expect(report.actions[0]?.reason).toBe('"wrker" is not a deployment of ode-test (known: worker)');
    expect(api.requests).toEqual([]);
    expect(kubeRollbackRunbook.input.safeParse({ cooldownMinutes: "0" }).success).toBe(false);
  });
});

describe("rollback guards (pure)", () => {
  const base = {
    healthy: false,
    failure: "rollout failed",
    current: { hash: "h5", revision: 5 },
    previous: { hash: "h4", revision: 4 },
    rolledBackFrom: [],
    cooldownMinutes: 30,
    now: new Date(NOW),
  };
  it.each([
    ["rolls back", {}, "rollback"],
    ["still progressing", { failure: undefined }, "none"],
    ["healthy, new revision", { healthy: true, failure: undefined }, "mark-good"],
    ["healthy, already known-good", { healthy: true, failure: undefined, knownGood: "h5" }, "none"],
    ["no earlier revision", { previous: undefined }, "escalate"],
    ["cooldown over", { lastRollbackAt: new Date("2026-11-23T15:00:00Z") }, "rollback"],
  ] as const)("%s", (_, change, kind) => {
    expect(decideRollback({ ...base, ...change }).kind).toBe(kind);
  });

  describe("our own rollback, still being followed (followMinutes 10)", () => {
    const ours = (to: string, at: string) => ({
      followMinutes: 10,
      lastRollbackAt: new Date(at),
      lastRollback: { from: "h9", to },
    });
    it.each([
      [
        "to the target, 2 min ago (a duplicate that re-read before the controller saw the write)",
        ours("h4", "2026-11-23T15:58:00Z"),
        { kind: "none", reason: "our rollback at 2026-11-23T15:58:00.000Z is being followed" },
      ],
      [
        "to the current revision, 9 min ago (a run overlapping the follow)",
        ours("h5", "2026-11-23T15:51:00Z"),
        { kind: "none", reason: "our rollback at 2026-11-23T15:51:00.000Z is being followed" },
      ],
      [
        "10 min ago: no longer followed, the cooldown escalates",
        ours("h5", "2026-11-23T15:50:00Z"),
        { kind: "escalate", guard: "cooldown" },
      ],
      [
        "to another template: the cooldown escalates",
        ours("h1", "2026-11-23T15:58:00Z"),
        { kind: "escalate", guard: "cooldown" },
      ],
      [
        "a probe trigger (its rollbacks are not followed): the cooldown escalates",
        { ...ours("h5", "2026-11-23T15:58:00Z"), trigger: "probe", failedHash: "h5" },
        { kind: "escalate", guard: "cooldown" },
      ],
    ] as const)("%s", (_, change, expected) => {
      expect(decideRollback({ ...base, ...change })).toMatchObject(expected);
    });
  });

  it("the merge patch between two templates nulls what the target lacks", () => {
    expect(mergePatchBetween({ a: 1, b: { c: 2, d: 3 } }, { a: 1, b: { c: 4 } })).toEqual({ b: { c: 4, d: null } });
  });
});
