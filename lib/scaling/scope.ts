import { ReportBuilder } from "../../runbooks/report.js";
import type { Action, Permission, Report, RunbookContext } from "../../runbooks/types.js";
import type { System } from "../../systems/schema.js";
import { arn } from "../iam.js";
import { clusterName } from "./ecs.js";
import type { OffHoursPolicy } from "./window.js";

/** The three off-hours runbooks; they share scope, permissions and plan notes. */
export type ScalingRunbook = "scale-down" | "scale-up" | "keep-awake";

type EcsRuntime = Extract<System["runtime"], { kind: "ecs" }>;
/** One ECS service of the catalogue. */
export type EcsService = EcsRuntime["services"][number];

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
  | { kind: "skip"; actions: Action[]; summary: string };

/** The reason every EKS target is reported with. */
export const EKS_UNSUPPORTED = "EKS not supported yet";

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
    const targets = policy?.targets;
    let names = runtime.deployments.map((d) => d.name).filter((name) => !targets || targets.includes(name));
    if (options.service) names = names.filter((name) => name === options.service);
    const actions: Action[] = names.map((name) => ({
      resource: `eks/${runtime.cluster}/${runtime.namespace}/${name}`,
      action: runbook,
      status: "skipped",
      reason: EKS_UNSUPPORTED,
    }));
    if (actions.length === 0) {
      actions.push({ resource: system.id, action: runbook, status: "skipped", reason: EKS_UNSUPPORTED });
    }
    return { kind: "skip", actions, summary: `skipped: ${EKS_UNSUPPORTED} (${names.join(", ") || runtime.cluster})` };
  }
  const cluster = clusterName(runtime.cluster);
  const known = runtime.services.map((s) => s.name);
  const problems: Action[] = [];
  let services = runtime.services;
  if (runbook !== "scale-up" && policy?.targets) {
    const targets = policy.targets;
    services = services.filter((s) => targets.includes(s.name));
    for (const target of targets.filter((t) => !known.includes(t))) {
      problems.push({
        resource: `${cluster}/${target}`,
        action: runbook,
        status: "failed",
        reason: `off-hours target "${target}" is not an ECS service of ${system.id} (known: ${known.join(", ")})`,
      });
    }
  }
  if (options.service) {
    const wanted = options.service;
    const inScope = services.filter((s) => s.name === wanted);
    if (inScope.length === 0) {
      problems.push({
        resource: `${cluster}/${wanted}`,
        action: runbook,
        status: "failed",
        reason: `"${wanted}" is not covered by ${runbook} for ${system.id}; covered: ${services.map((s) => s.name).join(", ") || "(none)"}`,
      });
    }
    services = inScope;
  }
  return { kind: "ecs", runtime, cluster, services, ...(policy ? { policy } : {}), problems };
}

/** The ARN IAM knows an ECS service by (long ARN format, which tagging requires anyway). */
export function serviceArn(system: System, cluster: string, service: string): string {
  return arn(system, "ecs", `service/${clusterName(cluster)}/${service}`);
}

/**
 * Least-privilege IAM for a scaling runbook on a system: ECS actions on the covered services' ARNs only;
 * DescribeScalableTargets on `*` (it supports no resource-level permission); RegisterScalableTarget on the
 * account's scalable targets (their ARNs carry an opaque id, so no narrower pattern exists). Nothing for
 * EKS or container-less systems, nor for scale-down and keep-awake where off-hours is disabled: those runs
 * change nothing. scale-up keeps its grant there, because it still restores a service left recorded as
 * scaled down (off-hours turned off overnight) and must read every service to find one.
 */
export function scalingPermissions(system: System, runbook: ScalingRunbook): Permission[] {
  if (system.runtime.kind !== "ecs") return [];
  if (!system.offHours.enabled && runbook !== "scale-up") return [];
  const scope = scalingScope(system, runbook);
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
  if (runtime.kind === "eks") {
    const targets = system.offHours.enabled ? system.offHours.targets : undefined;
    const names = runtime.deployments.map((d) => d.name).filter((n) => !targets || targets.includes(n));
    return `skipped: ${EKS_UNSUPPORTED} (${names.join(", ")} keep their replicas)`;
  }
  if (!system.offHours.enabled) return "off-hours disabled: only restores services still recorded as scaled down";
  return undefined;
}

/**
 * The common start of every scaling run: resolve the scope, finish at once (with one action per skipped
 * target) when there is nothing ECS to act on, and report catalogue problems before anything else.
 */
export function openScalingRun(
  ctx: RunbookContext,
  runbook: ScalingRunbook,
  service?: string,
): { finished: Report } | { report: ReportBuilder; scope: Extract<ScalingScope, { kind: "ecs" }> } {
  const report = new ReportBuilder(ctx, runbook);
  const scope = scalingScope(ctx.system, runbook, service ? { service } : {});
  if (scope.kind === "skip") {
    for (const action of scope.actions) report.add(action);
    return { finished: report.finish({ summary: scope.summary }) };
  }
  for (const problem of scope.problems) report.add(problem);
  return { report, scope };
}
