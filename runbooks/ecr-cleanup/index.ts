import { z } from "zod";
import { errorMessage } from "../../lib/errors.js";
import { arn, eksClusterArn, type KubernetesAccess, kubernetesAccessEntry } from "../../lib/iam.js";
import { createLimiter, type Limiter } from "../../lib/pool.js";
import { plural } from "../../lib/text.js";
import { type EcrRepository, type EcrSettings, ecrRepositories, type System } from "../../systems/schema.js";
import { wholeNumber } from "../inputs.js";
import { ReportBuilder } from "../report.js";
import type { Permission, Runbook, RunbookContext } from "../types.js";
import { deleteImages } from "./apply.js";
import { readClusterImages } from "./kube.js";
import {
  type CleanupPolicy,
  GB,
  type ImageReference,
  planRepository,
  type RepositoryPlan,
  type RepositoryState,
} from "./plan.js";
import { type InUse, readInUse, readRepository } from "./read.js";

/** Calls in flight at once: ECS's and ECR's read rates allow far more; 10 keeps a Lambda's sockets calm. */
export const DEFAULT_CONCURRENCY = 10;

const input = z.strictObject({
  /** Only this repository (it must be one of the system's). */
  repository: z.string().min(1).optional(),
  /** AWS calls in flight at once. */
  concurrency: wholeNumber(1, 50).default(DEFAULT_CONCURRENCY),
});

/**
 * The EKS access the cleanup needs on an EKS system's cluster (as data for the deployment), scoped to the
 * system's namespace: view only (it lists deployments and replicasets, and changes nothing in the cluster).
 */
function kubernetesAccess(system: System): KubernetesAccess[] {
  if (system.runtime.kind !== "eks" || !system.ecr) return [];
  return [
    kubernetesAccessEntry(system, {
      cluster: system.runtime.cluster,
      namespace: system.runtime.namespace,
      policy: "AmazonEKSViewPolicy",
      rules: [{ apiGroups: ["apps"], resources: ["deployments", "replicasets"], verbs: ["list"] }],
    }),
  ];
}

function policyOf(ecr: EcrSettings, region: string, now: Date): CleanupPolicy {
  return {
    now,
    region,
    maxAgeDays: ecr.maxAgeDays,
    protectedTags: ecr.protectedTags.map((p) => new RegExp(p)),
    pulledWithinDays: ecr.pulledWithinDays,
    priceGbMonthUsd: ecr.priceGbMonthUsd,
  };
}

/** `1.5 GB` (GB = 2^30 bytes, as ECR bills). */
function gigabytes(bytes: number): string {
  return `${(bytes / GB).toFixed(bytes >= GB ? 1 : 3)} GB`;
}

const usd = (value: number) => `$${value.toFixed(2)}`;

/**
 * Least privilege: ECR reads and deletes on the system's repositories only; on EKS, DescribeCluster on
 * the system's cluster (the namespace is read through its access entry).
 * What runs images is read account-wide, because any cluster, service or function in the account and
 * region may run them: ECS List* and DescribeTaskDefinition and Lambda ListFunctions support no resource
 * scoping, the rest are granted on every service, task and function ARN of the region.
 */
function permissions(system: System): Permission[] {
  if (!system.ecr) return [];
  const repositories = ecrRepositories(system.ecr).map((r) => arn(system, "ecr", `repository/${r.name}`));
  const ecrActions = ["ecr:DescribeImages", "ecr:BatchGetImage", "ecr:BatchDeleteImage"];
  const cluster =
    system.runtime.kind === "eks"
      ? [{ actions: ["eks:DescribeCluster"], resources: [eksClusterArn(system, system.runtime.cluster)] }]
      : [];
  return [
    { actions: ecrActions, resources: repositories },
    ...cluster,
    {
      actions: [
        "ecs:ListClusters",
        "ecs:ListServices",
        "ecs:ListTasks",
        "ecs:ListTaskDefinitions",
        "ecs:DescribeTaskDefinition",
        "lambda:ListFunctions",
      ],
      resources: ["*"],
    },
    {
      actions: ["ecs:DescribeServices", "ecs:ListTagsForResource"],
      resources: [arn(system, "ecs", "service/*/*")],
    },
    { actions: ["ecs:DescribeTasks"], resources: [arn(system, "ecs", "task/*/*")] },
    { actions: ["lambda:GetFunction"], resources: [arn(system, "lambda", "function:*")] },
  ];
}

