import type { z } from "zod";
import type { AuditSink } from "../lib/audit.js";
import type { AwsClients } from "../lib/aws/clients.js";
import { errorMessage, UnknownNameError, ValidationError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import type { Notifier } from "../lib/notify.js";
import { createPorts, type Ports } from "../lib/ports.js";
import { databaseOverride } from "../lib/postgres/connection.js";
import { redactValue } from "../lib/redact.js";
import { type Fleet, findSystem } from "../systems/index.js";
import type { System } from "../systems/schema.js";
import { ReportBuilder } from "./report.js";
import type { AnyRunbook, Report, RunbookContext } from "./types.js";

/** What the edges (CLI, Lambda handlers) ask the runner to do. */
export interface RunRequest {
  runbook: string;
  system: string;
  input: unknown;
  dryRun: boolean;
  /** Who asked (a Slack user, a schedule id, `cli`): goes into the log. */
  requestedBy?: string;
  /** This invocation's id (Lambda's request id, the same on Lambda's own retries of the event). */
  runId?: string;
}

/** The pieces the runner assembles a context from. */
export interface RunnerDeps {
  fleet: Fleet;
  registry: readonly AnyRunbook[];
  logger: Logger;
  now: () => Date;
  notify: Notifier;
  clientsFor: (system: System) => AwsClients;
  env?: Readonly<Record<string, string | undefined>>;
  signal?: AbortSignal;
  /** Aborted when the step in flight must stop too; absent: `signal` stops both. */
  cancel?: AbortSignal;
  deadline?: Date;
  progress?: RunbookContext["progress"];
  /** Durable record of every action (S3 JSON lines); the structured log always has them too. */
  audit?: AuditSink;
  /** Replacements for the ports built from `env` (a test's fake PostgreSQL). */
  ports?: Partial<Ports>;
}

/** The runbook with this name, or an error that lists the registry. */
export function findRunbook(registry: readonly AnyRunbook[], name: string): AnyRunbook {
  const runbook = registry.find((r) => r.name === name);
  if (!runbook)
    throw new UnknownNameError(
      "runbook",
      name,
      registry.map((r) => r.name),
    );
  return runbook;
}

/** Validates a runbook's input; the error names each bad key and what it accepts. */
export function parseRunbookInput<S extends z.ZodType>(
  runbook: { name: string; input: S },
  input: unknown,
): z.output<S> {
  const result = runbook.input.safeParse(input ?? {}, { reportInput: true });
  if (result.success) return result.data;
  const allowed = inputKeys(runbook.input);
  throw new ValidationError(
    `invalid input for runbook "${runbook.name}"`,
    result.error.issues.map((issue) => ({
      path: issue.path.join(".") || "(input)",
      message:
        issue.code === "unrecognized_keys"
          ? `${issue.message}; allowed: ${allowed.join(", ") || "(none)"}`
          : `${issue.message}${"input" in issue && issue.input !== undefined ? ` (got ${JSON.stringify(issue.input)})` : ""}`,
    })),
  );
}

/** The keys an object input schema accepts (through refinements and pipes), for error messages. */
function inputKeys(schema: z.ZodType): string[] {
  let current: unknown = schema;
  for (let depth = 0; depth < 5 && current && typeof current === "object"; depth++) {
    const shape = (current as { shape?: Record<string, unknown> }).shape;
    if (shape) return Object.keys(shape);
    const def = (current as { def?: { in?: unknown; innerType?: unknown; schema?: unknown } }).def;
    current = def?.in ?? def?.innerType ?? def?.schema;
  }
  return [];
}

/** Resolves and validates a request; throws before anything runs when it is bad. */
export function resolveRequest(deps: Pick<RunnerDeps, "fleet" | "registry">, request: RunRequest) {
  const runbook = findRunbook(deps.registry, request.runbook);
  const system = findSystem(deps.fleet, request.system);
  const input = parseRunbookInput(runbook, request.input);
  runbook.validate?.(system, input);
  return { runbook, system, input };
}

/**
 * Runs one runbook for one system: resolve (bad input throws, nothing runs), build the context, run,
 * turn an unexpected throw into a `failed` report (a crash is still reported), redact it, then audit,
 * notify and return that redacted copy.
 */
export async function executeRun(deps: RunnerDeps, request: RunRequest): Promise<Report> {
  const { runbook, system, input } = resolveRequest(deps, request);
  // A database override that names no database, or another system's, is bad input: nothing runs.
  databaseOverride(deps.env ?? {}, system);
  const logger = deps.logger;
  logger.appendKeys({ runbook: runbook.name, system: system.id, dryRun: request.dryRun });
  const ctx = buildContext(deps, request, system);
  logger.info("run started", { requestedBy: request.requestedBy ?? "unknown" });
  // The one redaction of a report: what the audit log, the notifiers and the caller see is this copy.
  const report = redactValue(await runOrReportCrash(ctx, runbook, input));
  logger.info("run finished", { status: report.status, summary: report.summary, metrics: report.metrics });
  await auditAndNotify(deps, request, report);
  return report;
}

/** The context one run sees: the runner's dependencies narrowed to this system and request. */
function buildContext(deps: RunnerDeps, request: RunRequest, system: System): RunbookContext {
  const logger = deps.logger;
  const clients = deps.clientsFor(system);
  return {
    system,
    clients,
    ...createPorts({ env: deps.env ?? {}, secrets: clients.secrets, ...(deps.ports ? { overrides: deps.ports } : {}) }),
    logger,
    now: deps.now,
    dryRun: request.dryRun,
    notify: deps.notify,
    ...(deps.signal ? { signal: deps.signal } : {}),
    ...(deps.cancel ? { cancel: deps.cancel } : {}),
    ...(deps.deadline ? { deadline: deps.deadline } : {}),
    ...(deps.progress ? { progress: deps.progress } : {}),
    ...(request.runId ? { runId: request.runId } : {}),
  };
}

/** Runs the runbook; an unexpected throw becomes a `failed` report, so a crash is still reported. */
async function runOrReportCrash(ctx: RunbookContext, runbook: AnyRunbook, input: unknown): Promise<Report> {
  try {
    return await runbook.run(ctx, input);
  } catch (error) {
    ctx.logger.error("runbook threw", { error: error instanceof Error ? error : errorMessage(error) });
    const builder = new ReportBuilder(ctx, runbook.name);
    builder.add({ resource: ctx.system.id, action: runbook.name, status: "failed", reason: errorMessage(error) });
    return builder.finish({ summary: `${runbook.name} failed: ${errorMessage(error)}`, status: "failed" });
  }
}

/** The run's outcome stands whatever happens next: audit and notification failures are logged. */
async function auditAndNotify(deps: RunnerDeps, request: RunRequest, report: Report): Promise<void> {
  try {
    await deps.audit?.record(report, request.requestedBy ? { requestedBy: request.requestedBy } : {});
  } catch (error) {
    deps.logger.error("audit record failed", { error: errorMessage(error) });
  }
  try {
    await deps.notify.notify(report);
  } catch (error) {
    deps.logger.error("notification failed", { error: errorMessage(error) });
  }
}
