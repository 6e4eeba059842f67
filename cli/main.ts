import { parseArgs } from "node:util";
import type { LogLevel } from "@aws-lambda-powertools/logger/types";
import { loadFleet } from "../lib/catalogue.js";
import { errorMessage, OpsError, ValidationError } from "../lib/errors.js";
import { createLogger } from "../lib/logger.js";
import { runbooks } from "../runbooks/index.js";
import { demoCommand } from "./commands/demo.js";
import { drillHistoryCommand } from "./commands/drill-history.js";
import { iamCommand } from "./commands/iam.js";
import { planCommand } from "./commands/plan.js";
import { runCommand } from "./commands/run.js";
import { runbooksCommand } from "./commands/runbooks.js";
import { systemsCommand } from "./commands/systems.js";
import { type CliIo, EXIT } from "./io.js";

export const USAGE = `ops — operations autopilot for containers and PostgreSQL on AWS

Usage:
  ops systems   [--json] [--fleet F]                 the fleet, its DR targets and policies
  ops runbooks  [--json]                             the runbooks and whether they are destructive
  ops plan      [--system S] [--days N] [--json] [--fleet F]
                                                     next runs of every schedule, local time and UTC
  ops drill-history --system S [--database D] [--limit N] [--out F.svg] [--json]
                                                     restore drills over time, RTO trend and chart
  ops iam       [--system S] [--runbook R] [--json] [--account ID] [--stage S] [--region R] [--fleet F]
                                                     each deployed function's effective IAM policy (and the
                                                     policies a cross-account role needs), from the deploy plan
  ops demo      [--json]                             the main job on the embedded stack (npm start):
                                                     local PostgreSQL + S3, backup, retention, restore drill
  ops run <runbook> --system S [--dry-run] [--json] [--fleet F] [--database-url URL] [key=value ...]
                                                     run a runbook with the code the Lambda runs
Options:
  --fleet F     load the catalogue from a JSON file instead of the built-in one
  --verbose     structured logs (JSON, on stderr) at INFO instead of WARN
Exit codes: 0 succeeded or skipped, 1 failed or partial, 2 usage or validation error.
`;

class UsageError extends ValidationError {}

const OPTIONS = {
  json: { type: "boolean", default: false },
  fleet: { type: "string" },
  system: { type: "string" },
  days: { type: "string" },
  "dry-run": { type: "boolean", default: false },
  "database-url": { type: "string" },
  database: { type: "string" },
  limit: { type: "string" },
  out: { type: "string" },
  runbook: { type: "string" },
  account: { type: "string" },
  stage: { type: "string" },
  region: { type: "string" },
  verbose: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

function parseDays(value: string | undefined): number {
  if (value === undefined) return 7;
  const days = Number(value);
  if (!Number.isInteger(days) || days < 1 || days > 366) {
    throw new UsageError(`--days must be a whole number from 1 to 366 (got "${value}")`);
  }
  return days;
}

/** Runs the CLI; returns the exit code. `io` is injectable so tests run it in-process. */
export async function main(argv: string[], partialIo: Partial<CliIo> = {}): Promise<number> {
  const io: CliIo = {
    out: partialIo.out ?? process.stdout,
    err: partialIo.err ?? process.stderr,
    env: partialIo.env ?? process.env,
    now: partialIo.now ?? (() => new Date()),
  };
  const controller = new AbortController();
  // SIGTERM too: that is how ECS and Fargate stop a task (then SIGKILL 30 s later), and a run that
  // stops cleanly reports, aborts its upload and releases its claims. Commands that do not watch the
  // signal (listing, planning) just exit, as they would without a handler.
  let cancellable = false;
  const onSignal = (signal: NodeJS.Signals) => {
    const code = signal === "SIGTERM" ? 143 : 130;
    if (!cancellable || controller.signal.aborted) process.exit(code);
    io.err.write(`\ninterrupted (${signal}): stopping after the current step (${signal} again to force)\n`);
    controller.abort(new Error(signal === "SIGTERM" ? "stopped by SIGTERM" : "interrupted by the user"));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>;
    try {
      parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    } catch (error) {
      throw new UsageError(errorMessage(error), [], { cause: error });
    }
    const { values, positionals } = parsed;
    const [command, ...rest] = positionals;
    if (values.help || !command) {
      (command || values.help ? io.out : io.err).write(USAGE);
      return values.help ? EXIT.ok : EXIT.usage;
    }
    const envLevel = io.env.POWERTOOLS_LOG_LEVEL ?? io.env.LOG_LEVEL;
    const logger = createLogger({
      stream: io.err,
      logLevel: (values.verbose ? "INFO" : (envLevel ?? "WARN")) as LogLevel,
    });
    const json = values.json ?? false;
    switch (command) {
      case "systems":
        return systemsCommand(io, await loadFleet(values.fleet), { json });
      case "runbooks":
        return runbooksCommand(io, runbooks, { json });
      case "plan":
        return planCommand(io, await loadFleet(values.fleet), runbooks, {
          json,
          days: parseDays(values.days),
          ...(values.system ? { system: values.system } : {}),
        });
      case "run": {
        cancellable = true;
        const [runbook, ...pairs] = rest;
        if (!runbook) {
          throw new UsageError(
            `ops run needs a runbook name; known runbooks: ${runbooks.map((r) => r.name).join(", ")}`,
          );
        }
        if (!values.system) throw new UsageError("ops run needs --system S (see `ops systems`)");
        return await runCommand(
          io,
          { fleet: await loadFleet(values.fleet), registry: runbooks, logger },
          {
            runbook,
            system: values.system,
            dryRun: values["dry-run"] ?? false,
            json,
            pairs,
            signal: controller.signal,
            ...(values["database-url"] ? { databaseUrl: values["database-url"] } : {}),
          },
        );
      }
      case "drill-history": {
        if (!values.system) throw new UsageError("ops drill-history needs --system S (see `ops systems`)");
        const limit = values.limit === undefined ? undefined : Number(values.limit);
        if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
          throw new UsageError(`--limit must be a positive whole number (got "${values.limit}")`);
        }
        return await drillHistoryCommand(
          io,
          { fleet: await loadFleet(values.fleet) },
          {
            system: values.system,
            json,
            ...(values.database ? { database: values.database } : {}),
            ...(values.out ? { out: values.out } : {}),
            ...(limit !== undefined ? { limit } : {}),
          },
        );
      }
      case "iam":
        return await iamCommand(
          io,
          { fleet: await loadFleet(values.fleet), registry: runbooks },
          {
            json,
            stage: values.stage ?? "production",
            region: values.region ?? io.env.AWS_REGION ?? "us-east-1",
            ...(values.system ? { system: values.system } : {}),
            ...(values.runbook ? { runbook: values.runbook } : {}),
            ...(values.account ? { account: values.account } : {}),
          },
        );
      case "demo":
        cancellable = true;
        return await demoCommand(
          io,
          { fleet: await loadFleet(values.fleet), registry: runbooks, logger, signal: controller.signal },
          { json },
        );
      default:
        throw new UsageError(
          `unknown command "${command}"; commands: systems, runbooks, plan, run, drill-history, iam, demo`,
        );
    }
  } catch (error) {
    if (error instanceof ValidationError) {
      io.err.write(`error: ${error.message}\n`);
      if (error instanceof UsageError) io.err.write("run `ops --help` for usage\n");
      return EXIT.usage;
    }
    const code = error instanceof OpsError ? ` [${error.code}]` : "";
    io.err.write(`error${code}: ${errorMessage(error)}\n`);
    return EXIT.failed;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