function planNote(system: System): string | undefined {
  if (!system.ecr) return "skipped: no ECR repositories in the catalogue";
  return undefined;
}

/** What to report for one repository: per-image actions and the repository's figures. */
function reportRepository(
  report: ReportBuilder,
  plan: RepositoryPlan,
  outcomes: Outcomes | undefined,
  blocked: string | undefined,
) {
  for (const kept of plan.kept) {
    report.add({
      resource: `${plan.repository}@${kept.digest}`,
      action: "keep",
      status: "skipped",
      reason: kept.reasons.join("; "),
      ...(kept.tags.length ? { before: { tags: kept.tags } } : {}),
    });
  }
  for (const deletion of plan.deletions) {
    const resource = `${plan.repository}@${deletion.digest}`;
    const before = { tags: deletion.tags, sizeBytes: deletion.sizeBytes, pushedAt: deletion.pushedAt.toISOString() };
    const outcome = outcomes?.get(deletion.digest);
    if (blocked) {
      report.add({
        resource,
        action: "delete",
        status: "skipped",
        reason: `would delete (${deletion.reason}); not deleted: ${blocked}`,
        before,
      });
    } else if (!outcome) {
      report.add({
        resource,
        action: "delete",
        status: "would-do",
        reason: `would delete: ${deletion.reason}`,
        before,
      });
    } else if (outcome.status === "done") {
      report.add({ resource, action: "delete", status: "done", reason: `deleted: ${deletion.reason}`, before });
    } else {
      report.add({ resource, action: "delete", status: "failed", reason: outcome.reason ?? "failed", before });
    }
  }
}

type Outcomes = Map<string, { status: "done" | "failed"; reason?: string }>;
type InUseOutcome = { ok: true; value: InUse } | { ok: false; error: unknown };
type RepositoryRead =
  | { repository: EcrRepository; state: RepositoryState }
  | { repository: EcrRepository; error: unknown };

/** The repositories this run covers, or the finished report of a run that covers none. */
function scopeOf(ctx: RunbookContext, report: ReportBuilder, only: string | undefined) {
  const { system } = ctx;
  if (!system.ecr) {
    report.add({
      resource: system.id,
      action: "ecr-cleanup",
      status: "skipped",
      reason: "no ecr section in the catalogue",
    });
    return { finished: report.finish({ summary: `skipped: ${system.id} lists no ECR repositories` }) };
  }
  const all = ecrRepositories(system.ecr);
  const repositories = only ? all.filter((r) => r.name === only) : all;
  if (repositories.length > 0) return { ecr: system.ecr, repositories };
  report.add({
    resource: `${system.id}/${only}`,
    action: "ecr-cleanup",
    status: "failed",
    reason: `"${only}" is not an ECR repository of ${system.id}; known: ${all.map((r) => r.name).join(", ")}`,
  });
  return { finished: report.finish({ summary: `failed: unknown repository "${only}"; nothing read or deleted` }) };
}

