import { Metrics } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import type { z } from "zod";
import { type AuditSink, createS3AuditSink } from "../lib/audit.js";
import { clientsForSystem, createAwsClients } from "../lib/aws/clients.js";
import { ValidationError } from "../lib/errors.js";
import { createLogger, type Logger } from "../lib/logger.js";
import { METRICS_NAMESPACE, publishReportMetrics } from "../lib/metrics.js";
import { notifierFromEnv } from "../lib/notify/settings.js";
import type { Notifier } from "../lib/notify.js";
import { caBundlePath } from "../lib/postgres/tls.js";
import { parseSettings, type Settings } from "../lib/settings.js";
import { runbooks } from "../runbooks/index.js";
import { executeRun, type RunnerDeps, type RunRequest } from "../runbooks/runner.js";
import type { AnyRunbook, Report } from "../runbooks/types.js";
import { builtinFleet, type Fleet } from "../systems/index.js";

/**
 * What a deployed function may run: its own runbook for its own systems. Its IAM role is granted for
 * exactly these, so an event naming anything else is refused before it runs, whoever sent it.
 */
export interface FunctionPin {
  runbook: string;
  systems: readonly string[];
}

/** Options of {@link createRuntime}. */
export interface RuntimeOptions {
  /**
   * Refuse to start without `OPS_RUNBOOK` and `OPS_SYSTEMS`, so that a function deployed without its pin
   * cannot run every runbook. Default: true inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` is set there).
   */
  requirePin?: boolean;
}

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
  /** The environment, parsed once by the one settings schema (`lib/settings.ts`). */
  config: Settings;
  audit?: AuditSink;
  /** The runbook and systems this function is deployed for; absent only outside a deployment (tests). */
  pin?: FunctionPin;
}

function invalidEnvironment(path: string, message: string): ValidationError {
  return new ValidationError("invalid function environment", [{ path, message }]);
}

/** The pin from the environment, checked against the registry and the fleet at cold start. */
function pinFrom(
  config: Settings,
  registry: readonly AnyRunbook[],
  fleet: Fleet,
  options: RuntimeOptions,
): FunctionPin | undefined {
  const { runbook, systems } = config.pin;
  if (runbook === undefined && systems === undefined) {
    if (options.requirePin) throw invalidEnvironment("OPS_RUNBOOK", "required: the runbook this function runs");
    return undefined;
  }
  if (runbook === undefined) throw invalidEnvironment("OPS_RUNBOOK", "required with OPS_SYSTEMS");
  if (!registry.some((r) => r.name === runbook)) {
    throw invalidEnvironment(
      "OPS_RUNBOOK",
      `unknown runbook "${runbook}"; known: ${registry.map((r) => r.name).join(", ")}`,
    );
  }
  if (!systems?.length) throw invalidEnvironment("OPS_SYSTEMS", "required: the systems this function serves");
  const unknown = systems.filter((id) => !fleet.systems.some((s) => s.id === id));
  if (unknown.length) {
    throw invalidEnvironment(
      "OPS_SYSTEMS",
      `unknown systems ${unknown.join(", ")}; known: ${fleet.systems.map((s) => s.id).join(", ")}`,
    );
  }
  return { runbook, systems };
}

/** The settings, or the error a function's cold start reports ("invalid function environment"). */
function functionSettings(env: Readonly<Record<string, string | undefined>>): Settings {
  try {
    return parseSettings(env);
  } catch (error) {
    if (error instanceof ValidationError) {
      throw new ValidationError("invalid function environment", error.issues, { cause: error });
    }
    throw error;
  }
}

/** Builds the runtime; an invalid catalogue or environment throws here, at cold start. */
export function createRuntime(
  overrides: Partial<Runtime> = {},
  env: Record<string, string | undefined> = {},
  options: RuntimeOptions = {},
): Runtime {
  const config = functionSettings(env);
  // A CA bundle path that cannot be read fails here, not at the first backup in the night.
  caBundlePath(env);
  const logger = overrides.logger ?? createLogger();
  const fleet = overrides.fleet ?? builtinFleet();
  const registry = overrides.registry ?? runbooks;
  const requirePin = options.requirePin ?? Boolean(env.AWS_LAMBDA_FUNCTION_NAME);
  const pin = overrides.pin ?? pinFrom(config, registry, fleet, { requirePin });
  return {
    fleet,
    registry,
    ...(pin ? { pin } : {}),
    logger,
    metrics: overrides.metrics ?? new Metrics({ namespace: METRICS_NAMESPACE, serviceName: "ops-autopilot" }),
    // Every report as a JSON line on stdout, and routed by severity (Slack, SMS, email, paging).
    notify: overrides.notify ?? notifierFromEnv(env, { logger, systems: fleet.systems }),
    now: overrides.now ?? (() => new Date()),
    clientsFor:
      overrides.clientsFor ?? ((system) => clientsForSystem(system, { s3ForcePathStyle: config.s3ForcePathStyle })),
    env: overrides.env ?? env,
    config,
    ...(overrides.audit
      ? { audit: overrides.audit }
      : config.audit
        ? {
            audit: createS3AuditSink({
              s3: createAwsClients({ region: config.audit.region ?? config.region ?? "us-east-1" }).s3,
              bucket: config.audit.bucket,
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
  assertPinned(runtime, request);
  const budget = Math.max(0, context.getRemainingTimeInMillis() - runtime.config.deadlineMarginMs);
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
        dryRun: request.dryRun || runtime.config.dryRun,
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
 * Refuses a request for another runbook or another system than the function is deployed for: logs
 * "rejected event" with the reason and throws. Nothing runs.
 */
export function assertPinned(
  runtime: Pick<Runtime, "pin" | "logger">,
  request: Pick<RunRequest, "runbook" | "system">,
) {
  const { pin } = runtime;
  if (!pin) return;
  let reason: string | undefined;
  if (request.runbook !== pin.runbook) {
    reason = `this function runs runbook "${pin.runbook}" only; the event names runbook "${request.runbook}"`;
  } else if (!pin.systems.includes(request.system)) {
    reason = `this function serves ${pin.systems.join(", ")} only; the event names system "${request.system}"`;
  }
  if (!reason) return;
  const error = new ValidationError(`rejected event: ${reason}`);
  runtime.logger.error("rejected event", { reason, runbook: request.runbook, system: request.system, pin });
  throw error;
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
