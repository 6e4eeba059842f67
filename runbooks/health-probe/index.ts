import { z } from "zod";
import { errorMessage, UnknownNameError, ValidationError } from "../../lib/errors.js";
import { endpointsOf } from "../../lib/health/endpoints.js";
import { formatProbeState, type ProbeSample, type ProbeState, parseProbeState } from "../../lib/health/evaluate.js";
import { arn, clusterName } from "../../lib/iam.js";
import { redactText } from "../../lib/redact.js";
import { plural } from "../../lib/text.js";
import type { System } from "../../systems/schema.js";
import { ReportBuilder } from "../report.js";
import { describeServices, type ServiceState } from "../rollback/ecs.js";
import { steadyOn } from "../rollback/follow.js";
import { rollbackDetails, rollbackPermissions } from "../rollback/index.js";
import { rollbackService } from "../rollback/run.js";
import { BAKE_TAG, type BakeRecord, formatBake, PROBE_TAG, parseBake, revisionOf } from "../rollback/tags.js";
import type { Permission, Report, Runbook, RunbookContext } from "../types.js";
import { alarmsInAlarm, knownGoodTags, tagService } from "./apply.js";
import { kubeProbeAccess, kubeProbePermissions, probeKube } from "./kube.js";
import { type BakeDecision, decideBake } from "./plan.js";
import { sampleEndpoint } from "./sample.js";

const instant = z.iso.datetime({ offset: true, message: "must be an ISO instant such as 2026-11-21T10:00:00Z" });

/** Input: nothing (the schedule), or the ECS "deployment completed" event that starts a bake. */
export const healthProbeInputSchema = z.strictObject({
  /** Probe only this service (ECS) or deployment (EKS). */
  service: z.string().min(1).optional(),
  /** Samples per run (default: as many as the interval fits in the one-minute schedule). */
  samples: z.coerce.number().int().min(1).max(12).optional(),
  deploymentCompleted: z
    .strictObject({ service: z.string().min(1), deploymentId: z.string().min(1), at: instant.optional() })
    .optional(),
});

/** A parsed health-probe input. */
type HealthProbeInput = z.output<typeof healthProbeInputSchema>;

/**
 * ECS: read services, tag them (probe state, bake, known-good), roll back, read alarm states. EKS: find the
 * cluster (the Kubernetes side is the access entry, {@link kubeProbeAccess}).
 */
export function healthProbePermissions(system: System): Permission[] {
  if (system.runtime.kind === "eks") return kubeProbePermissions(system);
  const ecs = rollbackPermissions(system);
  if (ecs.length === 0) return [];
  return [
    ...ecs,
    { actions: ["cloudwatch:DescribeAlarms"], resources: [arn(system, "cloudwatch", "alarm:ops-autopilot-*")] },
  ];
}

export { SCHEDULE_MS } from "./sample.js";

/**
 * The health probe: samples each service's health endpoint, keeps the consecutive counts on the service,
 * rolls back after the unhealthy threshold, and bakes completed deployments into the last known-good.
 */
export const healthProbeRunbook: Runbook<typeof healthProbeInputSchema> = {
  name: "health-probe",
  description:
    "probe each ECS service's health endpoint; N failures in a row roll it back; a completed deployment healthy for the bake time becomes its last known-good",
  destructive: false,
  input: healthProbeInputSchema,
  timeoutSeconds: 900,
  permissions: healthProbePermissions,
  kubernetesAccess: kubeProbeAccess,
  planNote(system) {
    if (system.runtime.kind === "none") return "skipped: no container runtime";
    if (!system.rollback.enabled) return "skipped: rollback disabled in the catalogue";
    const reachable = system.health.some((h) => h.baseUrl);
    if (system.runtime.kind === "eks") {
      return reachable ? undefined : "skipped: no health check has a baseUrl (EKS: the probe only probes)";
    }
    return reachable ? undefined : "alarms and bakes only: no health check has a baseUrl";
  },
  async run(ctx, input) {
    const report = new ReportBuilder(ctx, "health-probe");
    const { runtime } = ctx.system;
    if (runtime.kind === "none" || !ctx.system.rollback.enabled) {
      report.add({
        resource: ctx.system.id,
        action: "probe",
        status: "skipped",
        reason: runtime.kind === "none" ? "no container runtime" : "rollback disabled in the catalogue",
      });
      return report.finish({ summary: "skipped" });
    }
    if (runtime.kind === "eks") {
      if (input.deploymentCompleted)
        throw new ValidationError("deploymentCompleted is an ECS event: EKS systems take none");
      return probeKube(ctx, report, { only: input.service, samples: input.samples });
    }
    return probeEcs(ctx, report, input);
  },
};

