import type { V1Deployment, V1ReplicaSet } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { EKS_EDIT_POLICY } from "../../lib/iam.js";
import { parseQuantity, podRequests } from "../../lib/kube/quantity.js";
import { rolloutActivity } from "../../lib/kube/rollout.js";
import { runbooks } from "../../runbooks/index.js";
import { scaleDownRunbook } from "../../runbooks/scale-down/index.js";
import { resolveNodePrice } from "../../runbooks/scaling/prices.js";
import { scalingKubernetesAccess, scalingScope } from "../../runbooks/scaling/scope.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import { systemSchema } from "../../systems/schema.js";

const UID = "6f1c1a3e-0000-4000-8000-000000000001";

function deployment(overrides: { status?: V1Deployment["status"]; generation?: number; replicas?: number } = {}) {
  return {
    metadata: {
      name: "api",
      uid: UID,
      generation: overrides.generation ?? 3,
      creationTimestamp: new Date("2026-10-01T09:00:00Z"),
      annotations: { "deployment.kubernetes.io/revision": "3" },
    },
    spec: { replicas: overrides.replicas ?? 2, selector: { matchLabels: { app: "api" } }, template: {} },
    status: {
      observedGeneration: 3,
      replicas: 2,
      updatedReplicas: 2,
      availableReplicas: 2,
      ...overrides.status,
    },
  } as V1Deployment;
}

const replicaSet = (revision: string, created: string, uid = UID): V1ReplicaSet => ({
  metadata: {
    name: `api-${revision}`,
    creationTimestamp: new Date(created),
    annotations: { "deployment.kubernetes.io/revision": revision },
    ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name: "api", uid, controller: true }],
  },
});

describe("rollout state, as kubectl rollout status reads it", () => {
  const sets = [replicaSet("2", "2026-11-01T00:00:00Z"), replicaSet("3", "2026-11-20T10:00:00Z")];

  it.each([
    ["settled", {}, 3, undefined],
    ["generation not observed", {}, 4, "the controller has not observed generation 4 yet (observed 3)"],
    ["new replicas still being created", { updatedReplicas: 1 }, 3, "1 of 2 new replicas updated"],
    ["old replicas terminating", { replicas: 3 }, 3, "1 old replica pending termination"],
    ["updated replicas not available", { availableReplicas: 1 }, 3, "1 of 2 updated replicas available"],
    [
      "progress deadline exceeded",
      {
        conditions: [
          { type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded", message: "timed out" },
        ],
      },
      3,
      "rollout failed (Progressing=False, ProgressDeadlineExceeded: timed out)",
    ],
  ] as const)("%s", (_, status, generation, expected) => {
    const activity = rolloutActivity(deployment({ status: status as V1Deployment["status"], generation }), sets);
    expect(activity.inProgress).toBe(expected);
  });

  it("last deployed = the current revision's replicaset, not an older one nor another deployment's", () => {
    expect(rolloutActivity(deployment(), sets).lastDeployedAt?.toISOString()).toBe("2026-11-20T10:00:00.000Z");
    const foreign = [replicaSet("3", "2026-11-30T00:00:00Z", "someone-else")];
    // Without its replicaset, the deployment's own creation time.
    expect(rolloutActivity(deployment(), foreign).lastDeployedAt?.toISOString()).toBe("2026-10-01T09:00:00.000Z");
  });
});

describe("resource quantities and pod requests", () => {
  it.each([
    ["500m", 0.5],
    ["1", 1],
    ["1.5", 1.5],
    ["512Mi", 512 * 2 ** 20],
    ["1Gi", 2 ** 30],
    ["1G", 1e9],
    ["1e3", 1000],
    ["12x", undefined],
    ["", undefined],
  ] as const)("%s", (text, value) => {
    expect(parseQuantity(text)).toBe(value);
  });

  it("sums the containers' requests into CPU units and MiB; none requested gives nothing", () => {
    const template = {
      spec: {
        containers: [
          { name: "app", resources: { requests: { cpu: "750m", memory: "1Gi" } } },
          { name: "sidecar", resources: { requests: { cpu: "250m", memory: "256Mi" } } },
          { name: "bare" },
        ],
      },
    };
    expect(podRequests(template)).toEqual({ cpuUnits: 1024, memoryMiB: 1280 });
    expect(podRequests({ spec: { containers: [{ name: "bare" }] } })).toEqual({});
  });
});

describe("EKS scope, IAM and Kubernetes access", () => {
  const fleet = builtinFleet();

  it("PartPal: both deployments, floor 1; ODE: the worker only", () => {
    const partpal = scalingScope(findSystem(fleet, "partpal-ims"), "scale-down");
    const ode = scalingScope(findSystem(fleet, "ode"), "scale-down");
    expect(partpal.kind === "eks" && partpal.deployments.map((d) => d.name)).toEqual(["partpal-api", "partpal-ims"]);
    expect(ode.kind === "eks" && ode.deployments.map((d) => d.name)).toEqual(["ode-worker"]);
    // Scale-up covers every deployment, so one taken out of the targets while down still comes back.
    const odeUp = scalingScope(findSystem(fleet, "ode"), "scale-up");
    expect(odeUp.kind === "eks" && odeUp.deployments.map((d) => d.name)).toEqual(["ode-api", "ode-worker"]);
  });

  it("an off-hours target that is not a deployment of the namespace is a failed action, not ignored", () => {
    const system = systemSchema.parse({
      ...findSystem(fleet, "ode"),
      offHours: { enabled: true, start: "20:00", end: "07:00", floor: 2, targets: ["ode-wrker"] },
    });
    const scope = scalingScope(system, "scale-down");
    expect(scope.kind === "eks" && scope.problems.map((p) => p.reason)).toEqual([
      'off-hours target "ode-wrker" is not a deployment in namespace ode of ode (known: ode-api, ode-worker)',
    ]);
  });

  it("every scaling runbook declares a namespace-scoped access entry for each EKS system, and none for ECS", () => {
    for (const name of ["scale-down", "scale-up", "keep-awake"]) {
      const runbook = runbooks.find((r) => r.name === name);
      for (const id of ["partpal-ims", "ode"]) {
        const system = findSystem(fleet, id);
        const access = runbook?.kubernetesAccess?.(system) ?? [];
        expect(access, `${name} ${id}`).toHaveLength(1);
        const namespace = system.runtime.kind === "eks" ? system.runtime.namespace : "";
        expect(access[0]).toMatchObject({
          policyArn: EKS_EDIT_POLICY,
          accessScope: { type: "namespace", namespaces: [namespace] },
        });
        expect(access[0]?.clusterArn).toMatch(/^arn:aws:eks:[a-z0-9-]+:(\*|\d{12}):cluster\/[\w-]+$/);
      }
      expect(runbook?.kubernetesAccess?.(findSystem(fleet, "flash-sale")) ?? []).toEqual([]);
    }
  });

  it("the access data carries the private endpoint's subnets and security groups from the catalogue", () => {
    const base = findSystem(fleet, "partpal-ims");
    if (base.runtime.kind !== "eks") throw new Error("fixture");
    const network = { subnetIds: ["subnet-0abc12345"], securityGroupIds: ["sg-0abc12345"] };
    const system = systemSchema.parse({ ...base, runtime: { ...base.runtime, network } });
    expect(scalingKubernetesAccess(system, "scale-down")[0]?.network).toEqual(network);
    const bad = systemSchema.safeParse({
      ...base,
      runtime: { ...base.runtime, network: { subnetIds: ["vpc-1"], securityGroupIds: ["sg-0abc12345"] } },
    });
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues)).toContain("must be a subnet id such as subnet-0abc1234");
  });
});

