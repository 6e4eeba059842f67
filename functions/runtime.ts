import { Metrics } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import { z } from "zod";
import { type AuditSink, createS3AuditSink } from "../lib/audit.js";
import { clientsForSystem, createAwsClients } from "../lib/aws/clients.js";
import { builtinFleet } from "../lib/catalogue.js";
import { ValidationError } from "../lib/errors.js";
import type { Fleet } from "../lib/fleet.js";
import { createLogger, type Logger } from "../lib/logger.js";
import { METRICS_NAMESPACE, publishReportMetrics } from "../lib/metrics.js";
import { notifierFromEnv } from "../lib/notify/settings.js";
import type { Notifier } from "../lib/notify.js";
import { executeRun, type RunnerDeps, type RunRequest } from "../lib/runner.js";
import { runbooks } from "../runbooks/index.js";
import { booleanish } from "../runbooks/inputs.js";
import type { AnyRunbook, Report } from "../runbooks/types.js";

/** Environment of the Lambda functions, validated at cold start. */
const envSchema = z.object({
  /** Global kill switch: every run becomes a dry run. */
  OPS_DRY_RUN: booleanish.default(false),
  /** Stop this long before the Lambda deadline so the report still goes out. */
  OPS_DEADLINE_MARGIN_MS: z.coerce.number().int().min(1000).default(30_000),
  OPS_S3_FORCE_PATH_STYLE: booleanish.default(false),
  /** Bucket for the audit log (JSON lines per run); none: the structured log only. */
  OPS_AUDIT_BUCKET: z.string().min(3).optional(),
  OPS_AUDIT_REGION: z.string().optional(),
});

/** What every handler shares, built once per cold start. */
export interface Runtime {
  fleet: Fleet;
  registry: readonly AnyRunbook[];
  logger: Logger;
  metrics: Metrics;
  notify: Notifier;
  now: () => Date;
  clientsFor: RunnerDeps["clientsFor"];
  env: Readonly<Record<string, string | undefined>>;
  config: z.output<typeof envSchema>;
  audit?: AuditSink;
}

/** Builds the runtime; an invalid catalogue or environment throws here, at cold start. */
export function createRuntime(overrides: Partial<Runtime> = {}, env: Record<string, string | undefined> = {}): Runtime {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ValidationError(
      "invalid function environment",
      parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
    );
  }
  const config = parsed.data;
  const logger = overrides.logger ?? createLogger();
  const fleet = overrides.fleet ?? builtinFleet();
  return {
    fleet,
    registry: overrides.registry ?? runbooks,
    logger,
    metrics: overrides.metrics ?? new Metrics({ namespace: METRICS_NAMESPACE, serviceName: "ops-autopilot" }),
    // Every report as a JSON line on stdout, and routed by severity (Slack, SMS, email, paging).
    notify: overrides.notify ?? notifierFromEnv(env, { logger, systems: fleet.systems }),
    now: overrides.now ?? (() => new Date()),
    clientsFor:
      overrides.clientsFor ??
      ((system) => clientsForSystem(system, { s3ForcePathStyle: config.OPS_S3_FORCE_PATH_STYLE })),
    env: overrides.env ?? env,
    config,
    ...(overrides.audit
      ? { audit: overrides.audit }
      : config.OPS_AUDIT_BUCKET
        ? {
            audit: createS3AuditSink({
              s3: createAwsClients({ region: config.OPS_AUDIT_REGION ?? env.AWS_REGION ?? "us-east-1" }).s3,
              bucket: config.OPS_AUDIT_BUCKET,
            }),
          }
        : {}),
  };
}

/**
 * Runs a validated request inside a Lambda invocation: the deadline (remaining time less a margin)
 * becomes the runbook's `deadline` and an abort signal, so a long run stops cleanly and reports
 * `partial` instead of being killed mid-action.
 */
export async function runInLambda(
  runtime: Runtime,
  request: RunRequest,
  context: Pick<Context, "getRemainingTimeInMillis"> & Partial<Pick<Context, "awsRequestId">>,
): Promise<Report> {
  const budget = Math.max(0, context.getRemainingTimeInMillis() - runtime.config.OPS_DEADLINE_MARGIN_MS);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error("Lambda deadline approaching")), budget);
  try {
    const report = await executeRun(
      {
        fleet: runtime.fleet,
        registry: runtime.registry,
        logger: runtime.logger,
        now: runtime.now,
        notify: runtime.notify,
        clientsFor: runtime.clientsFor,
        env: runtime.env,
        signal: controller.signal,
        deadline: new Date(runtime.now().getTime() + budget),
        ...(runtime.audit ? { audit: runtime.audit } : {}),
      },
      {
        ...request,
        dryRun: request.dryRun || runtime.config.OPS_DRY_RUN,
        ...(context.awsRequestId ? { runId: context.awsRequestId } : {}),
      },
    );
    publishReportMetrics(runtime.metrics, report);
    return report;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Validates an event against a schema; on failure logs the reason ("rejected <kind> event") and throws
 * an error that names each bad field. Nothing runs on failure.
 */
export function parseEvent<S extends z.ZodType>(
  runtime: Pick<Runtime, "logger">,
  schema: S,
  event: unknown,
  kind: string,
): z.output<S> {
  const result = schema.safeParse(event);
  if (result.success) return result.data;
  const error = new ValidationError(
    `invalid ${kind} event`,
    result.error.issues.map((i) => ({ path: i.path.join(".") || "(event)", message: i.message })),
  );
  runtime.logger.error(`rejected ${kind} event`, { error });
  throw error;
}
