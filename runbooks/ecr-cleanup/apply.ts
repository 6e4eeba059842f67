import { BatchDeleteImageCommand, type ECRClient } from "@aws-sdk/client-ecr";
import { errorMessage, errorName } from "../../lib/errors.js";
import { chunk, type Limiter } from "../../lib/scaling/pool.js";
import { retryThrottled } from "../../lib/scaling/retry.js";
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
 * Deletes a plan's images by digest (deleting by tag would only untag), in calls of at most 100. Indexes
 * go in calls of their own before the rest: ECR refuses to delete a manifest that an index it still holds
 * lists. Each image gets its own outcome; a failed call fails only its images.
 */
export async function deleteImages(
  ecr: ECRClient,
  plan: RepositoryPlan,
  options: { limit: Limiter; signal?: AbortSignal | undefined },
): Promise<DeleteOutcome[]> {
  const phases = [plan.deletions.filter((d) => d.isIndex), plan.deletions.filter((d) => !d.isIndex)];
  const outcomes: DeleteOutcome[] = [];
  for (const phase of phases) {
    const results = await Promise.all(
      chunk(phase, DELETE_BATCH).map((batch) =>
        deleteBatch(
          ecr,
          plan,
          batch.map((d) => d.digest),
          options,
        ),
      ),
    );
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
