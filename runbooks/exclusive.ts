import { randomUUID } from "node:crypto";
import { errorMessage } from "../lib/errors.js";
import {
  type Claim,
  claimObject,
  isConditionFailure,
  isLive,
  readClaim,
  releaseClaim,
  renewClaim,
} from "../lib/s3-claim.js";
import type { ReportBuilder } from "./report.js";
import type { RunbookContext } from "./types.js";

/**
 * A run without a deadline (a plain process, however long its dump) holds a short lease and renews it
 * while it works: a process that dies leaves a claim that runs out within the lease, and a run that
 * outlasts any fixed lease keeps its claim.
 */
const PROCESS_LEASE = { leaseMs: 15 * 60_000, renewEveryMs: 5 * 60_000 };
/** Past the Lambda deadline: the function is gone by then, whatever happened to it. */
const LEASE_MARGIN_MS = 60_000;

/** What `work` gets: the claim it runs under, which it may hand to another run instead of releasing it. */
export interface HeldClaim {
  /** The holder id written in the claim (the placeholder `dry-run` in a dry run, which claims nothing). */
  holder: string;
  /** The claim object's key. */
  key: string;
  /**
   * Extends the lease to `leaseMs` from now (time for the next run to start and take it over). Call it
   * before starting that run; then {@link HeldClaim.keep}.
   */
  extend(leaseMs: number): Promise<void>;
  /** Do not release the claim at the end: another run, started with {@link HeldClaim.holder}, holds it now. */
  keep(): void;
}

/** Whether `work` ran, or why not (another run holds the claim; the `skipped` action is already reported). */
export type ExclusiveOutcome = { ran: true } | { ran: false; reason: string };

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
  /** Lease and renewal of a run without a deadline (tests shorten them). */
  processLease?: { leaseMs: number; renewEveryMs: number };
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
  work: (claim: HeldClaim) => Promise<void>,
): Promise<ExclusiveOutcome> {
  const s3 = ctx.clients.s3;
  const where = { s3, bucket: options.bucket, key: options.key };
  const now = ctx.now();
  const skip = (heldBy: Claim): ExclusiveOutcome => {
    const reason =
      `another run has been taking ${options.what} since ${heldBy.startedAt} (its claim s3://${options.bucket}/${options.key} ` +
      `holds until ${heldBy.expiresAt}; if that run is gone, delete the claim to go ahead now)`;
    report.add({ resource: options.resource, action: options.action, status: "skipped", reason });
    return { ran: false, reason };
  };
  // A dry run only reads the claim: it plans as this run would, and claims nothing.
  if (ctx.dryRun) {
    const current = await readClaim(s3, options.bucket, options.key);
    if (current?.claim && isLive(current.claim, now)) return skip(current.claim);
    await work({ holder: "dry-run", key: options.key, extend: async () => {}, keep: () => {} });
    return { ran: true };
  }
  // A run handed a claim (the backup function's Fargate task, `settings.handedClaim`) takes it as the
  // holder that handed it over, so it passes without a gap in which a duplicate could take it.
  const handedClaim = ctx.settings.handedClaim;
  const handed = handedClaim?.key === options.key ? handedClaim.holder : undefined;
  const holder = handed || randomUUID();
  const lease = options.processLease ?? PROCESS_LEASE;
  const leaseMs = ctx.deadline ? ctx.deadline.getTime() - now.getTime() + LEASE_MARGIN_MS : lease.leaseMs;
  const claimed = await claimObject({
    ...where,
    holder,
    // Lambda's request id: its retry of the same event after a crash takes this claim back.
    ...(ctx.runId ? { runId: ctx.runId } : {}),
    now,
    leaseMs,
    ...(options.kmsKeyId ? { kmsKeyId: options.kmsKeyId } : {}),
  });
  if (!claimed.claimed) return skip(claimed.heldBy);
  if (handed) ctx.logger.info("took over the claim handed to this run", { resource: options.resource, holder });
  if (claimed.takenOver) {
    ctx.logger.warn("took over a stale claim: its run ended without releasing it", {
      resource: options.resource,
      staleClaim: claimed.takenOver,
    });
  }
  let etag = claimed.etag;
  /**
   * A refused renewal (412/409/404) may be our own write retried by the SDK: the claim stays ours if it
   * still names us. Any other error (a timeout, a 503) keeps the ETag, and the next tick tries again.
   */
  const handleRenewalError = async (error: unknown): Promise<void> => {
    if (isConditionFailure(error)) {
      const current = await readClaim(s3, options.bucket, options.key).catch(() => undefined);
      etag = current?.claim?.holder === holder ? current.etag : undefined;
    }
    ctx.logger[etag ? "warn" : "error"](
      etag ? "could not renew the claim; trying again" : "lost the claim: another run may start the same work",
      { resource: options.resource, error: errorMessage(error) },
    );
  };
  /** The renewal on the wire, if any: the release waits for it, so it deletes the version that is there. */
  let renewing: Promise<void> | undefined;
  // A Lambda run cannot outlive its lease; a plain process renews it until the work is done.
  const renewal =
    ctx.deadline || !etag
      ? undefined
      : setInterval(() => {
          if (!etag || renewing) return;
          renewing = renewClaim({
            ...where,
            holder,
            ...(ctx.runId ? { runId: ctx.runId } : {}),
            now: ctx.now(),
            startedAt: now,
            leaseMs,
            etag,
          })
            .then(
              (renewed) => {
                etag = renewed.etag;
              },
              (error: unknown) => handleRenewalError(error),
            )
            .finally(() => {
              renewing = undefined;
            });
        }, lease.renewEveryMs);
  renewal?.unref();
  let kept = false;
  const held: HeldClaim = {
    holder,
    key: options.key,
    async extend(extendMs) {
      await renewing;
      if (!etag) throw new Error(`cannot extend the claim s3://${options.bucket}/${options.key}: it is no longer ours`);
      const renewed = await renewClaim({
        ...where,
        holder,
        ...(ctx.runId ? { runId: ctx.runId } : {}),
        now: ctx.now(),
        startedAt: now,
        leaseMs: extendMs,
        etag,
      });
      etag = renewed.etag;
    },
    keep() {
      kept = true;
    },
  };
  try {
    await work(held);
  } finally {
    clearInterval(renewal);
    await renewing;
    // A claim that cannot be released expires with its lease; the work itself is not affected. A kept
    // claim is the next run's now.
    if (!kept) {
      await releaseClaim({ ...where, holder, ...(etag ? { etag } : {}) }).catch((error: unknown) =>
        ctx.logger.warn("could not release the claim", { resource: options.resource, error: errorMessage(error) }),
      );
    }
  }
  return { ran: true };
}
