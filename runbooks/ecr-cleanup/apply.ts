import { BatchDeleteImageCommand, type ECRClient } from "@aws-sdk/client-ecr";
import { errorMessage, errorName } from "../../lib/errors.js";
import { chunk, type Limiter } from "../../lib/pool.js";
import { retryThrottled } from "../../lib/retry.js";
import type { RepositoryPlan } from "./plan.js";

/** What became of one image the plan deletes. */
export interface DeleteOutcome {
  digest: string;
  status: "done" | "failed";
  reason?: string;
}

/** BatchDeleteImage takes at most 100 image ids per call. */
export const DELETE_BATCH = 100;

// Already gone (a duplicate run, or someone else) is what we wanted.
const ALREADY_GONE = new Set(["ImageNotFound"]);

/**
 * The delete calls, in two waves. ECR refuses to delete a manifest that an index it still holds lists, so
 * the calls holding indexes go first and no call holds both an index and a child. The plan orders
 * indexes, then other images, then children, so in calls of 100 that costs an extra call only when one
 * 100 would have held both.
 */
export function deleteWaves(plan: RepositoryPlan): string[][][] {
  const first: string[][] = [];
  const second: string[][] = [];
  for (const batch of chunk(plan.deletions, DELETE_BATCH)) {
    if (!batch.some((d) => d.isIndex)) {
      second.push(batch.map((d) => d.digest));
      continue;
    }
    first.push(batch.filter((d) => !d.isChild).map((d) => d.digest));
    const children = batch.filter((d) => d.isChild).map((d) => d.digest);
    if (children.length) second.push(children);
  }
  return [first, second].filter((wave) => wave.length > 0);
}

/**
 * Deletes a plan's images by digest (deleting by tag would only untag), in calls of at most 100, in the
 * waves of {@link deleteWaves}. Each image gets its own outcome; a failed call fails only its images.
 */
export async function deleteImages(
  ecr: ECRClient,
  plan: RepositoryPlan,
  options: { limit: Limiter; signal?: AbortSignal | undefined },
): Promise<DeleteOutcome[]> {
  const outcomes: DeleteOutcome[] = [];
  for (const wave of deleteWaves(plan)) {
    const results = await Promise.all(wave.map((digests) => deleteBatch(ecr, plan, digests, options)));
    outcomes.push(...results.flat());
  }
  return outcomes;
}

async function deleteBatch(
  ecr: ECRClient,
  plan: RepositoryPlan,
  digests: string[],
  options: { limit: Limiter; signal?: AbortSignal | undefined },
): Promise<DeleteOutcome[]> {
  if (options.signal?.aborted) {
    return digests.map((digest) => ({ digest, status: "failed", reason: "not deleted: the run was stopped" }));
  }
  try {
    const result = await retryThrottled(
      () =>
        ecr.send(
          new BatchDeleteImageCommand({
            repositoryName: plan.repository,
            ...(plan.registryId ? { registryId: plan.registryId } : {}),
            imageIds: digests.map((imageDigest) => ({ imageDigest })),
          }),
        ),
      { limit: options.limit, signal: options.signal },
    );
    const failures = new Map((result.failures ?? []).map((f) => [f.imageId?.imageDigest, f]));
    return digests.map((digest): DeleteOutcome => {
      const failure = failures.get(digest);
      if (!failure || ALREADY_GONE.has(failure.failureCode ?? "")) return { digest, status: "done" };
      return { digest, status: "failed", reason: `${failure.failureCode ?? "failed"}: ${failure.failureReason ?? ""}` };
    });
  } catch (error) {
    const reason = `BatchDeleteImage failed: ${errorName(error)}: ${errorMessage(error)}`;
    return digests.map((digest) => ({ digest, status: "failed", reason }));
  }
}