/** One probe run over an ECS system's services (or the bake start of a completed deployment). */
async function probeEcs(ctx: RunbookContext, report: ReportBuilder, input: HealthProbeInput): Promise<Report> {
  const { runtime } = ctx.system;
  if (runtime.kind !== "ecs") throw new Error(`${ctx.system.id} is not an ECS system`);
  const names = runtime.services.map((s) => s.name);
  const only = input.service ?? input.deploymentCompleted?.service;
  if (only && !names.includes(only)) throw new UnknownNameError("service", only, names);
  const cluster = clusterName(runtime.cluster);
  let states: Map<string, ServiceState>;
  try {
    const read = await describeServices(ctx.clients.ecs, cluster, only ? [only] : names, ctx.signal);
    for (const [name, reason] of read.missing)
      report.add({ resource: `${cluster}/${name}`, action: "probe", status: "failed", reason });
    states = read.found;
  } catch (error) {
    report.add({ resource: cluster, action: "probe", status: "failed", reason: redactText(errorMessage(error)) });
    return report.finish({ summary: `could not read the services: ${redactText(errorMessage(error))}` });
  }
  if (input.deploymentCompleted) {
    const state = states.get(input.deploymentCompleted.service);
    if (state) await startBake(ctx, report, state, input.deploymentCompleted);
    return report.finish({ summary: summaryOf(report.actions) });
  }
  const verdicts = await probeAll(ctx, report, states, input.samples);
  await bakeAll(ctx, report, states, verdicts);
  for (const [name, result] of verdicts) {
    const state = states.get(name);
    if (result.state.verdict === "unhealthy" && state) await rollBackUnhealthy(ctx, report, { name, state, result });
  }
  return report.finish({ summary: summaryOf(report.actions) });
}

/** Hands an unhealthy service to the ECS rollback, with a probe trigger, and puts its outcome on the report. */
async function rollBackUnhealthy(
  ctx: RunbookContext,
  report: ReportBuilder,
  unhealthy: { name: string; state: ServiceState; result: ProbeResult },
): Promise<void> {
  const { name, state, result } = unhealthy;
  const last = result.samples[result.samples.length - 1];
  const trigger = {
    kind: "probe" as const,
    url: result.url,
    failures: result.state.failures,
    detail: last?.detail ?? "unhealthy",
    at: (last?.at ?? ctx.now()).toISOString(),
  };
  const outcome = await rollbackService(ctx, report, { state, trigger, follow: true });
  const details = rollbackDetails(ctx, outcome);
  report.details[name] = { firstFailureAt: result.state.since?.toISOString(), trigger, ...details };
  // The router reads one escalation per report: the first service that needs a person.
  if (details.escalation && !report.details.escalation) report.details.escalation = details.escalation;
  for (const key of ["triggerToIssuedMs", "issuedToHealthyMs", "triggerToHealthyMs"] as const) {
    const value = outcome.timeline[key];
    if (value !== undefined) report.metric(`${name}.${key}`, value);
  }
}

interface ProbeResult {
  url: string;
  samples: ProbeSample[];
  state: ProbeState;
}

/** Samples every probe-able service (concurrently), folds the samples into its state, stores the state. */
async function probeAll(
  ctx: RunbookContext,
  report: ReportBuilder,
  states: Map<string, ServiceState>,
  samplesAsked: number | undefined,
): Promise<Map<string, ProbeResult>> {
  const results = new Map<string, ProbeResult>();
  await Promise.all(
    [...states].map(async ([name, state]) => {
      const endpoint = endpointsOf(ctx.system, name)[0];
      if (!endpoint) return;
      const before = state.tags.get(PROBE_TAG);
      const { samples, state: after } = await sampleEndpoint(ctx, endpoint, parseProbeState(before), samplesAsked);
      results.set(name, { url: endpoint.url, samples, state: after });
      const text = formatProbeState(after);
      const changed = text !== before;
      if (changed && !ctx.dryRun) await tagService(ctx, state.arn, { [PROBE_TAG]: text });
      report.add({
        resource: state.facts.name,
        action: "probe",
        status: changed && ctx.dryRun ? "would-do" : "done",
        reason: `${after.verdict} (${plural(after.failures, "failure")} in a row, threshold ${endpoint.thresholds.unhealthyThreshold}): ${samples.map((s) => s.detail).join("; ")}`,
        after: text,
      });
    }),
  );
  return results;
}