/** Starts every read at once: ECR and the in-use reads run side by side, nothing in one waits for the other. */
function startReads(ctx: RunbookContext, ecr: EcrSettings, repositories: EcrRepository[], limit: Limiter) {
  const { system } = ctx;
  const options = {
    limit,
    signal: ctx.signal,
    onRetry: (info: { operation: string; attempt: number; delayMs: number }) =>
      ctx.logger.warn("throttled, retrying", { runbook: "ecr-cleanup", ...info }),
  };
  const { runtime } = system;
  const inUse = Promise.all([
    readInUse(ctx.clients, {
      ...options,
      region: system.account.region,
      keepRevisions: ecr.keepTaskDefinitionRevisions,
    }),
    // On EKS, also what the system's deployments run and their replicaset history may roll back to.
    runtime.kind === "eks"
      ? readClusterImages({
          eks: ctx.clients.eks,
          cluster: runtime.cluster,
          namespace: runtime.namespace,
          region: system.account.region,
          now: ctx.now(),
        })
      : undefined,
  ])
    .then(([account, cluster]): InUse => {
      if (!cluster) return account;
      return {
        references: [...account.references, ...cluster.references],
        counts: { ...account.counts, kubernetesDeployments: cluster.workloads },
      };
    })
    .then(
      (value): InUseOutcome => ({ ok: true, value }),
      (error: unknown): InUseOutcome => ({ ok: false, error }),
    );
  const reads = repositories.map((repository) =>
    readRepository(ctx.clients.ecr, repository, { ...options, registryId: system.account.accountId }).then(
      (state): RepositoryRead => ({ repository, state }),
      (error: unknown): RepositoryRead => ({ repository, error }),
    ),
  );
  return { inUse, reads };
}

/** Plans one repository, deletes what the plan says unless blocked or dry, reports it, and adds to the totals. */
async function cleanRepository(
  ctx: RunbookContext,
  run: { report: ReportBuilder; totals: Totals; references: ImageReference[]; policy: CleanupPolicy; limit: Limiter },
  read: { repository: EcrRepository; state: RepositoryState },
  regionBlock: string | undefined,
): Promise<Record<string, unknown>> {
  const { totals, policy } = run;
  const plan = planRepository(read.state, run.references, policy);
  const blocked = regionBlock ?? plan.blocked ?? (ctx.signal?.aborted ? "the run was stopped" : undefined);
  let outcomes: Outcomes | undefined;
  if (!blocked && !ctx.dryRun && plan.deletions.length > 0) {
    const results = await deleteImages(ctx.clients.ecr, plan, { limit: run.limit, signal: ctx.signal });
    outcomes = new Map(results.map((r) => [r.digest, r]));
  }
  reportRepository(run.report, plan, outcomes, blocked);
  const failedIds = new Set([...(outcomes ?? [])].filter(([, o]) => o.status === "failed").map(([digest]) => digest));
  const failedBytes = plan.deletions
    .filter((d) => !d.isIndex && failedIds.has(d.digest))
    .reduce((sum, d) => sum + d.sizeBytes, 0);
  const gone = blocked ? 0 : plan.deletions.length - failedIds.size;
  const bytes = blocked ? 0 : plan.bytesReclaimed - failedBytes;
  const monthly = (bytes / GB) * policy.priceGbMonthUsd;
  totals.kept += plan.kept.length;
  totals.deleted += gone;
  totals.failed += failedIds.size;
  totals.bytes += bytes;
  totals.usd += monthly;
  if (blocked) {
    totals.held += plan.deletions.length;
    totals.heldBytes += plan.bytesReclaimed;
    totals.heldUsd += plan.monthlyUsdSaved;
  }
  return {
    repository: plan.repository,
    kept: plan.kept.length,
    [ctx.dryRun ? "wouldDelete" : "deleted"]: gone,
    failed: failedIds.size,
    bytesReclaimed: bytes,
    monthlyUsdSaved: Math.round(monthly * 100) / 100,
    ...(blocked ? { blocked, plannedDeletions: plan.deletions.length, plannedBytes: plan.bytesReclaimed } : {}),
    keptBecause: keptBecause(plan),
  };
}

/** What is in use, or why nothing may be deleted in the region (reported as a failed read). */
function inUseOrBlock(ctx: RunbookContext, report: ReportBuilder, used: InUseOutcome) {
  const { system } = ctx;
  const region = system.account.region;
  let regionBlock: string | undefined;
  let references: ImageReference[] = [];
  if (used.ok) {
    references = used.value.references;
    report.details.inUse = { ...used.value.counts, references: references.length };
  } else {
    regionBlock = `nothing is deleted in ${region} while what is in use is unknown (${errorMessage(used.error)})`;
    report.add({ resource: `${system.id}/${region}`, action: "read-in-use", status: "failed", reason: regionBlock });
  }
  return { references, regionBlock };
}

