import type { z } from "zod";
import type { AwsClients } from "../lib/aws/clients.js";
import type { KubernetesAccess, Permission } from "../lib/iam.js";
import type { Logger } from "../lib/logger.js";
import type { Notifier } from "../lib/notify.js";
import type { PostgresPort } from "../lib/postgres/port.js";
import type { PgToolsPort } from "../lib/postgres/tools.js";
import type { Report } from "../lib/report.js";
import type { Settings } from "../lib/settings.js";
import type { TempDirPort } from "../lib/tempdir.js";
import type { System } from "../systems/schema.js";

export type { Permission, PermissionCondition } from "../lib/iam.js";
export type { Action, ActionStatus, MetricPoint, Report, ReportStatus } from "../lib/report.js";

/**
 * Everything a runbook may touch: built by the runner from what the edge (a Lambda handler, the CLI)
 * passes in, replaced piece by piece in tests. The world — AWS, PostgreSQL and its client programs, the
 * disk, the clock, the settings — is reached only through these ports.
 */
export interface RunbookContext {
  system: System;
  clients: AwsClients;
  logger: Logger;
  /** The clock: runbooks never call `Date.now()`. */
  now: () => Date;
  /** Plan and report, change nothing. */
  dryRun: boolean;
  /**
   * Waits (a runbook that follows something over minutes, e.g. a rollback until steady). Injected so a
   * simulated clock can advance instead of time passing; absent: a real timer. Resolves early on abort.
   */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  notify: Notifier;
  /** Aborted shortly before the Lambda deadline (or by a first Ctrl-C): stop between resources, report `partial`. */
  signal?: AbortSignal;
  /**
   * Aborted when the step in flight must stop too (a second Ctrl-C, SIGTERM). Absent — in Lambda, where the
   * deadline leaves no step time to finish — `signal` stops both: use {@link stepSignal}.
   */
  cancel?: AbortSignal;
  /** When the run must be finished (Lambda deadline less a margin); absent for a plain process. */
  deadline?: Date;
  /** Progress for long runbooks (a TTY bar in the CLI; a no-op elsewhere). */
  progress?: (message: string, fraction?: number) => void;
  /** The process settings, parsed once at the edge by one schema (`lib/settings.ts`). */
  settings: Settings;
  /** PostgreSQL: connections, server facts, snapshots, scratch databases. */
  postgres: PostgresPort;
  /** pg_dump / pg_restore / psql: found, chosen for a server, started with libpq's environment. */
  pgTools: PgToolsPort;
  /** Scratch directories (a download-mode restore, a directory-format dump). */
  tempDir: TempDirPort;
  /**
   * The invocation's id when the edge has one (Lambda's request id). Lambda retries a failed event with
   * the same id, so a retry recognises the claims its crashed first attempt left (`runbooks/exclusive.ts`).
   */
  runId?: string;
}

/** The signal that stops the work in flight (a dump, a restore): `cancel` when the edge gives one, else `signal`. */
export function stepSignal(ctx: Pick<RunbookContext, "signal" | "cancel">): AbortSignal | undefined {
  return ctx.cancel ?? ctx.signal;
}

/** One operation. Pure over its context: no env, no clients of its own, no wall clock. */
export interface Runbook<Schema extends z.ZodType = z.ZodType> {
  name: string;
  /** One line, shown by `ops runbooks`. */
  description: string;
  /** True when it can delete or reduce something (scale down, prune, clean up). */
  destructive: boolean;
  /** Validates `input` (from an event, a Slack command or `key=value` CLI arguments). */
  input: Schema;
  /**
   * IAM permissions this runbook needs for this system, no wider. The deployment plan calls it with the
   * system's account filled in (`account.accountId`: the catalogue's, else the deploying account's).
   */
  permissions(system: System): Permission[];
  /**
   * Systems this runbook's functions serve besides those with a schedule for it (a runbook started by a
   * person, or by an event rule, has no schedule). Absent: only scheduled systems. Never "every system".
   */
  serves?(system: System): boolean;
  /**
   * Kubernetes access this runbook needs on the system's EKS cluster (an access entry for the function's
   * role, namespace-scoped), as data for the deployment; absent or empty when it needs none.
   */
  kubernetesAccess?(system: System): KubernetesAccess[];
  /** Longest run the runbook expects, to size the Lambda timeout (seconds). */
  timeoutSeconds?: number;
  /**
   * Lambda memory (MB), which also sets the function's CPU: 1,769 MB is one vCPU. Default 1024, enough
   * for API calls; runbooks that run pg_dump or pg_restore beside Node need more.
   */
  memoryMB?: number;
  /**
   * EventBridge rules that trigger this runbook (besides schedules and workers): `sst.config.ts` deploys
   * each as a rule invoking `handler` with the runbook's permissions.
   */
  eventRules?: { name: string; handler: string; pattern: Record<string, unknown> }[];
  /** What `ops plan` should say about a scheduled run for this system, when it will not run normally. */
  planNote?(system: System, input: Record<string, unknown>): string | undefined;
  /**
   * Checks the parsed input against the system before anything runs (e.g. `database=` names one of its
   * databases) and throws a `ValidationError` when it does not: the CLI exits 2, a handler rejects the
   * event, and nothing is read or changed.
   */
  validate?(system: System, input: z.output<Schema>): void;
  run(ctx: RunbookContext, input: z.output<Schema>): Promise<Report>;
}

/** A runbook of any input type, as the registry holds it. */
// biome-ignore lint/suspicious/noExplicitAny: the registry is heterogeneous by design
export type AnyRunbook = Runbook<any>;
