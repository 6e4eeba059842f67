import type { V1Deployment, V1DeploymentCondition, V1ReplicaSet } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { ProbeSample } from "../../lib/health/evaluate.js";
import {
  changedConditions,
  completeOn,
  conditionsSeen,
  followDeployment,
} from "../../runbooks/kube-rollback/follow.js";
import type { DeploymentRead } from "../../runbooks/kube-rollback/run.js";
import { testContext } from "../helpers/context.js";
import { SimClock } from "../helpers/simulated-ecs.js";

// Shapes from the apps/v1 API reference: Deployment (metadata.generation, status.observedGeneration,
// replicas / updatedReplicas / availableReplicas, conditions) and ReplicaSet (pod-template-hash label,
// deployment.kubernetes.io/revision annotation, controller ownerReference).

const UID = "0b6f5c6e-8c1a-4f53-9d1b-5b1c2f0a7e11";
const REVISION = "deployment.kubernetes.io/revision";

function replicaSet(hash: string, revision: string): V1ReplicaSet {
  return {
    metadata: {
      name: `worker-${hash}`,
      labels: { app: "worker", "pod-template-hash": hash },
      annotations: { [REVISION]: revision },
      ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name: "worker", uid: UID, controller: true }],
    },
  };
}

const progressing = (reason: string, message: string, status = "True"): V1DeploymentCondition => ({
  type: "Progressing",
  status,
  reason,
  message,
});

/** worker rolled back to template h2 (renumbered revision 4), complete: every count 3, generation observed. */
function read(
  change: { status?: V1Deployment["status"]; generation?: number; revision?: string } = {},
): DeploymentRead {
  return {
    deployment: {
      metadata: {
        name: "worker",
        uid: UID,
        generation: change.generation ?? 5,
        annotations: { [REVISION]: change.revision ?? "4" },
      },
      spec: { replicas: 3, selector: { matchLabels: { app: "worker" } }, template: {} },
      status: {
        observedGeneration: 5,
        replicas: 3,
        updatedReplicas: 3,
        availableReplicas: 3,
        conditions: [progressing("NewReplicaSetAvailable", 'ReplicaSet "worker-h2" has successfully progressed.')],
        ...change.status,
      },
    },
    replicaSets: [replicaSet("h2", "4"), replicaSet("h3", "3")],
  };
}

const TARGET = { hash: "h2" };

