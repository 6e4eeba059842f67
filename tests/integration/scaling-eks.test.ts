import { DescribeClusterCommand, EKSClient } from "@aws-sdk/client-eks";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { keepAwakeRunbook } from "../../runbooks/keep-awake/index.js";
import { scaleDownRunbook } from "../../runbooks/scale-down/index.js";
import { scaleUpRunbook } from "../../runbooks/scale-up/index.js";
import { KUBE_MARKS } from "../../runbooks/scaling/tags.js";
import type { AnyRunbook, Report } from "../../runbooks/types.js";
import { type System, type SystemInput, systemSchema } from "../../systems/schema.js";
import { ACCOUNT_ID, CREDENTIALS } from "../helpers/aws-account.js";
import { testClients, testContext } from "../helpers/context.js";
import { type DeploymentSpec, type KubeApiServer, startKubeApi } from "../helpers/kube-api.js";

// The official @kubernetes/client-node against a real local HTTPS server speaking the API subset
// (tests/helpers/kube-api.ts); eks:DescribeCluster is faked with the API reference's response shape and
// points at that server and its CA.

const CLUSTER = "shop-eks";
const NS = "shop";
const REGION = "af-south-1";
const MON_EVENING = "2026-11-23T16:00:30Z"; // Monday 18:00:30 SAST
const MON_LATER = "2026-11-23T18:00:00Z"; // Monday 20:00 SAST
const TUE_MORNING = "2026-11-24T05:00:20Z"; // Tuesday 07:00:20 SAST

function eksSystem(names: string[], floor = 1): System {
  return systemSchema.parse({
    id: "shop",
    name: "Shop",
    account: { region: REGION, accountId: ACCOUNT_ID },
    timezone: "Africa/Johannesburg",
    runtime: { kind: "eks", cluster: CLUSTER, namespace: NS, deployments: names.map((name) => ({ name })) },
    databases: [],
    dr: { rtoMinutes: 60, rpoMinutes: 1440, drillSource: "pg_dump" },
    offHours: { enabled: true, start: "18:00", end: "07:00", floor },
  } satisfies SystemInput);
}

let server: KubeApiServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

interface Setup {
  api: KubeApiServer;
  run: (runbook: AnyRunbook, at: string, input?: Record<string, string>, dryRun?: boolean) => Promise<Report>;
  describeCalls: () => number;
}

async function setup(specs: DeploymentSpec[], options: { floor?: number; caData?: string } = {}): Promise<Setup> {
  const api = await startKubeApi({ cluster: CLUSTER, namespace: NS });
  server = api;
  for (const spec of specs) api.addDeployment(spec);
  const eks = new EKSClient({
    region: REGION,
    credentials: CREDENTIALS,
  });
  const eksMock = mockClient(eks);
  eksMock.on(DescribeClusterCommand, { name: CLUSTER }).resolves({
    cluster: {
      name: CLUSTER,
      arn: `arn:aws:eks:${REGION}:${ACCOUNT_ID}:cluster/${CLUSTER}`,
      version: "1.29",
      status: "ACTIVE",
      endpoint: api.url,
      certificateAuthority: { data: options.caData ?? api.caData },
    },
  });
  const clients = { ...testClients(), eks };
  const system = eksSystem(
    specs.map((s) => s.name),
    options.floor,
  );
  return {
    api,
    describeCalls: () => eksMock.commandCalls(DescribeClusterCommand).length,
    run: (runbook, at, input = {}, dryRun = false) =>
      runbook.run(testContext({ system, clients, now: new Date(at), dryRun }), runbook.input.parse(input)),
  };
}

const annotations = (api: KubeApiServer, name: string) =>
  (api.deployment(NS, name).metadata as { annotations: Record<string, string> }).annotations;
const replicas = (api: KubeApiServer, name: string) => (api.deployment(NS, name).spec as { replicas: number }).replicas;
const bounds = (api: KubeApiServer, name: string) => {
  const spec = api.hpa(NS, name)?.spec as { minReplicas?: number; maxReplicas: number } | undefined;
  return spec ? { min: spec.minReplicas, max: spec.maxReplicas } : undefined;
};
const byResource = (report: Report, name: string) =>
  report.actions.find((a) => a.resource === `eks/${CLUSTER}/${NS}/${name}`);

