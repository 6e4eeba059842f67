import {
  arn,
  clusterName,
  eksClusterArn,
  type KubernetesAccess,
  kubernetesAccessEntry,
  serviceArn,
} from "../../lib/iam.js";
import type { System } from "../../systems/schema.js";
import { ReportBuilder } from "../report.js";
import type { Action, Permission, Report, RunbookContext } from "../types.js";
import type { OffHoursPolicy } from "./window.js";

/** The three off-hours runbooks; they share scope, permissions and plan notes. */
export type ScalingRunbook = "scale-down" | "scale-up" | "keep-awake";

type EcsRuntime = Extract<System["runtime"], { kind: "ecs" }>;
type EksRuntime = Extract<System["runtime"], { kind: "eks" }>;
/** One ECS service of the catalogue. */
export type EcsService = EcsRuntime["services"][number];
/** One Kubernetes deployment of the catalogue. */
export type EksDeployment = EksRuntime["deployments"][number];

/** What a scaling runbook acts on for a system, or why it acts on nothing. */
export type ScalingScope =
  | {
      kind: "ecs";
      runtime: EcsRuntime;
      /** Short cluster name (resource ids, report resources). */
      cluster: string;
      services: EcsService[];
      /** The off-hours policy; absent when disabled (scale-up still restores what is recorded). */
      policy?: OffHoursPolicy;
      /** Catalogue mistakes, reported as failed actions so they are never silent. */
      problems: Action[];
    }
  | {
      kind: "eks";
      runtime: EksRuntime;
      /** Cluster name (what eks:DescribeCluster and the token take). */
      cluster: string;
      namespace: string;
      deployments: EksDeployment[];
      policy?: OffHoursPolicy;
      problems: Action[];
    }
  | { kind: "skip"; actions: Action[]; summary: string };

/** The names a scope covers (services or deployments), in catalogue order. */
export function scopeNames(scope: Exclude<ScalingScope, { kind: "skip" }>): string[] {
  return scope.kind === "ecs" ? scope.services.map((s) => s.name) : scope.deployments.map((d) => d.name);
}

/**
 * Narrows a system's workloads to what a runbook covers: the policy's targets (scale-down and keep-awake
 * only: scale-up restores anything recorded), then the one asked for; each catalogue mistake becomes a
 * failed action.
 */
function narrow<T extends { name: string }>(options: {
  items: T[];
  runbook: ScalingRunbook;
  policy: OffHoursPolicy | undefined;
  only: string | undefined;
  resource: (name: string) => string;
  what: string;
  systemId: string;
}): { items: T[]; problems: Action[] } {
  const { runbook, policy } = options;
  const known = options.items.map((s) => s.name);
  const problems: Action[] = [];
  let items = options.items;
  if (runbook !== "scale-up" && policy?.targets) {
    const targets = policy.targets;
    items = items.filter((s) => targets.includes(s.name));
    for (const target of targets.filter((t) => !known.includes(t))) {
      problems.push({
        resource: options.resource(target),
        action: runbook,
        status: "failed",
        reason: `off-hours target "${target}" is not ${options.what} of ${options.systemId} (known: ${known.join(", ")})`,
      });
    }
  }
  if (options.only) {
    const wanted = options.only;
    const inScope = items.filter((s) => s.name === wanted);
    if (inScope.length === 0) {
      problems.push({
        resource: options.resource(wanted),
        action: runbook,
        status: "failed",
        reason: `"${wanted}" is not covered by ${runbook} for ${options.systemId}; covered: ${items.map((s) => s.name).join(", ") || "(none)"}`,
      });
    }
    items = inScope;
  }
  return { items, problems };
}

function policyOf(system: System): OffHoursPolicy | undefined {
  return system.offHours.enabled ? system.offHours : undefined;
}

/**
 * What a scaling runbook covers. Scale-down and keep-awake cover the policy's targets (all services when
 * none are listed); scale-up covers every ECS service of the system, so that a service taken out of the
 * targets — or a policy switched off — while it is down still gets its capacity back. EKS deployments and
 * container-less systems are reported skipped, one action each, never ignored.
 */
export function scalingScope(
  system: System,
  runbook: ScalingRunbook,
  options: { service?: string } = {},
): ScalingScope {
  const policy = policyOf(system);
  const { runtime } = system;
  if (runtime.kind === "none") {
    return {
      kind: "skip",
      actions: [
        { resource: system.id, action: runbook, status: "skipped", reason: `no containers: ${runtime.reason}` },
      ],
      summary: `skipped: ${system.id} runs no containers`,
    };
  }
  if (!system.offHours.enabled && runbook !== "scale-up") {
    const reason = `off-hours disabled: ${system.offHours.reason}`;
    return {
      kind: "skip",
      actions: [{ resource: system.id, action: runbook, status: "skipped", reason }],
      summary: `skipped: off-hours disabled for ${system.id}`,
    };
  }
  if (runtime.kind === "eks") {
    const cluster = clusterName(runtime.cluster);
    const { items, problems } = narrow({
      items: runtime.deployments,
      runbook,
      policy,
      only: options.service,
      resource: (name) => `eks/${cluster}/${runtime.namespace}/${name}`,
      what: `a deployment in namespace ${runtime.namespace}`,
      systemId: system.id,
    });
    return {
      kind: "eks",
      runtime,
      cluster,
      namespace: runtime.namespace,
      deployments: items,
      ...(policy ? { policy } : {}),
      problems,
    };
  }
  const cluster = clusterName(runtime.cluster);
  const { items, problems } = narrow({
    items: runtime.services,
    runbook,
    policy,
    only: options.service,
    resource: (name) => `${cluster}/${name}`,
    what: "an ECS service",
    systemId: system.id,
  });
  return { kind: "ecs", runtime, cluster, services: items, ...(policy ? { policy } : {}), problems };
}

