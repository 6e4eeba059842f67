import type { V1Deployment, V1ReplicaSet } from "@kubernetes/client-node";
import { formatProbeState, type ProbeState, parseProbeState } from "../../lib/health/evaluate.js";
import type { KubeApi } from "../../lib/kube/client.js";
import { currentReplicaSet, REVISION_ANNOTATION } from "../../lib/kube/rollout.js";
import { isoSeconds, parseInstant } from "../scaling/tags.js";
import { type BakeFacts, mergePatchBetween, type Revision, type RollbackInput } from "./plan.js";

/** The annotations the rollback keeps on each deployment (state lives on the resource). */
export const ROLLBACK_MARKS = {
  /** `pod-template-hash` of the last revision seen healthy. */
  knownGood: "ops-autopilot/known-good-template",
  /** Comma-separated hashes rolled back from (the newest 10). */
  rolledBackFrom: "ops-autopilot/rolled-back-from",
  /** `v1 from=<hash> to=<hash> at=<ISO instant>`. */
  lastRollback: "ops-autopilot/last-rollback",
  /**
   * The health probe's consecutive counts (`v1 verdict= failures= successes= since= template=<hash>`), for
   * the revision `template` only: a new rollout starts the count afresh.
   */
  probe: "ops-autopilot/probe",
} as const;

/** The probe state as an annotation value, tied to the template it was counted on. */
export function formatKubeProbe(state: ProbeState, hash: string): string {
  return `${formatProbeState(state)} template=${hash}`;
}

/** The probe state counted on `hash`; a state counted on another revision (or none) is no state at all. */
export function kubeProbeOf(value: string | undefined, hash: string | undefined): ProbeState | undefined {
  const template = /\btemplate=(\S+)/.exec(value ?? "")?.[1];
  if (!value || !hash || template !== hash) return undefined;
  return parseProbeState(value);
}

const HASH_LABEL = "pod-template-hash";

const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value ?? null)) as T;

function revisionOf(rs: V1ReplicaSet): Revision | undefined {
  const hash = rs.metadata?.labels?.[HASH_LABEL];
  const revision = Number(rs.metadata?.annotations?.[REVISION_ANNOTATION]);
  return hash && Number.isInteger(revision) ? { hash, revision } : undefined;
}

/** The replicasets a deployment owns, newest revision first. */
function owned(deployment: V1Deployment, replicaSets: readonly V1ReplicaSet[]): V1ReplicaSet[] {
  const uid = deployment.metadata?.uid;
  return replicaSets
    .filter((rs) => rs.metadata?.ownerReferences?.some((o) => o.uid === uid && o.controller !== false))
    .sort((a, b) => (revisionOf(b)?.revision ?? 0) - (revisionOf(a)?.revision ?? 0));
}

/** A failure the health probe saw, counted on one template. */
export interface ProbeFailure {
  failure: string;
  /** The template hash the failures were counted on. */
  hash: string;
}

/** Options of {@link rollbackInput}. */
export interface ReadOptions {
  deployment: V1Deployment;
  replicaSets: readonly V1ReplicaSet[];
  inProgress: string | undefined;
  cooldownMinutes: number;
  /** `rollback.followMinutes`: how long our own rollback is followed (and so not escalated). */
  followMinutes?: number | undefined;
  now: Date;
  /** The health probe's trigger; absent: the check looks for ProgressDeadlineExceeded. */
  probe?: ProbeFailure | undefined;
  windowMinutes?: number | undefined;
  /** The deployment has a probe-able endpoint: known-good waits for the probe (this many minutes). */
  bakeMinutes?: number | undefined;
  lastDeployedAt?: Date | undefined;
  dryRun?: boolean;
}

/**
 * The current revision's rollout missed its deadline. A ProgressDeadlineExceeded whose message names another
 * replicaset of the deployment than the current one (`ReplicaSet "<name>" has timed out progressing.`) is
 * an earlier revision's, left standing after a rollback until the controller sees progress: not a failure of
 * what runs. A message naming none of them still counts.
 */
function deadlineFailure(
  deployment: V1Deployment,
  sets: readonly V1ReplicaSet[],
  current: V1ReplicaSet | undefined,
): string | undefined {
  const progressing = deployment.status?.conditions?.find((c) => c.type === "Progressing");
  if (progressing?.status !== "False" || progressing.reason !== "ProgressDeadlineExceeded") return undefined;
  const named = /ReplicaSet "([^"]+)"/.exec(progressing.message ?? "")?.[1];
  const stale = named !== undefined && current !== undefined && named !== current.metadata?.name;
  if (stale && owned(deployment, sets).some((rs) => rs.metadata?.name === named)) return undefined;
  return `rollout failed (ProgressDeadlineExceeded: ${progressing.message ?? "no message"})`;
}

function bakeOf(value: string | undefined, current: Revision | undefined, bakeMinutes: number): BakeFacts {
  const state = kubeProbeOf(value, current?.hash);
  return {
    bakeMinutes,
    ...(state ? { verdict: state.verdict } : {}),
    ...(state?.verdict === "healthy" && state.since ? { healthySince: state.since } : {}),
  };
}