async function startBake(
  ctx: RunbookContext,
  report: ReportBuilder,
  state: ServiceState,
  event: { deploymentId: string; at?: string | undefined },
): Promise<void> {
  const primary = state.service.deployments?.find((d) => d.status === "PRIMARY");
  const resource = state.facts.name;
  const existing = parseBake(state.tags.get(BAKE_TAG));
  const skip = (reason: string) => void report.add({ resource, action: "bake-start", status: "skipped", reason });
  if (primary?.id !== event.deploymentId)
    return skip(`deployment ${event.deploymentId} is no longer the PRIMARY one (${primary?.id ?? "none"})`);
  if (existing?.deployment === event.deploymentId)
    return skip(`bake of ${event.deploymentId} already ${existing.state} (duplicate event)`);
  if (state.facts.knownGood?.revision === state.facts.current)
    return skip(`${state.facts.current} is already the last known-good`);
  const bake = formatBake({
    revision: state.facts.current,
    deployment: event.deploymentId,
    started: event.at ? new Date(event.at) : ctx.now(),
    state: "baking",
  });
  if (!ctx.dryRun) await tagService(ctx, state.arn, { [BAKE_TAG]: bake });
  report.add({
    resource,
    action: "bake-start",
    status: report.changeStatus,
    reason: `${state.facts.current} bakes ${ctx.system.rollback.bakeMinutes} min`,
    after: bake,
  });
}

async function bakeAll(
  ctx: RunbookContext,
  report: ReportBuilder,
  states: Map<string, ServiceState>,
  verdicts: Map<string, ProbeResult>,
): Promise<void> {
  const baking = [...states].filter(([, s]) => parseBake(s.tags.get(BAKE_TAG))?.state === "baking");
  if (baking.length === 0) return;
  let alarms: string[];
  try {
    alarms = await alarmsInAlarm(ctx, ctx.system);
  } catch (error) {
    // Unknown alarm state must not promote: the bake waits for a run that can read them.
    for (const [, state] of baking)
      report.add({
        resource: state.facts.name,
        action: "bake-check",
        status: "failed",
        reason: `alarms unreadable: ${redactText(errorMessage(error))}`,
      });
    return;
  }
  for (const [name, state] of baking) {
    const bake = parseBake(state.tags.get(BAKE_TAG));
    if (!bake) continue;
    const probe = verdicts.get(name)?.state.verdict;
    const decision = decideBake({
      bake,
      current: state.facts.current,
      steady: steadyOn(state.service, state.facts.current) === true,
      ...(probe ? { probe } : {}),
      alarmsInAlarm: alarms,
      now: ctx.now(),
      bakeMinutes: ctx.system.rollback.bakeMinutes,
    });
    if (decision.kind === "wait" || decision.kind === "none") {
      report.add({ resource: state.facts.name, action: "bake-check", status: "skipped", reason: decision.reason });
      continue;
    }
    await applyBakeDecision(ctx, report, { state, bake, decision });
  }
}

/** Records a finished bake on the service: promoted (the known-good tags move to it) or failed. */
async function applyBakeDecision(
  ctx: RunbookContext,
  report: ReportBuilder,
  options: { state: ServiceState; bake: BakeRecord; decision: Extract<BakeDecision, { kind: "promote" | "fail" }> },
): Promise<void> {
  const { state } = options;
  const resource = state.facts.name;
  const primaryArn = state.service.deployments?.find((d) => d.status === "PRIMARY")?.taskDefinition ?? "";
  const change = bakeChange(ctx, { ...options, primaryArn });
  try {
    if (!ctx.dryRun) await tagService(ctx, state.arn, change.tags);
    report.add({
      resource,
      action: change.action,
      status: report.changeStatus,
      reason: change.reason,
      ...change.extra,
    });
  } catch (error) {
    report.add({ resource, action: "bake-check", status: "failed", reason: redactText(errorMessage(error)) });
  }
}

/** The tags a bake's end writes, and how the report shows it. */
function bakeChange(
  ctx: RunbookContext,
  options: {
    state: ServiceState;
    bake: BakeRecord;
    decision: Extract<BakeDecision, { kind: "promote" | "fail" }>;
    primaryArn: string;
  },
): { tags: Record<string, string>; action: string; reason: string; extra: { before?: string | null; after?: string } } {
  const { state, bake, decision, primaryArn } = options;
  if (decision.kind === "promote") {
    return {
      tags: {
        ...knownGoodTags(primaryArn, ctx.now(), decision.why),
        [BAKE_TAG]: formatBake({ ...bake, state: "promoted" }),
      },
      action: "promote-known-good",
      reason: decision.why,
      extra: { before: state.knownGoodArn ?? null, after: primaryArn },
    };
  }
  return {
    tags: { [BAKE_TAG]: formatBake({ ...bake, state: "failed", reason: decision.reason }) },
    action: "bake-failed",
    reason: `${decision.reason}: ${revisionOf(primaryArn)} not promoted`,
    extra: {},
  };
}

function summaryOf(actions: readonly { resource: string; action: string; status: string; reason?: string }[]): string {
  const notable = actions.filter((a) => a.action !== "probe" || !a.reason?.startsWith("healthy"));
  if (notable.length === 0) return `${plural(actions.length, "endpoint")} healthy`;
  return notable.map((a) => `${a.resource} ${a.action} ${a.status}${a.reason ? `: ${a.reason}` : ""}`).join("; ");
}
