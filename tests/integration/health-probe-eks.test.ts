import { DescribeClusterCommand, EKSClient } from "@aws-sdk/client-eks";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { UnknownNameError, ValidationError } from "../../lib/errors.js";
import { healthProbeRunbook } from "../../runbooks/health-probe/index.js";
import { ROLLBACK_MARKS } from "../../runbooks/kube-rollback/apply.js";
import { kubeRollbackRunbook } from "../../runbooks/kube-rollback/index.js";
import { parseRunbookInput } from "../../runbooks/runner.js";
import type { Report } from "../../runbooks/types.js";
import { healthProbeSchedules } from "../../schedules/health-probe.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import { ode } from "../../systems/ode.js";
import { type System, type SystemInput, systemSchema } from "../../systems/schema.js";
import { testClients, testContext } from "../helpers/context.js";
import { HealthServer } from "../helpers/health-server.js";
import { type DeploymentSpec, type KubeApiServer, startKubeApi } from "../helpers/kube-api.js";
import { SimClock } from "../helpers/simulated-ecs.js";

// The health probe on EKS, end to end: a real HTTP health endpoint (tests/helpers/health-server.ts), the
// official Kubernetes client against the local HTTPS API server (tests/helpers/kube-api.ts), and
// eks:DescribeCluster faked with the API reference's shape, pointing at that server and its CA.

const CLUSTER = "ode-test";
const NS = "ode";
const T0 = Date.parse("2026-11-23T16:00:00Z");
const minutesBefore = (m: number) => new Date(T0 - m * 60_000).toISOString().replace(/\.\d{3}Z$/, "Z");

const health = new HealthServer();
beforeAll(() => health.start());
afterAll(() => health.stop());

let kube: KubeApiServer | undefined;
afterEach(async () => {
  health.mode = "up";
  await kube?.close();
  kube = undefined;
});

function system(names: string[], baseUrl: string | undefined): System {
  return systemSchema.parse({
    id: "ode-test",
    name: "ODE test",
    account: { region: "us-east-1", accountId: "123456789012" },
    timezone: "America/New_York",
    runtime: { kind: "eks", cluster: CLUSTER, namespace: NS, deployments: names.map((name) => ({ name })) },
    databases: [],
    dr: { rtoMinutes: 60, rpoMinutes: 1440, drillSource: "pg_dump" },
    offHours: { enabled: false, reason: "test" },
    // Flash Sale's numbers: 30 s apart, 3 in a row; two samples per one-minute run.
    health: [
      {
        target: "worker",
        path: "/health",
        ...(baseUrl ? { baseUrl } : {}),
        intervalSeconds: 30,
        timeoutSeconds: 1,
        unhealthyThreshold: 3,
      },
    ],
  } satisfies SystemInput);
}

/** worker runs revision 3 (template h3), rolled out 5 minutes ago; revision 2 (h2) is before it. */
function worker(over: Partial<DeploymentSpec> = {}): DeploymentSpec {
  return { name: "worker", replicas: 2, deployedAt: minutesBefore(5), ...over };
}

