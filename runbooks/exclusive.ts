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

/** What the claim this run took is written with: where, by whom, from when, for how long. */
interface Taken {
  where: { s3: RunbookContext["clients"]["s3"]; bucket: string; key: string };
  holder: string;
  startedAt: Date;
  leaseMs: number;
  etag: string | undefined;
  resource: string;
}

/**
 * The claim while `work` runs: renewed every `renewEveryMs` by a plain process (a Lambda run cannot
 * outlive its lease), extendable for a hand-off, kept or released at the end.
 */
class LiveClaim implements HeldClaim {
  readonly holder: string;
  readonly key: string;
  kept = false;
  private etag: string | undefined;
  /** The renewal on the wire, if any: the release waits for it, so it deletes the version that is there. */
  private renewing: Promise<void> | undefined;
  private renewal: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: RunbookContext,
    private readonly taken: Taken,
  ) {
    this.holder = taken.holder;
    this.key = taken.where.key;
    this.etag = taken.etag;
  }

  private renew(leaseMs: number, etag: string) {
    const { where, holder, startedAt } = this.taken;
    const runId = this.ctx.runId ? { runId: this.ctx.runId } : {};
    return renewClaim({ ...where, holder, ...runId, now: this.ctx.now(), startedAt, leaseMs, etag });
  }

  /**
   * A refused renewal (412/409/404) may be our own write retried by the SDK: the claim stays ours if it
   * still names us. Any other error (a timeout, a 503) keeps the ETag, and the next tick tries again.
   */
  private async renewalFailed(error: unknown): Promise<void> {
    const { where } = this.taken;
    if (isConditionFailure(error)) {
      const current = await readClaim(where.s3, where.bucket, where.key).catch(() => undefined);
      this.etag = current?.claim?.holder === this.holder ? current.etag : undefined;
    }
    this.ctx.logger[this.etag ? "warn" : "error"](
      this.etag ? "could not renew the claim; trying again" : "lost the claim: another run may start the same work",
      { resource: this.taken.resource, error: errorMessage(error) },
    );
  }

  private tick(): void {
    const etag = this.etag;
    if (!etag || this.renewing) return;
    this.renewing = this.renew(this.taken.leaseMs, etag)
      .then(
        (renewed) => {
          this.etag = renewed.etag;
        },
        (error: unknown) => this.renewalFailed(error),
      )
      .finally(() => {
        this.renewing = undefined;
      });
  }

  /** A plain process renews its lease until the work is done; a Lambda run cannot outlive it. */
  startRenewing(everyMs: number): void {
    if (this.ctx.deadline || !this.etag) return;
    this.renewal = setInterval(() => this.tick(), everyMs);
    this.renewal.unref();
  }

  async extend(extendMs: number): Promise<void> {
    await this.renewing;
    const { bucket, key } = this.taken.where;
    if (!this.etag) throw new Error(`cannot extend the claim s3://${bucket}/${key}: it is no longer ours`);
    this.etag = (await this.renew(extendMs, this.etag)).etag;
  }

  keep(): void {
    this.kept = true;
  }

  /**
   * Stops renewing and releases the claim unless it was kept (it is the next run's now). A claim that
   * cannot be released expires with its lease; the work itself is not affected.
   */
  async end(): Promise<void> {
    clearInterval(this.renewal);
    await this.renewing;
    if (this.kept) return;
    const etag = this.etag ? { etag: this.etag } : {};
    await releaseClaim({ ...this.taken.where, holder: this.holder, ...etag }).catch((error: unknown) =>
      this.ctx.logger.warn("could not release the claim", {
        resource: this.taken.resource,
        error: errorMessage(error),
      }),
    );
  }
}

/** The `skipped` action of work another run holds the claim for; its reason. */
function skipHeld(report: ReportBuilder, options: ExclusiveOptions, heldBy: Claim): ExclusiveOutcome {
  const reason =
    `another run has been taking ${options.what} since ${heldBy.startedAt} (its claim s3://${options.bucket}/${options.key} ` +
    `holds until ${heldBy.expiresAt}; if that run is gone, delete the claim to go ahead now)`;
  report.add({ resource: options.resource, action: options.action, status: "skipped", reason });
  return { ran: false, reason };
}

/** Logs how the claim was taken: handed to this run, or taken over from a run that died. */
function logTaken(
  ctx: RunbookContext,
  options: ExclusiveOptions,
  taken: { handed: boolean; holder: string; takenOver?: unknown },
) {
  if (taken.handed)
    ctx.logger.info("took over the claim handed to this run", { resource: options.resource, holder: taken.holder });
  if (taken.takenOver) {
    ctx.logger.warn("took over a stale claim: its run ended without releasing it", {
      resource: options.resource,
      staleClaim: taken.takenOver,
    });
  }
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
  // A dry run only reads the claim: it plans as this run would, and claims nothing.
  if (ctx.dryRun) {
    const current = await readClaim(s3, options.bucket, options.key);
    if (current?.claim && isLive(current.claim, now)) return skipHeld(report, options, current.claim);
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
  if (!claimed.claimed) return skipHeld(report, options, claimed.heldBy);
  logTaken(ctx, options, { handed: Boolean(handed), holder, takenOver: claimed.takenOver });
  const live = new LiveClaim(ctx, {
    where,
    holder,
    startedAt: now,
    leaseMs,
    etag: claimed.etag,
    resource: options.resource,
  });
  live.startRenewing(lease.renewEveryMs);
  try {
    await work(live);
  } finally {
    await live.end();
  }
  return { ran: true };
}
