import type { z } from "zod";
import type { AwsClients } from "../lib/aws/clients.js";
import type { Logger } from "../lib/logger.js";
import type { Notifier } from "../lib/notify.js";
import type { KubernetesAccess } from "../lib/scaling/scope.js";
import type { System } from "../systems/schema.js";

/** Everything a runbook may touch; built by `lib/context.ts`, replaced piece by piece in tests. */
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
  /**
   * A directory with local disk the run may use (a directory-format dump or restore); the edge passes its
   * temp dir. Absent: the run has no local disk to count on, and a directory dump or restore is refused.
   */
  tempDir?: string;
  /** Environment the edge chose to pass on (e.g. pg_dump paths); runbooks never read `process.env`. */
  env: Readonly<Record<string, string | undefined>>;
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

/** Outcome of one action on one resource. */
export type ActionStatus = "done" | "would-do" | "skipped" | "failed";

/** One thing a runbook did, would do, or declined to do. */
export interface Action {
  resource: string;
  action: string;
  status: ActionStatus;
  reason?: string;
  before?: unknown;
  after?: unknown;
}

/** Overall outcome of a run. */
export type ReportStatus = "succeeded" | "partial" | "failed" | "skipped";

/** What a run did, for people (summary), machines (metrics) and the audit log (actions). */
export interface Report {
  runbook: string;
  system: string;
  dryRun: boolean;
  status: ReportStatus;
  startedAt: string;
  finishedAt: string;
  actions: Action[];
  metrics: Record<string, number>;
  summary: string;
  /** Extra structured output a runbook wants to keep (e.g. a drill's verdicts). */
  details?: Record<string, unknown>;
  /** Metrics with dimensions (e.g. backup age per database), published as CloudWatch EMF by the handlers. */
  series?: MetricPoint[];
}

/** One dimensioned metric value. */
export interface MetricPoint {
  name: string;
  unit: "Seconds" | "Milliseconds" | "Bytes" | "Count" | "Percent" | "None";
  value: number;
  dimensions: Record<string, string>;
}

/**
 * One IAM condition of a statement, as SST's function permissions take it (`{test, variable, values}`)
 * and as a policy document writes it (`"Condition": {test: {variable: values}}`).
 */
export interface PermissionCondition {
  /** The operator: `StringEquals`, `StringLike`, `Bool`, `Null`, ... */
  test: string;
  /** The condition key: `kms:ViaService`, `s3:prefix`, `sts:ExternalId`, ... */
  variable: string;
  values: string[];
}

/** An IAM statement a runbook needs; the deployment plan grants exactly the union of these. */
export interface Permission {
  actions: string[];
  resources: string[];
  /** All must hold for the statement to allow anything (IAM ANDs the conditions of a statement). */
  conditions?: PermissionCondition[];
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