describe("scale-down's EKS price inputs", () => {
  it.each([
    [{ nodeHourUsd: "-1" }, "nodeHourUsd"],
    [{ nodeVcpu: "0" }, "nodeVcpu"],
    [{ nodeMemoryGiB: "lots" }, "nodeMemoryGiB"],
  ])("rejects %o, naming the field", (input, field) => {
    const result = scaleDownRunbook.input.safeParse(input);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join("."))).toEqual([field]);
  });
});

describe("node prices for EKS savings", () => {
  it("PartPal's guide's t3.small in af-south-1: t3.small's size, us-east-1's price, and a note saying so", () => {
    const partpal = findSystem(builtinFleet(), "partpal-ims");
    const nodeType = partpal.runtime.kind === "eks" ? partpal.runtime.nodeType : undefined;
    expect(nodeType).toBe("t3.small");
    const price = resolveNodePrice(partpal.account.region, {}, nodeType);
    expect(price).toMatchObject({
      instanceType: "t3.small",
      hourUsd: 0.0208,
      vcpu: 2,
      memoryGiB: 2,
      source: "fallback",
    });
    expect(price.note).toContain("no af-south-1 node prices");
  });

  it("a given price wins; an unknown type is estimated as the default and said", () => {
    expect(resolveNodePrice("us-east-1", { hourUsd: 0.05 }, "t3.large")).toMatchObject({
      hourUsd: 0.05,
      source: "input",
    });
    expect(resolveNodePrice("us-east-1", {}, "x9.huge").note).toContain("no price for x9.huge: estimated as m5.large");
    expect(resolveNodePrice("us-east-1", {}, "t3.large")).toMatchObject({ hourUsd: 0.0832, source: "table" });
  });
});