/** {@link KubernetesAccess} of a scaling runbook for a system; empty unless it acts on EKS deployments. */
export function scalingKubernetesAccess(system: System, runbook: ScalingRunbook): KubernetesAccess[] {
  if (system.runtime.kind !== "eks" || !system.offHours.enabled) return [];
  const scope = scalingScope(system, runbook);
  if (scope.kind !== "eks" || scope.deployments.length === 0) return [];
  return [
    kubernetesAccessEntry(system, {
      cluster: scope.cluster,
      namespace: scope.namespace,
      policy: "AmazonEKSEditPolicy",
      rules: [
        { apiGroups: ["apps"], resources: ["deployments"], verbs: ["get", "list", "patch"] },
        { apiGroups: ["apps"], resources: ["deployments/scale"], verbs: ["patch"] },
        { apiGroups: ["apps"], resources: ["replicasets"], verbs: ["list"] },
        { apiGroups: ["autoscaling"], resources: ["horizontalpodautoscalers"], verbs: ["list", "patch"] },
      ],
    }),
  ];
}

/**
 * Least-privilege IAM for a scaling runbook on a system: ECS actions on the covered services' ARNs only;
 * DescribeScalableTargets on `*` (it supports no resource-level permission); RegisterScalableTarget on the
 * account's scalable targets (their ARNs carry an opaque id, so no narrower pattern exists). On EKS,
 * `eks:DescribeCluster` on the system's cluster only. Nothing for container-less systems, nor for
 * scale-down and keep-awake where off-hours is disabled: those runs change nothing. scale-up keeps its
 * grant there, because it still restores a workload left recorded as scaled down (off-hours turned off
 * overnight) and must read every one to find it.
 */
export function scalingPermissions(system: System, runbook: ScalingRunbook): Permission[] {
  if (system.runtime.kind === "none") return [];
  if (!system.offHours.enabled && runbook !== "scale-up") return [];
  const scope = scalingScope(system, runbook);
  if (scope.kind === "eks") {
    // The Kubernetes side is granted by the cluster (an access entry, `kubernetesAccess`); IAM only needs
    // to find the cluster's endpoint and CA.
    return scope.deployments.length === 0
      ? []
      : [{ actions: ["eks:DescribeCluster"], resources: [eksClusterArn(system, scope.cluster)] }];
  }
  if (scope.kind !== "ecs" || scope.services.length === 0) return [];
  const resources = scope.services.map((s) => serviceArn(system, scope.cluster, s.name));
  // Tags are read through DescribeServices(include=TAGS); ListTagsForResource is the tag-read action
  // itself, granted on the same services so that a missing tag can never be a silent permission gap.
  const ecsActions = {
    "scale-down": ["ecs:DescribeServices", "ecs:ListTagsForResource", "ecs:TagResource", "ecs:UpdateService"],
    "scale-up": ["ecs:DescribeServices", "ecs:ListTagsForResource", "ecs:UntagResource", "ecs:UpdateService"],
    "keep-awake": [
      "ecs:DescribeServices",
      "ecs:ListTagsForResource",
      "ecs:TagResource",
      "ecs:UntagResource",
      "ecs:UpdateService",
    ],
  }[runbook];
  return [
    { actions: ecsActions, resources },
    { actions: ["application-autoscaling:DescribeScalableTargets"], resources: ["*"] },
    {
      actions: ["application-autoscaling:RegisterScalableTarget"],
      resources: [arn(system, "application-autoscaling", "scalable-target/*")],
    },
  ];
}

/** What `ops plan` says about a scheduled scaling run that will not act normally. */
export function scalingPlanNote(system: System, runbook: ScalingRunbook): string | undefined {
  const { runtime } = system;
  if (runtime.kind === "none") return `skipped: no containers (${runtime.reason})`;
  if (!system.offHours.enabled && runbook !== "scale-up")
    return `skipped: off-hours disabled (${system.offHours.reason})`;
  const noun = runtime.kind === "eks" ? "deployments" : "services";
  if (!system.offHours.enabled) return `off-hours disabled: only restores ${noun} still recorded as scaled down`;
  return undefined;
}

/**
 * The common start of every scaling run: resolve the scope, finish at once (with one action per skipped
 * target) when there is nothing to act on, and report catalogue problems before anything else.
 */
export function openScalingRun(
  ctx: RunbookContext,
  runbook: ScalingRunbook,
  service?: string,
): { finished: Report } | { report: ReportBuilder; scope: Exclude<ScalingScope, { kind: "skip" }> } {
  const report = new ReportBuilder(ctx, runbook);
  const scope = scalingScope(ctx.system, runbook, service ? { service } : {});
  if (scope.kind === "skip") {
    for (const action of scope.actions) report.add(action);
    return { finished: report.finish({ summary: scope.summary }) };
  }
  for (const problem of scope.problems) report.add(problem);
  return { report, scope };
}