describe("EKS scale-down and scale-up", () => {
  it("without an HPA: records the original in an annotation, patches the scale subresource, restores exactly", async () => {
    const { api, run, describeCalls } = await setup([{ name: "api", replicas: 2 }]);
    const down = await run(scaleDownRunbook, MON_EVENING);
    expect(down.status).toBe("succeeded");
    expect(byResource(down, "api")).toMatchObject({ status: "done", before: { desired: 2 }, after: { desired: 1 } });
    expect(replicas(api, "api")).toBe(1);
    expect(annotations(api, "api")[KUBE_MARKS.record]).toBe("v1 desired=2 floor=1 at=2026-11-23T16:00:30Z");
    expect(describeCalls()).toBe(1);
    const writes = api.writes();
    expect(writes.map((w) => [w.method, w.path, w.contentType])).toEqual([
      ["PATCH", `/apis/apps/v1/namespaces/${NS}/deployments/api`, "application/merge-patch+json"],
      ["PATCH", `/apis/apps/v1/namespaces/${NS}/deployments/api/scale`, "application/merge-patch+json"],
    ]);
    // Every write carries the resourceVersion it was decided on.
    for (const w of writes) {
      expect((w.body?.metadata as { resourceVersion?: string } | undefined)?.resourceVersion).toMatch(/^\d+$/);
    }

    const up = await run(scaleUpRunbook, TUE_MORNING);
    expect(up.status).toBe("succeeded");
    expect(replicas(api, "api")).toBe(2);
    expect(annotations(api, "api")[KUBE_MARKS.record]).toBeUndefined();
    expect(annotations(api, "api")["deployment.kubernetes.io/revision"]).toBe("3");
  });

  it("with an HPA: lowers its min/max to the floor (else it scales back) and restores them exactly", async () => {
    const { api, run } = await setup([{ name: "worker", replicas: 6, hpa: { min: 2, max: 20 } }], { floor: 2 });
    const down = await run(scaleDownRunbook, MON_EVENING);
    expect(byResource(down, "worker")).toMatchObject({
      status: "done",
      before: { desired: 6, min: 2, max: 20 },
      after: { desired: 2, min: 2, max: 2 },
    });
    expect(bounds(api, "worker")).toEqual({ min: 2, max: 2 });
    expect(replicas(api, "worker")).toBe(2);
    expect(annotations(api, "worker")[KUBE_MARKS.record]).toBe(
      "v1 desired=6 min=2 max=20 floor=2 at=2026-11-23T16:00:30Z",
    );
    await run(scaleUpRunbook, TUE_MORNING);
    expect(bounds(api, "worker")).toEqual({ min: 2, max: 20 });
    expect(replicas(api, "worker")).toBe(6);
    expect(annotations(api, "worker")[KUBE_MARKS.record]).toBeUndefined();
  });

  it("an HPA with floor 0: the HPA cannot go below 1, so its floor is 1 (a count the HPA would not undo)", async () => {
    const { api, run } = await setup([{ name: "worker", replicas: 4, hpa: { max: 10 } }], { floor: 0 });
    await run(scaleDownRunbook, MON_EVENING);
    expect(bounds(api, "worker")).toEqual({ min: 1, max: 1 });
    expect(replicas(api, "worker")).toBe(1);
    await run(scaleUpRunbook, TUE_MORNING);
    expect(bounds(api, "worker")).toEqual({ min: 1, max: 10 });
    expect(replicas(api, "worker")).toBe(4);
  });

  it("double scale-down keeps the first record, even after the count was raised at night; scale-up restores it", async () => {
    const { api, run } = await setup([{ name: "api", replicas: 3 }]);
    await run(scaleDownRunbook, MON_EVENING);
    const first = annotations(api, "api")[KUBE_MARKS.record];
    // A redeploy at night resets the count to what the manifest says.
    api.touch(NS, "api", (d) => {
      (d.spec as { replicas: number }).replicas = 2;
    });
    const again = await run(scaleDownRunbook, MON_LATER);
    expect(byResource(again, "api")?.reason).toContain("is kept");
    expect(annotations(api, "api")[KUBE_MARKS.record]).toBe(first);
    expect(replicas(api, "api")).toBe(1);
    const third = await run(scaleDownRunbook, MON_LATER);
    expect(byResource(third, "api")?.status).toBe("skipped");
    await run(scaleUpRunbook, TUE_MORNING);
    expect(replicas(api, "api")).toBe(3);
  });

  it("a team's 0 stays 0: below the floor, skipped with the reason, nothing written", async () => {
    const { api, run } = await setup([{ name: "batch", replicas: 0 }]);
    const down = await run(scaleDownRunbook, MON_EVENING);
    expect(byResource(down, "batch")).toMatchObject({ status: "skipped" });
    expect(byResource(down, "batch")?.reason).toContain("desired 0 is below the floor 1 (the team's setting)");
    expect(api.writes()).toEqual([]);
    await run(scaleUpRunbook, TUE_MORNING);
    expect(replicas(api, "batch")).toBe(0);
  });

  it("a rollout in progress is skipped with the reason", async () => {
    const { api, run } = await setup([
      { name: "api", replicas: 2, status: { updatedReplicas: 1, replicas: 3, availableReplicas: 2 } },
      {
        name: "ims",
        replicas: 2,
        status: {
          conditions: [
            {
              type: "Progressing",
              status: "False",
              reason: "ProgressDeadlineExceeded",
              message: 'ReplicaSet "ims-3" has timed out progressing.',
            },
          ],
        },
      },
      { name: "web", replicas: 2, generation: 5, status: { observedGeneration: 4 } },
    ]);
    const down = await run(scaleDownRunbook, MON_EVENING);
    expect(byResource(down, "api")?.reason).toBe(
      "deployment in progress: 1 of 2 new replicas updated; a later run picks it up",
    );
    expect(byResource(down, "ims")?.reason).toContain("rollout failed (Progressing=False, ProgressDeadlineExceeded");
    expect(byResource(down, "web")?.reason).toContain("has not observed generation 5 yet (observed 4)");
    expect(api.writes()).toEqual([]);
  });

  it("deployed 10 minutes ago (its current replicaset is 10 min old): within the grace period, skipped", async () => {
    const { api, run } = await setup([{ name: "api", replicas: 2, deployedAt: "2026-11-23T15:50:30Z" }]);
    const down = await run(scaleDownRunbook, MON_EVENING);
    expect(byResource(down, "api")?.reason).toContain("deployed 10 min ago (at 2026-11-23 17:50 +02:00)");
    expect(byResource(down, "api")?.reason).toContain("within the 30-min grace period");
    expect(api.writes()).toEqual([]);
  });

  it("opt-out annotation: anything but an explicit 'false' leaves the deployment alone", async () => {
    const { api, run } = await setup([
      { name: "a", replicas: 2, annotations: { [KUBE_MARKS.optOut]: "yes" } },
      { name: "b", replicas: 2, annotations: { [KUBE_MARKS.optOut]: "" } },
      { name: "c", replicas: 2, annotations: { [KUBE_MARKS.optOut]: "False" } },
    ]);
    const down = await run(scaleDownRunbook, MON_EVENING);
    expect(byResource(down, "a")?.reason).toBe(
      `opted out (annotation ${KUBE_MARKS.optOut}="yes"; only "false" opts in)`,
    );
    expect(byResource(down, "b")?.status).toBe("skipped");
    expect(byResource(down, "c")?.status).toBe("done");
    expect([replicas(api, "a"), replicas(api, "b"), replicas(api, "c")]).toEqual([2, 2, 1]);
  });

  it("keep-awake: the annotation makes scale-down skip; wake brings a lowered deployment back", async () => {
    const { api, run } = await setup([
      { name: "api", replicas: 2 },
      { name: "ims", replicas: 2 },
    ]);
    await run(scaleDownRunbook, MON_EVENING, { service: "ims" });
    expect(replicas(api, "ims")).toBe(1);
    const awake = await run(keepAwakeRunbook, "2026-11-23T17:00:00Z", { until: "23:00" });
    expect(awake.status).toBe("succeeded");
    expect(annotations(api, "api")[KUBE_MARKS.keepAwake]).toBe("2026-11-23T21:00:00Z");
    expect(replicas(api, "ims")).toBe(2);
    const down = await run(scaleDownRunbook, MON_LATER);
    expect(byResource(down, "api")?.reason).toBe(
      `kept awake until 2026-11-23 23:00 +02:00 (annotation ${KUBE_MARKS.keepAwake})`,
    );
    expect(replicas(api, "api")).toBe(2);
    const cleared = await run(keepAwakeRunbook, MON_LATER, { clear: "true" });
    expect(cleared.actions.filter((a) => a.status === "done")).toHaveLength(2);
    expect(annotations(api, "api")[KUBE_MARKS.keepAwake]).toBeUndefined();
  });

  it("a 409 on the first patch: the deployment is read again and the change goes through once", async () => {
    const { api, run } = await setup([{ name: "worker", replicas: 6, hpa: { min: 2, max: 20 } }], { floor: 2 });
    let conflicts = 0;
    api.conflictWhen = () => conflicts++ === 0;
    const down = await run(scaleDownRunbook, MON_EVENING);
    expect(byResource(down, "worker")?.status).toBe("done");
    expect(conflicts).toBeGreaterThan(1);
    const reads = api.requests.filter((r) => r.method === "GET" && r.path.endsWith("/deployments/worker"));
    expect(reads).toHaveLength(1); // the fresh read
    expect(annotations(api, "worker")[KUBE_MARKS.record]).toBe(
      "v1 desired=6 min=2 max=20 floor=2 at=2026-11-23T16:00:30Z",
    );
    expect(bounds(api, "worker")).toEqual({ min: 2, max: 2 });
    expect(replicas(api, "worker")).toBe(2);
  });

  it("a conflict after the record was written: the fresh read finds the record and keeps it", async () => {
    const { api, run } = await setup([{ name: "api", replicas: 4 }]);
    let scalePatches = 0;
    api.conflictWhen = (r) => r.path.endsWith("/scale") && scalePatches++ === 0;
    const down = await run(scaleDownRunbook, MON_EVENING);
    expect(byResource(down, "api")?.status).toBe("done");
    expect(byResource(down, "api")?.reason).toContain("is kept");
    expect(annotations(api, "api")[KUBE_MARKS.record]).toBe("v1 desired=4 floor=1 at=2026-11-23T16:00:30Z");
    expect(replicas(api, "api")).toBe(1);
  });

  it("one of twenty deployments failing: the other nineteen are lowered, the report is partial and names it", async () => {
    const names = Array.from({ length: 20 }, (_, i) => `svc-${String(i).padStart(2, "0")}`);
    const { api, run } = await setup(names.map((name) => ({ name, replicas: 3 })));
    api.failWhen = (r) => r.method === "PATCH" && r.path.includes("/deployments/svc-07");
    const down = await run(scaleDownRunbook, MON_EVENING);
    expect(down.status).toBe("partial");
    const failed = down.actions.filter((a) => a.status === "failed");
    expect(failed.map((a) => a.resource)).toEqual([`eks/${CLUSTER}/${NS}/svc-07`]);
    expect(failed[0]?.reason).toContain("nothing was changed");
    expect(down.actions.filter((a) => a.status === "done")).toHaveLength(19);
    expect(replicas(api, "svc-07")).toBe(3);
    expect(replicas(api, "svc-08")).toBe(1);
  });

  it("dry run sends no writes and says what it would do", async () => {
    const { api, run } = await setup([
      { name: "api", replicas: 2 },
      { name: "worker", replicas: 6, hpa: { min: 2, max: 20 } },
    ]);
    const down = await run(scaleDownRunbook, MON_EVENING, {}, true);
    expect(down.actions.map((a) => a.status)).toEqual(["would-do", "would-do"]);
    expect(byResource(down, "api")?.reason).toContain("would lower to the floor 1");
    expect(api.writes()).toEqual([]);
    expect(api.requests.every((r) => r.method === "GET")).toBe(true);
  });

  it("savings come from the pods' requests and a node price", async () => {
    const { run } = await setup([{ name: "api", replicas: 3, requests: [{ cpu: "1", memory: "1Gi" }] }]);
    const down = await run(scaleDownRunbook, MON_EVENING, { nodeHourUsd: "0.2" });
    const savings = down.details?.savings as { perNight: { taskHours: number; usd?: number }; notes: string[] };
    // 2 pods × 13 h × $0.2 × max(1 vCPU / 2, 1 GiB / 8).
    expect(savings.perNight).toEqual({ taskHours: 26, usd: 2.6 });
    expect(savings.notes.join(" ")).toContain("cluster autoscaler");
  });

  it("the API server is verified against the CA from DescribeCluster: another CA fails every deployment", async () => {
    const other = await startKubeApi({ cluster: CLUSTER, namespace: NS });
    try {
      const { api, run } = await setup([{ name: "api", replicas: 2 }], { caData: other.caData });
      const down = await run(scaleDownRunbook, MON_EVENING);
      expect(down.status).toBe("failed");
      expect(byResource(down, "api")?.status).toBe("failed");
      expect(api.requests).toEqual([]);
    } finally {
      await other.close();
    }
  });
});
