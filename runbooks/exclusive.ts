import { randomUUID } from "node:crypto";
import { errorMessage } from "../lib/errors.js";
import { type Claim, claimObject, readClaim, releaseClaim } from "../lib/s3-claim.js";
import type { ReportBuilder } from "./report.js";
import type { RunbookContext } from "./types.js";

/** How long a claim holds without release when the run has no deadline (a plain process). */
const PROCESS_LEASE_MS = 12 * 3600_000;
/** Past the Lambda deadline: the function is gone by then, whatever happened to it. */
const LEASE_MARGIN_MS = 60_000;

/** Options of {@link runExclusive}. */
export interface ExclusiveOptions {
  bucket: string;
  key: string;
  kmsKeyId?: string;
  /** For the `skipped` action: the resource and action the work would have reported. */
  resource: string;
  action: string;
  /** What the claim protects, for people: "this backup". */
  what: string;
}

/**
 * Runs `work` while this run holds the claim at `key` (see `lib/s3-claim.ts`), and releases it after,
 * whatever the outcome. When another run holds a live claim, `work` does not run: the report gets a
 * `skipped` action naming that run's start and the claim's expiry. A dry run only reads the claim.
 */
export async function runExclusive(
  ctx: RunbookContext,
  report: ReportBuilder,
  options: ExclusiveOptions,
  work: () => Promise<void>,
): Promise<void> {
  const s3 = ctx.clients.s3;
  const where = { s3, bucket: options.bucket, key: options.key };
  const now = ctx.now();
  const skip = (heldBy: Claim) =>
    report.add({
      resource: options.resource,
      action: options.action,
      status: "skipped",
      reason:
        `another run has been taking ${options.what} since ${heldBy.startedAt} (its claim s3://${options.bucket}/${options.key} ` +
        `holds until ${heldBy.expiresAt}; if that run is gone, delete the claim to go ahead now)`,
    });
  if (ctx.dryRun) {
    const current = await readClaim(s3, options.bucket, options.key);
    if (current?.claim && new Date(current.claim.expiresAt).getTime() > now.getTime()) skip(current.claim);
    else await work();
    return;
  }
  const holder = randomUUID();
  const claim = await claimObject({
    ...where,
    holder,
    now,
    leaseMs: ctx.deadline ? ctx.deadline.getTime() - now.getTime() + LEASE_MARGIN_MS : PROCESS_LEASE_MS,
    ...(options.kmsKeyId ? { kmsKeyId: options.kmsKeyId } : {}),
  });
  if (!claim.claimed) {
    skip(claim.heldBy);
    return;
  }
  if (claim.takenOver) {
    ctx.logger.warn("took over a stale claim: its run ended without releasing it", {
      resource: options.resource,
      staleClaim: claim.takenOver,
    });
  }
  try {
    await work();
  } finally {
    // A claim that cannot be released expires with its lease; the work itself is not affected.
    await releaseClaim({ ...where, holder }).catch((error: unknown) =>
      ctx.logger.warn("could not release the claim", { resource: options.resource, error: errorMessage(error) }),
    );
  }
}