async function setup(specs: DeploymentSpec[], options: { baseUrl?: string | undefined } = {}) {
  const api = await startKubeApi({ cluster: CLUSTER, namespace: NS });
  kube = api;
  for (const spec of specs) api.addDeployment(spec);
  const eks = new EKSClient({
    region: "us-east-1",
    credentials: { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" },
  });
  mockClient(eks)
    .on(DescribeClusterCommand, { name: CLUSTER })
    .resolves({
      cluster: { name: CLUSTER, status: "ACTIVE", endpoint: api.url, certificateAuthority: { data: api.caData } },
    });
  const clock = new SimClock(T0);
  const sys = system(
    specs.map((s) => s.name),
    "baseUrl" in options ? options.baseUrl : health.url,
  );
  const context = (dryRun: boolean) => ({
    ...testContext({ system: sys, clients: { ...testClients(), eks }, now: clock.now, dryRun }),
    sleep: clock.sleep,
  });
  const probe = (input: Record<string, unknown> = {}, dryRun = false): Promise<Report> =>
    healthProbeRunbook.run(context(dryRun), parseRunbookInput(healthProbeRunbook, input));
  const check = (): Promise<Report> =>
    kubeRollbackRunbook.run(context(false), parseRunbookInput(kubeRollbackRunbook, {}));
  return { api, clock, probe, check };
}

const annotations = (api: KubeApiServer) =>
  (api.deployment(NS, "worker").metadata as { annotations: Record<string, string> }).annotations;
const image = (api: KubeApiServer) =>
  (
    (api.deployment(NS, "worker").spec as { template: { spec: { containers: { image: string }[] } } }).template.spec
      .containers[0] as { image: string }
  ).image;
const templateWrites = (api: KubeApiServer) =>
  api.writes().filter((w) => (w.body?.spec as { template?: unknown } | undefined)?.template !== undefined);
/** The probe state already counted on a template: `failures` failures in a row. */
const failing = (failures: number, template: string) =>
  `v1 verdict=failing failures=${failures} successes=0 since=${minutesBefore(2)} template=${template}`;

describe("health probe on EKS: N failures after a rollout roll the deployment back", () => {
  it("3 failures in a row on the new revision → back to the previous revision's pod template; the next run counts afresh", async () => {
    // Prepare
    const { api, clock, probe } = await setup([worker({ annotations: { [ROLLBACK_MARKS.knownGood]: "h2" } })]);
    health.mode = "status";
    // Act: the first run samples twice (failing, 2 in a row) and stores the count on the deployment.
    const first = await probe();
    clock.advance(30_000);
    const second = await probe();
    // Assess
    expect(first.actions).toEqual([
      expect.objectContaining({
        action: "probe",
        status: "done",
        reason: expect.stringMatching(/^failing \(2 failures/),
      }),
    ]);
    expect(templateWrites(api)).toHaveLength(1);
    expect(image(api)).toBe("example/worker:2");
    const rollback = second.actions.find((a) => a.action === "rollback");
    expect(rollback).toMatchObject({
      status: "done",
      before: { revision: 3, template: "h3" },
      after: { template: "h2" },
    });
    expect(rollback?.reason).toMatch(
      new RegExp(`health endpoint ${health.url}/health failed 3 times in a row .*back to revision 2's pod template`),
    );
    expect(annotations(api)[ROLLBACK_MARKS.rolledBackFrom]).toBe("h3");
    expect(annotations(api)[ROLLBACK_MARKS.probe]).toMatch(/^v1 verdict=unhealthy failures=3 .* template=h3$/);
    // The previous revision serves again: its count starts at zero, and nothing rolls back twice.
    health.mode = "up";
    clock.advance(60_000);
    const third = await probe();
    expect(third.actions).toEqual([
      expect.objectContaining({ action: "probe", reason: expect.stringMatching(/^healthy/) }),
    ]);
    expect(annotations(api)[ROLLBACK_MARKS.probe]).toMatch(
      /^v1 verdict=healthy failures=0 successes=2 .* template=h2$/,
    );
    expect(templateWrites(api)).toHaveLength(1);
  });

  it("failures counted before the rollout do not count: a count on another template starts afresh", async () => {
    const { api, probe } = await setup([worker({ annotations: { [ROLLBACK_MARKS.probe]: failing(2, "h2") } })]);
    health.mode = "status";
    const report = await probe({ samples: 1 });
    expect(report.actions.map((a) => a.action)).toEqual(["probe"]);
    expect(annotations(api)[ROLLBACK_MARKS.probe]).toMatch(/^v1 verdict=failing failures=1 .* template=h3$/);
    expect(templateWrites(api)).toEqual([]);
  });

  it("a refused connection counts as a failure like a 503", async () => {
    const { api, probe } = await setup([worker({ annotations: { [ROLLBACK_MARKS.probe]: failing(2, "h3") } })]);
    await health.stop();
    try {
      const report = await probe({ samples: 1 });
      expect(report.actions.find((a) => a.action === "probe")?.reason).toContain("connection refused");
      expect(report.actions.find((a) => a.action === "rollback")).toMatchObject({ status: "done" });
      expect(image(api)).toBe("example/worker:2");
    } finally {
      await health.start();
    }
  });

  it.each([
    [
      "the failing revision is the known-good one",
      { annotations: { [ROLLBACK_MARKS.probe]: failing(2, "h3"), [ROLLBACK_MARKS.knownGood]: "h3" } },
      "runs revision 3, which is the known-good one",
    ],
    [
      "the earlier revision was rolled back from",
      { annotations: { [ROLLBACK_MARKS.probe]: failing(2, "h3"), [ROLLBACK_MARKS.rolledBackFrom]: "h2" } },
      "the earlier revision 2 was itself rolled back from",
    ],
    [
      "rolled back within the cooldown",
      {
        annotations: {
          [ROLLBACK_MARKS.probe]: failing(2, "h3"),
          [ROLLBACK_MARKS.lastRollback]: `v1 from=h4 to=h1 at=${minutesBefore(10)}`,
        },
      },
      "rolled back 10 min ago, within the 30-min cooldown",
    ],
    [
      "deployed beyond the rollback window (60 min): not the rollout's failure",
      { deployedAt: minutesBefore(120), annotations: { [ROLLBACK_MARKS.probe]: failing(2, "h3") } },
      "deployed 120 min ago, beyond the 60-min rollback window",
    ],
  ] as const)("guard: %s → escalate, no template written", async (_name, over, reason) => {
    const { api, probe } = await setup([worker(over)]);
    health.mode = "status";
    const report = await probe({ samples: 1 });
    const escalation = report.actions.find((a) => a.action === "escalate");
    expect(escalation).toMatchObject({ status: "failed" });
    expect(escalation?.reason).toContain(reason);
    // The probe's sample is done, the rollback refused: partial, with the page the router sends.
    expect(report.status).toBe("partial");
    expect(report.details?.escalation).toMatchObject({ severity: "critical" });
    expect(templateWrites(api)).toEqual([]);
    expect(image(api)).toBe("example/worker:3");
  });

  it("dry run: probes (reads only), says it would roll back, sends no write", async () => {
    const { api, probe } = await setup([worker({ annotations: { [ROLLBACK_MARKS.probe]: failing(2, "h3") } })]);
    health.mode = "body-down";
    const report = await probe({ samples: 1 }, true);
    expect(report.actions.map((a) => [a.action, a.status])).toEqual([
      ["probe", "would-do"],
      ["rollback", "would-do"],
    ]);
    expect(report.actions[1]?.reason).toMatch(/^would roll back: health endpoint/);
    expect(api.writes()).toEqual([]);
    expect(health.requests).toBeGreaterThan(0);
  });

  it("a duplicate run after the rollback does not roll back again (the count was for the template that is gone)", async () => {
    const { api, clock, probe } = await setup([worker({ annotations: { [ROLLBACK_MARKS.probe]: failing(2, "h3") } })]);
    health.mode = "status";
    await probe({ samples: 1 });
    clock.advance(1_000);
    const again = await probe({ samples: 1 });
    expect(again.actions.map((a) => a.action)).toEqual(["probe"]);
    expect(annotations(api)[ROLLBACK_MARKS.probe]).toMatch(/failures=1 .*template=h2$/);
    expect(templateWrites(api)).toHaveLength(1);
  });

  it("a 409 on the probe's first write (another writer): read again, the count is stored, the rollback goes through", async () => {
    const { api, probe } = await setup([worker({ annotations: { [ROLLBACK_MARKS.probe]: failing(2, "h3") } })]);
    let patches = 0;
    api.conflictWhen = (request) => {
      if (request.method === "PATCH" && patches++ === 0) {
        api.touch(NS, "worker", (d) => {
          (d.metadata as { annotations: Record<string, string> }).annotations["team.example/owner"] = "ode";
        });
      }
      return false;
    };
    health.mode = "status";
    const report = await probe({ samples: 1 });
    expect(report.actions.map((a) => [a.action, a.status])).toEqual([
      ["probe", "done"],
      ["rollback", "done"],
    ]);
    expect(annotations(api)["team.example/owner"]).toBe("ode");
    expect(image(api)).toBe("example/worker:2");
  });

  it("bad input: an unknown deployment names the known ones; an ECS deployment event is refused", async () => {
    const { api, probe } = await setup([worker()]);
    await expect(probe({ service: "wrker" })).rejects.toThrow(UnknownNameError);
    await expect(probe({ service: "wrker" })).rejects.toThrow(/worker/);
    await expect(probe({ deploymentCompleted: { service: "worker", deploymentId: "ecs-svc/1" } })).rejects.toThrow(
      ValidationError,
    );
    expect(api.requests).toEqual([]);
  });

  it("no health check with a baseUrl (as in the built-in fleet): skipped with the reason, the cluster is not called", async () => {
    const { api, probe } = await setup([worker()], { baseUrl: undefined });
    const report = await probe();
    expect(report.actions).toEqual([
      expect.objectContaining({ status: "skipped", reason: expect.stringContaining("baseUrl") }),
    ]);
    expect(api.requests).toEqual([]);
  });
});

describe("known-good on EKS waits for the health probe (kube-rollback's check)", () => {
  it.each([
    ["the probe has not seen the revision", {}, "kube-rollback", /health probe has not seen it yet/],
    [
      "healthy on the probe for 4 of 10 min",
      { [ROLLBACK_MARKS.probe]: `v1 verdict=healthy failures=0 successes=2 since=${minutesBefore(4)} template=h3` },
      "kube-rollback",
      /bakes: 6 of 10 min left/,
    ],
    [
      "healthy on the probe, but the count is of another template",
      { [ROLLBACK_MARKS.probe]: `v1 verdict=healthy failures=0 successes=2 since=${minutesBefore(40)} template=h2` },
      "kube-rollback",
      /has not seen it yet/,
    ],
    [
      "healthy on the probe for the whole bake",
      { [ROLLBACK_MARKS.probe]: `v1 verdict=healthy failures=0 successes=2 since=${minutesBefore(11)} template=h3` },
      "mark-known-good",
      /passed its health probe for 10 min: known-good/,
    ],
  ] as const)("%s", async (_name, marks, action, reason) => {
    const { api, check } = await setup([worker({ annotations: marks })]);
    const report = await check();
    expect(report.actions[0]).toMatchObject({ action, reason: expect.stringMatching(reason) });
    expect(annotations(api)[ROLLBACK_MARKS.knownGood]).toBe(action === "mark-known-good" ? "h3" : undefined);
  });
});

describe("catalogue: where an EKS workload's health endpoint is declared", () => {
  it("health[].baseUrl + path per deployment; ODE's guide names no host, so it is not probed nor scheduled", () => {
    const builtin = findSystem(builtinFleet(), "ode");
    expect(builtin.health.map((h) => [h.target, h.baseUrl])).toEqual([
      ["ode-api", undefined],
      ["ode-worker", undefined],
    ]);
    expect(healthProbeSchedules(ode)).toEqual([]);
    expect(healthProbeRunbook.planNote?.(builtin, {})).toMatch(/^skipped: no health check has a baseUrl/);
    expect(healthProbeRunbook.permissions(builtin)).toEqual([]);
    expect(healthProbeRunbook.kubernetesAccess?.(builtin)).toEqual([]);
  });

  it("with a baseUrl: scheduled every minute, eks:DescribeCluster on the cluster, the namespace's access entry", () => {
    const input = {
      ...ode,
      health: [{ target: "ode-worker", path: "/health", baseUrl: "https://ode.example.com" }],
    } satisfies SystemInput;
    const sys = systemSchema.parse(input);
    expect(healthProbeSchedules(input)).toMatchObject([{ runbook: "health-probe", expression: "rate(1 minute)" }]);
    expect(healthProbeRunbook.planNote?.(sys, {})).toBeUndefined();
    expect(healthProbeRunbook.permissions(sys)).toEqual([
      { actions: ["eks:DescribeCluster"], resources: ["arn:aws:eks:us-east-1:*:cluster/ode-production-cluster"] },
    ]);
    expect(healthProbeRunbook.kubernetesAccess?.(sys)).toMatchObject([
      { namespace: "ode", accessScope: { type: "namespace", namespaces: ["ode"] } },
    ]);
    const partpal = systemSchema.parse({
      ...findSystem(builtinFleet(), "partpal-ims"),
      health: [{ target: "partpal-api", path: "/api/health", baseUrl: "https://partpal.example.com" }],
    });
    expect(healthProbeRunbook.planNote?.(partpal, {})).toBe("skipped: rollback disabled in the catalogue");
  });
});