async function run(ctx: RunbookContext, options: z.output<typeof input>) {
  const report = new ReportBuilder(ctx, "ecr-cleanup");
  const scope = scopeOf(ctx, report, options.repository);
  if ("finished" in scope) return scope.finished;
  const limit = createLimiter(options.concurrency);
  const { inUse, reads } = startReads(ctx, scope.ecr, scope.repositories, limit);
  const { references, regionBlock } = inUseOrBlock(ctx, report, await inUse);
  const policy = policyOf(scope.ecr, ctx.system.account.region, ctx.now());
  const totals: Totals = { kept: 0, deleted: 0, failed: 0, bytes: 0, usd: 0, held: 0, heldBytes: 0, heldUsd: 0 };
  const summaries = await Promise.all(
    reads.map(async (pending) => {
      const read = await pending;
      if ("state" in read)
        return cleanRepository(ctx, { report, totals, references, policy, limit }, read, regionBlock);
      const reason = `${errorMessage(read.error)}; nothing deleted in this repository`;
      report.add({ resource: read.repository.name, action: "read-images", status: "failed", reason });
      return { repository: read.repository.name, failed: errorMessage(read.error) };
    }),
  );
  if (ctx.signal?.aborted) report.markAborted("stopped before the deadline: no further delete call was started");
  report.details.repositories = summaries;
  report.metric("imagesKept", totals.kept);
  report.metric(ctx.dryRun ? "imagesWouldDelete" : "imagesDeleted", totals.deleted);
  report.metric("imagesFailed", totals.failed);
  report.metric("bytesReclaimed", totals.bytes);
  report.metric("monthlyCostSavedUsd", Math.round(totals.usd * 100) / 100);
  if (totals.held > 0) {
    report.metric("imagesHeld", totals.held);
    report.metric("bytesHeld", totals.heldBytes);
  }
  return report.finish({ summary: summarize(ctx, totals, regionBlock) });
}

/** Counts of kept images by rule, e.g. `{ "in-use": 12, newest: 10 }` (an image kept by two rules counts in both). */
function keptBecause(plan: RepositoryPlan): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kept of plan.kept) for (const rule of kept.rules) counts[rule] = (counts[rule] ?? 0) + 1;
  return counts;
}

/** Run totals; `held` are deletions the plan made but a block (EKS, unreadable in-use) kept from happening. */
interface Totals {
  kept: number;
  deleted: number;
  failed: number;
  bytes: number;
  usd: number;
  held: number;
  heldBytes: number;
  heldUsd: number;
}

function summarize(ctx: RunbookContext, totals: Totals, regionBlock: string | undefined): string {
  const verb = ctx.dryRun ? "would delete" : "deleted";
  const parts = regionBlock
    ? [
        `nothing deleted: ${regionBlock}`,
        `the plan: ${plural(totals.held, "image")} to delete, ${gigabytes(totals.heldBytes)} (${usd(totals.heldUsd)}/month); kept ${totals.kept}`,
      ]
    : [
        `${verb} ${plural(totals.deleted, "image")}, ${gigabytes(totals.bytes)} (${usd(totals.usd)}/month saved); kept ${totals.kept}`,
      ];
  if (!regionBlock && totals.held > 0) parts.push(`${totals.held} held back (see the repositories)`);
  if (totals.failed > 0) parts.push(`${totals.failed} failed`);
  return parts.join("; ");
}

/**
 * ECR cleanup: deletes a system's old images except any that a task, a service deployment, a rollback
 * target (the last revisions of every task-definition family, a service's last known-good) or a Lambda
 * function uses, the newest of each repository, protected tags, recent pulls, and the children and
 * attachments of all of those. See `ecr-cleanup.md`.
 */
export const ecrCleanupRunbook: Runbook<typeof input> = {
  name: "ecr-cleanup",
  description:
    "Delete old ECR images no task, deployment, rollback target or Lambda uses; keeps newest, protected tags, index children and signatures",
  destructive: true,
  input,
  timeoutSeconds: 900,
  permissions,
  kubernetesAccess,
  planNote,
  run,
};