describe("completeOn: a rollback is complete only on its target, every replica updated and available", () => {
  it.each([
    ["complete", read(), { kind: "complete" }],
    [
      "the controller has not observed the rollback's generation",
      read({ generation: 6 }),
      { kind: "waiting", reason: "the controller has not observed generation 6 yet (observed 5)" },
    ],
    [
      "fewer updated replicas",
      read({ status: { updatedReplicas: 1, replicas: 3, availableReplicas: 3 } }),
      { kind: "waiting", reason: "1 of 3 replicas updated" },
    ],
    [
      "fewer available replicas",
      read({ status: { availableReplicas: 2 } }),
      { kind: "waiting", reason: "2 of 3 replicas available" },
    ],
    [
      "old replicas left",
      read({ status: { replicas: 4 } }),
      { kind: "waiting", reason: "1 old replica pending termination" },
    ],
    [
      "every missing count, each named",
      read({ status: { updatedReplicas: 1, replicas: 5, availableReplicas: 2 } }),
      {
        kind: "waiting",
        reason: "1 of 3 replicas updated; 2 old replicas pending termination; 2 of 3 replicas available",
      },
    ],
    [
      "another revision serves (someone rolled out meanwhile)",
      read({ revision: "3" }),
      { kind: "waiting", reason: "template h3 serves, not h2" },
    ],
    [
      "the current revision's replicaset is missing",
      read({ revision: "9" }),
      { kind: "waiting", reason: "the replicaset of its current revision was not found" },
    ],
    [
      "ProgressDeadlineExceeded on the rollback's own rollout: failed, with the condition's message",
      read({
        status: {
          updatedReplicas: 1,
          conditions: [
            progressing("ProgressDeadlineExceeded", 'ReplicaSet "worker-h2" has timed out progressing.', "False"),
          ],
        },
      }),
      {
        kind: "failed",
        reason: `the rollback's rollout failed (ProgressDeadlineExceeded: ReplicaSet "worker-h2" has timed out progressing.)`,
      },
    ],
    [
      "a ProgressDeadlineExceeded from before the rollback (generation not observed) is waited past, not a failure",
      read({
        generation: 6,
        status: {
          conditions: [
            progressing("ProgressDeadlineExceeded", 'ReplicaSet "worker-h3" has timed out progressing.', "False"),
          ],
        },
      }),
      { kind: "waiting", reason: "the controller has not observed generation 6 yet (observed 5)" },
    ],
    [
      "a ProgressDeadlineExceeded naming another replicaset, generation observed (one replica, Recreate): waited past",
      read({
        status: {
          availableReplicas: 0,
          conditions: [
            progressing("ProgressDeadlineExceeded", 'ReplicaSet "worker-h3" has timed out progressing.', "False"),
          ],
        },
      }),
      { kind: "waiting", reason: "0 of 3 replicas available" },
    ],
    [
      "the stale condition with every replica of the target available: complete",
      read({
        status: {
          conditions: [
            progressing("ProgressDeadlineExceeded", 'ReplicaSet "worker-h3" has timed out progressing.', "False"),
          ],
        },
      }),
      { kind: "complete" },
    ],
    [
      "ProgressDeadlineExceeded naming the target's replicaset by the name read for its hash",
      {
        ...read({
          status: {
            conditions: [
              progressing("ProgressDeadlineExceeded", 'ReplicaSet "worker-2" has timed out progressing.', "False"),
            ],
          },
        }),
        replicaSets: [{ ...replicaSet("h2", "4"), metadata: { ...replicaSet("h2", "4").metadata, name: "worker-2" } }],
      },
      {
        kind: "failed",
        reason: `the rollback's rollout failed (ProgressDeadlineExceeded: ReplicaSet "worker-2" has timed out progressing.)`,
      },
    ],
    [
      "paused (reason DeploymentPaused): failed at once, waiting changes nothing",
      read({
        status: {
          updatedReplicas: 1,
          conditions: [progressing("DeploymentPaused", "Deployment is paused", "Unknown")],
        },
      }),
      {
        kind: "failed",
        reason: "the deployment is paused (Deployment is paused): the controller does not roll out a paused deployment",
      },
    ],
  ] as const)("%s", (_, given, expected) => {
    expect(completeOn(given, TARGET)).toEqual(expected);
  });

  it("spec.paused, before the controller set a condition: failed, paused", () => {
    const given = read({ status: { updatedReplicas: 1 } });
    if (given.deployment.spec) given.deployment.spec.paused = true;
    expect(completeOn(given, TARGET)).toMatchObject({ kind: "failed", reason: expect.stringContaining("paused") });
  });

  it("scaled to 0 meanwhile (off-hours): complete, said so (no probe to run)", () => {
    const given = read({ status: { replicas: 0, updatedReplicas: 0, availableReplicas: 0 } });
    if (given.deployment.spec) given.deployment.spec.replicas = 0;
    expect(completeOn(given, TARGET)).toEqual({ kind: "complete", scaledToZero: true });
  });

  it("spec.replicas absent is 1, as the API defaults it", () => {
    const given = read({ status: { replicas: 1, updatedReplicas: 1, availableReplicas: 1 } });
    delete given.deployment.spec?.replicas;
    expect(completeOn(given, TARGET)).toEqual({ kind: "complete" });
  });
});

describe("changedConditions: what Kubernetes said since the rollback", () => {
  it("only conditions whose status, reason or message changed, once each", () => {
    // Prepare
    const before = read({
      status: { conditions: [progressing("ProgressDeadlineExceeded", "timed out", "False")] },
    }).deployment;
    const seen = conditionsSeen(before);
    const at = new Date("2026-11-23T16:00:10Z");
    const rolling = read({
      status: { conditions: [progressing("ReplicaSetUpdated", 'ReplicaSet "worker-h2" is progressing.')] },
    });
    // Act
    const first = changedConditions(seen, before, at);
    const second = changedConditions(seen, rolling.deployment, at);
    const third = changedConditions(seen, rolling.deployment, at);
    // Assess
    expect(first).toEqual([]);
    expect(second).toEqual([
      {
        at: "2026-11-23T16:00:10.000Z",
        type: "Progressing",
        status: "True",
        reason: "ReplicaSetUpdated",
        message: 'ReplicaSet "worker-h2" is progressing.',
      },
    ]);
    expect(third).toEqual([]);
  });
});