function lastRollbackOf(value: string | undefined): Pick<RollbackInput, "lastRollbackAt" | "lastRollback"> {
  const field = (name: string) => new RegExp(`\\b${name}=(\\S+)`).exec(value ?? "")?.[1];
  const at = field("at");
  const from = field("from");
  const to = field("to");
  return {
    lastRollbackAt: at ? parseInstant(at) : undefined,
    lastRollback: from && to ? { from, to } : undefined,
  };
}

/**
 * When the current revision last rolled out: its replicaset's creation, or our own rollback to it if later
 * (a rollback reuses an old replicaset, whose creation time is the first rollout's).
 */
function rolledOutAt(created: Date | undefined, current: Revision | undefined, lastRollback: string | undefined) {
  const last = lastRollbackOf(lastRollback);
  const ours = last.lastRollback?.to === current?.hash ? last.lastRollbackAt : undefined;
  if (!ours) return created;
  return created && created.getTime() > ours.getTime() ? created : ours;
}

/** Reads what the guards need from a deployment and its replicasets. */
export function rollbackInput(options: ReadOptions): { input: RollbackInput; previousSet?: V1ReplicaSet } {
  const { deployment, probe } = options;
  const annotations = deployment.metadata?.annotations ?? {};
  const currentSet = currentReplicaSet(deployment, options.replicaSets);
  const current = currentSet ? revisionOf(currentSet) : undefined;
  const previousSet = owned(deployment, options.replicaSets).find(
    (rs) => current && (revisionOf(rs)?.revision ?? 0) < current.revision,
  );
  const failure = probe ? probe.failure : deadlineFailure(deployment, options.replicaSets, currentSet);
  const input: RollbackInput = {
    name: `${deployment.metadata?.namespace ?? "?"}/${deployment.metadata?.name ?? "?"}`,
    failure,
    trigger: probe ? "probe" : "deadline",
    ...(probe ? { failedHash: probe.hash } : {}),
    healthy: !failure && options.inProgress === undefined,
    current,
    previous: previousSet ? revisionOf(previousSet) : undefined,
    knownGood: annotations[ROLLBACK_MARKS.knownGood],
    rolledBackFrom: (annotations[ROLLBACK_MARKS.rolledBackFrom] ?? "").split(",").filter(Boolean),
    ...lastRollbackOf(annotations[ROLLBACK_MARKS.lastRollback]),
    cooldownMinutes: options.cooldownMinutes,
    followMinutes: options.followMinutes,
    windowMinutes: options.windowMinutes,
    deployedAt: rolledOutAt(options.lastDeployedAt, current, annotations[ROLLBACK_MARKS.lastRollback]),
    ...(options.bakeMinutes !== undefined
      ? { bake: bakeOf(annotations[ROLLBACK_MARKS.probe], current, options.bakeMinutes) }
      : {}),
    now: options.now,
    dryRun: options.dryRun ?? false,
  };
  return previousSet ? { input, previousSet } : { input };
}

/**
 * Rolls back what `kubectl rollout undo` does, through the API: the deployment's pod template becomes the
 * earlier replicaset's (without its `pod-template-hash` label, which the controller adds), as one merge
 * patch guarded by the resourceVersion read, with the guards' state in the same write.
 */
export async function rollBack(options: {
  api: KubeApi;
  namespace: string;
  deployment: V1Deployment;
  to: V1ReplicaSet;
  from: Revision;
  toRevision: Revision;
  rolledBackFrom: readonly string[];
  now: Date;
}): Promise<void> {
  const { deployment } = options;
  const template = plain(options.to.spec?.template) ?? {};
  const labels = { ...(template.metadata?.labels ?? {}) };
  delete labels[HASH_LABEL];
  template.metadata = { ...template.metadata, labels };
  const history = [...options.rolledBackFrom.filter((h) => h !== options.from.hash), options.from.hash].slice(-10);
  await options.api.patchDeployment({
    namespace: options.namespace,
    name: deployment.metadata?.name ?? "",
    resourceVersion: deployment.metadata?.resourceVersion ?? "",
    patch: {
      metadata: {
        annotations: {
          [ROLLBACK_MARKS.rolledBackFrom]: history.join(","),
          [ROLLBACK_MARKS.lastRollback]: `v1 from=${options.from.hash} to=${options.toRevision.hash} at=${isoSeconds(options.now)}`,
        },
      },
      spec: { template: mergePatchBetween(plain(deployment.spec?.template), template) },
    },
  });
}

/** Records the current revision as known-good. */
export async function markKnownGood(options: {
  api: KubeApi;
  namespace: string;
  deployment: V1Deployment;
  hash: string;
}): Promise<void> {
  await options.api.patchDeploymentAnnotations({
    namespace: options.namespace,
    name: options.deployment.metadata?.name ?? "",
    resourceVersion: options.deployment.metadata?.resourceVersion ?? "",
    annotations: { [ROLLBACK_MARKS.knownGood]: options.hash },
  });
}