describe("followDeployment: the loop", () => {
  const T0 = Date.parse("2026-11-23T16:00:00Z");

  /** Each read answers the next of `reads` (the last one stays); a probe answers `probe`'s outcome. */
  function follow(reads: (DeploymentRead | Error)[], probe?: { ok: boolean; detail: string }) {
    const clock = new SimClock(T0);
    const ctx = { ...testContext({ now: clock.now }), sleep: clock.sleep };
    let i = 0;
    return followDeployment(ctx, {
      read: async () => {
        const next = reads[Math.min(i++, reads.length - 1)];
        if (next === undefined || next instanceof Error) throw next ?? new Error("no read");
        return next;
      },
      target: TARGET,
      issuedAt: new Date(T0),
      until: new Date(T0 + 60_000),
      pollMs: 10_000,
      probe: probe ? async (): Promise<ProbeSample> => ({ ...probe, at: clock.now(), ms: 1 }) : undefined,
    });
  }

  it("polls past a failed read and an incomplete rollout, then reports when it was complete and healthy", async () => {
    const result = await follow([new Error("HTTP 500"), read({ status: { availableReplicas: 1 } }), read()]);
    expect(result).toMatchObject({
      healthy: true,
      polls: 3,
      completeAt: new Date(T0 + 20_000),
      healthyAt: new Date(T0 + 20_000),
    });
  });

  it("gives up at the deadline with the last thing missing", async () => {
    const result = await follow([read({ status: { availableReplicas: 1 } })]);
    expect(result).toMatchObject({
      healthy: false,
      polls: 6,
      reason: "not healthy within 1 min: 1 of 3 replicas available",
    });
  });

  it("the abort signal stops it before the deadline, said so", async () => {
    const controller = new AbortController();
    controller.abort();
    const clock = new SimClock(T0);
    const ctx = { ...testContext({ now: clock.now, signal: controller.signal }), sleep: clock.sleep };
    const result = await followDeployment(ctx, {
      read: async () => read(),
      target: TARGET,
      issuedAt: new Date(T0),
      until: new Date(T0 + 60_000),
      pollMs: 10_000,
    });
    expect(result).toMatchObject({ healthy: false, polls: 0, reason: "stopped before the deadline: not yet complete" });
  });

  it("a read that never answers counts as a failed read after the read timeout, and the next read is made", async () => {
    // Prepare: the first read hangs (a connection that never answers), the next one answers.
    const clock = new SimClock(T0);
    const ctx = { ...testContext({ now: clock.now }), sleep: clock.sleep };
    let reads = 0;
    // Act
    const result = await followDeployment(ctx, {
      read: () => (reads++ === 0 ? new Promise<DeploymentRead>(() => undefined) : Promise.resolve(read())),
      target: TARGET,
      issuedAt: new Date(T0),
      until: new Date(T0 + 60_000),
      pollMs: 10_000,
      readTimeoutMs: 20,
    });
    // Assess
    expect(result).toMatchObject({ healthy: true, polls: 2, completeAt: new Date(T0 + 10_000) });
  });

  it("the abort signal ends a read that hangs: stopped before the deadline", async () => {
    // Prepare
    const controller = new AbortController();
    const clock = new SimClock(T0);
    const ctx = { ...testContext({ now: clock.now, signal: controller.signal }), sleep: clock.sleep };
    // Act: the read hangs; the run is aborted while it does (the per-read timeout is far off).
    const following = followDeployment(ctx, {
      read: () => {
        setTimeout(() => controller.abort(), 10);
        return new Promise<DeploymentRead>(() => undefined);
      },
      target: TARGET,
      issuedAt: new Date(T0),
      until: new Date(T0 + 60_000),
      pollMs: 10_000,
      readTimeoutMs: 60_000,
    });
    const result = await following;
    // Assess
    expect(result).toMatchObject({ healthy: false, polls: 1 });
    expect(result.reason).toBe(
      "stopped before the deadline: could not read the deployment: stopped: the run was aborted",
    );
  });

  it("scaled to 0: healthy without asking the health probe", async () => {
    const zero = read({ status: { replicas: 0, updatedReplicas: 0, availableReplicas: 0 } });
    if (zero.deployment.spec) zero.deployment.spec.replicas = 0;
    const clock = new SimClock(T0);
    const ctx = { ...testContext({ now: clock.now }), sleep: clock.sleep };
    let probes = 0;
    const result = await followDeployment(ctx, {
      read: async () => zero,
      target: TARGET,
      issuedAt: new Date(T0),
      until: new Date(T0 + 60_000),
      pollMs: 10_000,
      probe: async () => {
        probes++;
        return { ok: false, detail: "connection refused", at: clock.now(), ms: 1 };
      },
    });
    expect(result).toMatchObject({ healthy: true, polls: 1 });
    expect(probes).toBe(0);
  });

  it("complete but the probe fails: not healthy, the probe's failure as the reason, completeAt kept", async () => {
    const result = await follow([read()], { ok: false, detail: "503 Service Unavailable" });
    expect(result.healthy).toBe(false);
    expect(result.completeAt).toEqual(new Date(T0));
    expect(result.reason).toBe(
      "not healthy within 1 min: complete, but the health probe fails: 503 Service Unavailable",
    );
  });
});
