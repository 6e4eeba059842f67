import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { LogLevel } from "@aws-lambda-powertools/logger/types";
import { errorMessage, OpsError, ValidationError } from "../lib/errors.js";
import { redactingStream } from "../lib/redact.js";
import type { AnyRunbook } from "../runbooks/types.js";
import { didYouMean, integerOption, type OptionSpec, type ParsedArgs, parseCommandArgs, UsageError } from "./args.js";
import { type CliIo, clearingStream, EXIT, foldLine, ProgressLine, packageRoot } from "./io.js";

/** What a command gets once its arguments parsed. */
interface CommandCall {
  io: CliIo;
  args: ParsedArgs;
  /** Aborted by the first Ctrl-C: stop after the current step. */
  signal: AbortSignal;
  /** Aborted by a second Ctrl-C or by SIGTERM: stop the step in flight too. */
  cancel: AbortSignal;
  /** Marks the run as one that stops cleanly on Ctrl-C/SIGTERM (it watches `signal`). */
  cancellable: () => void;
}

/** One `ops` command: its usage line, its options, and its body loaded only when it runs. */
interface Command {
  usage: string;
  summary: string;
  options: Record<string, OptionSpec>;
  maxPositionals: number;
  positionalsName?: string;
  run(call: CommandCall): Promise<number>;
}

const json: OptionSpec = { type: "boolean", description: "machine-readable output on stdout" };
const fleetOption: OptionSpec = {
  type: "string",
  value: "F",
  description: "load the catalogue from a JSON file instead of the built-in one",
};
const systemOption: OptionSpec = { type: "string", value: "S", description: "the system's id (see `ops systems`)" };

// Commands import their bodies (and so zod, the SDK, the catalogue) only when they run: `ops --help`
// loads none of it, which is most of the CLI's start time.
const registry = async (): Promise<readonly AnyRunbook[]> => (await import("../runbooks/index.js")).runbooks;
const fleet = async (path: unknown) =>
  (await import("../systems/index.js")).loadFleet(typeof path === "string" ? path : undefined);

async function logger(io: CliIo, verbose: boolean) {
  const { createLogger } = await import("../lib/logger.js");
  const envLevel = io.env.POWERTOOLS_LOG_LEVEL ?? io.env.LOG_LEVEL;
  // A person at a terminal reads lines; a pipe, a file or a log tool gets the JSON records
  // (OPS_LOG_FORMAT=json|text overrides either way).
  const format =
    io.env.OPS_LOG_FORMAT === "json" || io.env.OPS_LOG_FORMAT === "text" ? io.env.OPS_LOG_FORMAT : undefined;
  return createLogger({
    stream: io.err,
    logLevel: (verbose ? "INFO" : (envLevel ?? "WARN")) as LogLevel,
    format: format ?? (io.err.isTTY ? "text" : "json"),
  });
}

/**
 * The embedded stack's environment when `system` is local-only (the demo), also applied to this process
 * because the standard SDK clients read `process.env`. `optional`: no stack is fine (the caller copes).
 */
async function localEnv(
  io: CliIo,
  catalogue: Awaited<ReturnType<typeof fleet>>,
  systemId: string,
  options = { optional: false },
): Promise<Record<string, string>> {
  const system = catalogue.systems.find((s) => s.id === systemId);
  if (!system || system.deploy) return {};
  const { localSystemEnv, applyEnv } = await import("./commands/stack.js");
  try {
    const env = await localSystemEnv(io, system);
    applyEnv(env);
    return env;
  } catch (error) {
    if (options.optional) return {};
    throw error;
  }
}

const str = (v: string | boolean | undefined): string | undefined => (typeof v === "string" ? v : undefined);

function requireSystem(command: string, args: ParsedArgs): string {
  const system = str(args.values.system);
  if (!system) throw new UsageError(`ops ${command} needs --system S (see \`ops systems\`)`);
  return system;
}

const COMMANDS: Record<string, Command> = {
  systems: {
    usage: "ops systems [--json] [--fleet F]",
    summary: "the fleet, its DR targets and policies",
    options: { json, fleet: fleetOption },
    maxPositionals: 0,
    async run({ io, args }) {
      const { systemsCommand } = await import("./commands/systems.js");
      return systemsCommand(io, await fleet(args.values.fleet), { json: args.values.json === true });
    },
  },
  runbooks: {
    usage: "ops runbooks [--json]",
    summary: "the runbooks and whether they are destructive",
    options: { json },
    maxPositionals: 0,
    async run({ io, args }) {
      const { runbooksCommand } = await import("./commands/runbooks.js");
      return runbooksCommand(io, await registry(), { json: args.values.json === true });
    },
  },
  plan: {
    usage: "ops plan [--system S] [--days N] [--json] [--fleet F]",
    summary: "next runs of every schedule, local time and UTC",
    options: {
      system: systemOption,
      days: { type: "string", value: "N", description: "how many days ahead, 1 to 366 (default 7)" },
      json,
      fleet: fleetOption,
    },
    maxPositionals: 0,
    async run({ io, args }) {
      const { planCommand } = await import("./commands/plan.js");
      const days = integerOption("days", args.values.days, { min: 1, max: 366, fallback: 7 }) ?? 7;
      const system = str(args.values.system);
      return planCommand(io, await fleet(args.values.fleet), await registry(), {
        json: args.values.json === true,
        days,
        ...(system ? { system } : {}),
      });
    },
  },
  run: {
    usage: "ops run <runbook> --system S [--dry-run] [--json] [--fleet F] [--database-url URL] [key=value ...]",
    summary: "run a runbook with the code the Lambda runs (`ops run <runbook> --help` lists its inputs)",
    options: {
      system: systemOption,
      "dry-run": { type: "boolean", description: "plan and report; change nothing" },
      json,
      fleet: fleetOption,
      "database-url": {
        type: "string",
        value: "URL",
        description:
          "replaces one database's connection (database=<id> when the system has several); the password comes from PGPASSWORD or ~/.pgpass, not the URL (argv is visible to other users)",
      },
    },
    maxPositionals: Number.POSITIVE_INFINITY,
    async run({ io, args, signal, cancel, cancellable }) {
      const [name, ...pairs] = args.positionals;
      const runbooks = await registry();
      if (!name) {
        throw new UsageError(`ops run needs a runbook name; known runbooks: ${runbooks.map((r) => r.name).join(", ")}`);
      }
      if (args.values.help) {
        const { findRunbook } = await import("../runbooks/runner.js");
        const { runbookHelp } = await import("./help.js");
        io.out.write(runbookHelp(findRunbook(runbooks, name)));
        return EXIT.ok;
      }
      const system = requireSystem("run", args);
      cancellable();
      const { runCommand } = await import("./commands/run.js");
      const databaseUrl = str(args.values["database-url"]);
      const catalogue = await fleet(args.values.fleet);
      return runCommand(
        io,
        {
          fleet: catalogue,
          registry: runbooks,
          logger: await logger(io, args.values.verbose === true),
        },
        {
          runbook: name,
          system,
          dryRun: args.values["dry-run"] === true,
          json: args.values.json === true,
          pairs,
          signal,
          cancel,
          environmentFor: (resolved) => localEnv(io, catalogue, resolved.id),
          ...(databaseUrl ? { databaseUrl } : {}),
        },
      );
    },
  },
  iam: {
    usage: "ops iam [--system S] [--runbook R] [--json] [--account ID] [--stage S] [--region R] [--fleet F]",
    summary: "each deployed function's effective IAM policy (and a cross-account role's), from the deployment plan",
    options: {
      system: systemOption,
      runbook: { type: "string", value: "R", description: "only this runbook's functions" },
      account: { type: "string", value: "ID", description: "the deploying account (default: the caller's, via STS)" },
      stage: { type: "string", value: "S", description: "the SST stage (default production)" },
      region: { type: "string", value: "R", description: "the deploying region (default AWS_REGION or us-east-1)" },
      json,
      fleet: fleetOption,
    },
    maxPositionals: 0,
    async run({ io, args }) {
      const { iamCommand } = await import("./commands/iam.js");
      const system = str(args.values.system);
      const runbook = str(args.values.runbook);
      const account = str(args.values.account);
      return iamCommand(
        io,
        { fleet: await fleet(args.values.fleet), registry: await registry() },
        {
          json: args.values.json === true,
          stage: str(args.values.stage) ?? "production",
          region: str(args.values.region) ?? io.env.AWS_REGION ?? "us-east-1",
          ...(system ? { system } : {}),
          ...(runbook ? { runbook } : {}),
          ...(account ? { account } : {}),
        },
      );
    },
  },
  "drill-history": {
    usage: "ops drill-history --system S [--database D] [--limit N] [--out F.svg] [--json] [--fleet F]",
    summary: "restore drills over time, RTO trend and chart",
    options: {
      system: systemOption,
      database: { type: "string", value: "D", description: "only this database (its catalogue id)" },
      limit: { type: "string", value: "N", description: "the newest N drills, 1 to 10000" },
      out: { type: "string", value: "F.svg", description: "write the chart to this file" },
      json,
      fleet: fleetOption,
    },
    maxPositionals: 0,
    async run({ io, args }) {
      const system = requireSystem("drill-history", args);
      const limit = integerOption("limit", args.values.limit, { min: 1, max: 10_000 });
      const { drillHistoryCommand } = await import("./commands/drill-history.js");
      const database = str(args.values.database);
      const out = str(args.values.out);
      const catalogue = await fleet(args.values.fleet);
      const local = await localEnv(io, catalogue, system, { optional: true });
      return drillHistoryCommand(
        { ...io, env: { ...io.env, ...local } },
        { fleet: catalogue },
        {
          system,
          json: args.values.json === true,
          ...(database ? { database } : {}),
          ...(out ? { out } : {}),
          ...(limit !== undefined ? { limit } : {}),
        },
      );
    },
  },
  backups: {
    usage: "ops backups --system S [--database D] [--json] [--fleet F]",
    summary: "each backup: time, size, verified or why not, sha256, versions, the retention slot that keeps it",
    options: {
      system: systemOption,
      database: { type: "string", value: "D", description: "only this database (its catalogue id)" },
      json,
      fleet: fleetOption,
    },
    maxPositionals: 0,
    async run({ io, args }) {
      const system = requireSystem("backups", args);
      const catalogue = await fleet(args.values.fleet);
      const local = await localEnv(io, catalogue, system);
      const { backupsCommand } = await import("./commands/backups.js");
      const database = str(args.values.database);
      return backupsCommand({ ...io, env: { ...io.env, ...local } }, catalogue, {
        system,
        json: args.values.json === true,
        ...(database ? { database } : {}),
      });
    },
  },
  restore: {
    usage:
      "ops restore --system S [--database D] [--backup KEY | --at TIME] --target URL [--dry-run] [--force] [--json] [--fleet F]",
    summary: "restore a verified backup into a database you name (sha256 checked while streaming)",
    options: {
      system: systemOption,
      database: { type: "string", value: "D", description: "the database whose backup to restore (its catalogue id)" },
      backup: {
        type: "string",
        value: "KEY",
        description: "this backup (its key, or its file name); default the newest verified",
      },
      at: {
        type: "string",
        value: "TIME",
        description:
          "the newest verified backup taken at or before TIME (ISO with zone, local 2026-12-01 11:30, or 24h)",
      },
      target: {
        type: "string",
        value: "URL",
        description:
          "postgres://user@host:port/db to restore into (created when missing; a bare name on the embedded stack); the password from PGPASSWORD or ~/.pgpass",
      },
      "dry-run": { type: "boolean", description: "say what would be restored where; change nothing" },
      force: { type: "boolean", description: "restore into a database that is not empty (pg_restore --clean)" },
      json,
      fleet: fleetOption,
    },
    maxPositionals: 0,
    async run({ io, args, signal, cancellable }) {
      const system = requireSystem("restore", args);
      const target = str(args.values.target);
      if (!target) throw new UsageError("ops restore needs --target URL (postgres://user@host:port/database)");
      cancellable();
      const catalogue = await fleet(args.values.fleet);
      const local = await localEnv(io, catalogue, system);
      const { restoreCommand } = await import("./commands/restore.js");
      const database = str(args.values.database);
      const backup = str(args.values.backup);
      const at = str(args.values.at);
      return restoreCommand({ ...io, env: { ...io.env, ...local } }, catalogue, {
        system,
        target,
        dryRun: args.values["dry-run"] === true,
        force: args.values.force === true,
        json: args.values.json === true,
        signal,
        ...(database ? { database } : {}),
        ...(backup ? { backup } : {}),
        ...(at ? { at } : {}),
      });
    },
  },
  audit: {
    usage: "ops audit --system S [--since T] [--runbook R] [--bucket B] [--json] [--fleet F]",
    summary: "the audit records of every run: what each action did, readable or JSON",
    options: {
      system: systemOption,
      since: {
        type: "string",
        value: "T",
        description: "runs started at or after T (ISO with zone, local 2026-12-01, or 24h, 7d)",
      },
      runbook: { type: "string", value: "R", description: "only this runbook's runs" },
      bucket: {
        type: "string",
        value: "B",
        description: "the audit bucket of a deployed system (default $OPS_AUDIT_BUCKET; the demo's is its own bucket)",
      },
      json,
      fleet: fleetOption,
    },
    maxPositionals: 0,
    async run({ io, args }) {
      const system = requireSystem("audit", args);
      const catalogue = await fleet(args.values.fleet);
      const local = await localEnv(io, catalogue, system);
      const { auditCommand } = await import("./commands/audit.js");
      const since = str(args.values.since);
      const runbook = str(args.values.runbook);
      const bucket = str(args.values.bucket);
      return auditCommand({ ...io, env: { ...io.env, ...local } }, catalogue, {
        system,
        json: args.values.json === true,
        runbooks: (await registry()).map((r) => r.name),
        ...(since ? { since } : {}),
        ...(runbook ? { runbook } : {}),
        ...(bucket ? { bucket } : {}),
      });
    },
  },
  fleet: {
    usage: "ops fleet export [--system S] [--out F] [--fleet F]",
    summary: "the catalogue as a file `--fleet F` reads back (defaults written out)",
    options: {
      system: systemOption,
      out: { type: "string", value: "F", description: "write to this file instead of stdout" },
      fleet: fleetOption,
    },
    maxPositionals: 1,
    positionalsName: "one action (export)",
    async run({ io, args }) {
      const [action] = args.positionals;
      if (action !== "export")
        throw new UsageError(`ops fleet needs an action: export${action ? ` (got "${action}")` : ""}`);
      const { fleetCommand } = await import("./commands/fleet.js");
      const system = str(args.values.system);
      const out = str(args.values.out);
      return fleetCommand(io, await fleet(args.values.fleet), {
        action,
        ...(system ? { system } : {}),
        ...(out ? { out } : {}),
      });
    },
  },
  stack: {
    usage: "ops stack up|down|status [--json]",
    summary: "the embedded PostgreSQL and S3 store under .state/ ($OPS_STATE_DIR): while up, `--system demo` works",
    options: {
      json,
      dir: { type: "string", value: "D", description: "(internal, serve-s3) the S3 store's directory" },
      "port-file": { type: "string", value: "F", description: "(internal, serve-s3) where to write the port" },
    },
    maxPositionals: Number.POSITIVE_INFINITY,
    async run({ io, args }) {
      const [action, ...rest] = args.positionals;
      const commands = await import("./commands/stack.js");
      if (action === "serve-s3") {
        const directory = str(args.values.dir);
        const portFile = str(args.values["port-file"]);
        if (!directory || !portFile) throw new UsageError("ops stack serve-s3 needs --dir D --port-file F");
        return commands.serveS3({ directory, portFile, buckets: rest });
      }
      if (!action || !["up", "down", "status"].includes(action)) {
        throw new UsageError(`ops stack needs one of up, down, status${action ? ` (got "${action}")` : ""}`);
      }
      if (rest.length)
        throw new UsageError(`\`ops stack ${action}\` takes no more arguments; unexpected: "${rest.join(" ")}"`);
      return commands.stackCommand(io, await fleet(undefined), { action, json: args.values.json === true });
    },
  },
  demo: {
    usage: "ops demo [--json]",
    summary: "the main job on the embedded stack (npm start): local PostgreSQL + S3, backup, retention, drill",
    options: { json },
    maxPositionals: 0,
    async run({ io, args, signal, cancel, cancellable }) {
      cancellable();
      const { demoCommand } = await import("./commands/demo.js");
      return demoCommand(
        io,
        {
          fleet: await fleet(undefined),
          registry: await registry(),
          logger: await logger(io, args.values.verbose === true),
          signal,
          cancel,
        },
        { json: args.values.json === true },
      );
    },
  },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string };
  return pkg.version;
}

/** `ops --help`: every command with its usage and summary. */
export function usage(): string {
  const lines = Object.values(COMMANDS).flatMap((c) => [
    foldLine("  ", c.usage, "      "),
    foldLine("      ", c.summary),
  ]);
  return `ops — operations autopilot for containers and PostgreSQL on AWS

Usage:
${lines.join("\n")}
  ops help [command]      this text, or one command's options
  ops --version

Options of every command:
  --verbose     logs on stderr at INFO instead of WARN (lines on a terminal, JSON when piped;
                OPS_LOG_FORMAT=json|text to choose)
  -h, --help    the command's usage
Exit codes: 0 succeeded or skipped, 1 failed or partial, 2 usage or validation error.
`;
}

/** Back-compat name for the top-level usage text. */
export const USAGE = usage();

/** `ops <command> --help`: its usage line and each option. */
export function commandHelp(name: string, command: Command): string {
  const rows = Object.entries(command.options).map(([option, spec]) => {
    const flag = `--${option}${spec.value ? ` ${spec.value}` : ""}`;
    return foldLine(`  ${flag.padEnd(22)} `, spec.description);
  });
  return `${foldLine("", command.usage, "    ")}\n${foldLine("  ", command.summary)}\n\nOptions of \`ops ${name}\`:\n${rows.join("\n") || "  (none)"}\n`;
}

function unknownCommand(name: string): UsageError {
  const known = [...Object.keys(COMMANDS), "help"];
  const guess = didYouMean(name, known);
  return new UsageError(
    `unknown command "${name}"${guess ? `; did you mean "${guess}"?` : ""}; commands: ${known.join(", ")}`,
  );
}

/** `ops`, `ops help [command]`, `ops --help`, `ops --version`: answered without loading any command. */
function topLevel(io: CliIo, argv: string[]): number | undefined {
  const [first, second, ...more] = argv;
  if (first === undefined) {
    io.err.write(usage());
    return EXIT.usage;
  }
  if (first === "--version" || first === "-v") {
    io.out.write(`ops-autopilot ${version()}\n`);
    return EXIT.ok;
  }
  if (first === "--help" || first === "-h") {
    io.out.write(usage());
    return EXIT.ok;
  }
  if (first !== "help") return undefined;
  if (more.length > 0) throw new UsageError(`\`ops help\` takes at most one command; unexpected: "${more.join(" ")}"`);
  if (second === undefined) {
    io.out.write(usage());
    return EXIT.ok;
  }
  const command = COMMANDS[second];
  if (!command) throw unknownCommand(second);
  io.out.write(commandHelp(second, command));
  return EXIT.ok;
}

/** Runs the CLI; returns the exit code. `io` is injectable so tests run it in-process. */
export async function main(argv: string[], partialIo: Partial<CliIo> = {}): Promise<number> {
  const io = cliIo(partialIo);
  const interrupts = interruptHandler(io);
  process.on("SIGINT", interrupts.onSignal);
  process.on("SIGTERM", interrupts.onSignal);
  try {
    return await dispatch(io, argv, interrupts);
  } catch (error) {
    return reportError(io, error);
  } finally {
    process.off("SIGINT", interrupts.onSignal);
    process.off("SIGTERM", interrupts.onSignal);
  }
}

function cliIo(partialIo: Partial<CliIo>): CliIo {
  // Everything the CLI prints passes the redactor: reports, errors, warnings, progress, logs.
  const err = redactingStream(partialIo.err ?? process.stderr);
  // Whatever is written next, on stdout or stderr, first clears a progress line that is showing.
  const progress = new ProgressLine(err);
  return {
    out: clearingStream(redactingStream(partialIo.out ?? process.stdout), progress),
    err: clearingStream(err, progress),
    env: partialIo.env ?? process.env,
    now: partialIo.now ?? (() => new Date()),
    progress,
  };
}

/** What a command receives to watch for Ctrl-C and SIGTERM, and the handler that drives them. */
interface Interrupts {
  signal: AbortSignal;
  cancel: AbortSignal;
  /** A command calls this once it watches `signal` and `cancel`; until then a signal exits at once. */
  cancellable: () => void;
  onSignal: (signal: NodeJS.Signals) => void;
}

/**
 * Two levels, as a person expects from Ctrl-C: the first stops the run after the step in progress
 * (`signal`: runbooks stop between resources); the second cancels that step too (`cancel`: the dump or
 * restore in flight is stopped, its upload aborted); a third exits at once. SIGTERM is how ECS and
 * Fargate stop a task (SIGKILL follows 30 s later): it cancels at once, so the report still goes out,
 * the upload is aborted and the claims are released. Commands that watch neither just exit.
 */
function interruptHandler(io: CliIo): Interrupts {
  const controller = new AbortController();
  const cancelController = new AbortController();
  let cancellable = false;
  const onSignal = (signal: NodeJS.Signals) => {
    const code = signal === "SIGTERM" ? 143 : 130;
    if (!cancellable || cancelController.signal.aborted) process.exit(code);
    if (signal === "SIGTERM" || controller.signal.aborted) {
      const reason = new Error(signal === "SIGTERM" ? "stopped by SIGTERM" : "cancelled by the user");
      io.err.write(`\ninterrupted (${signal}): cancelling the current step (${signal} again to exit at once)\n`);
      controller.abort(reason);
      cancelController.abort(reason);
      return;
    }
    io.err.write(`\ninterrupted (${signal}): stopping after the current step (${signal} again to cancel it)\n`);
    controller.abort(new Error("interrupted by the user"));
  };
  return {
    signal: controller.signal,
    cancel: cancelController.signal,
    cancellable: () => {
      cancellable = true;
    },
    onSignal,
  };
}

/** The top-level answers (help, version), else the command's help or the command itself. */
async function dispatch(io: CliIo, argv: string[], interrupts: Interrupts): Promise<number> {
  const answered = topLevel(io, argv);
  if (answered !== undefined) return answered;
  const [name = "", ...rest] = argv;
  if (name.startsWith("-"))
    throw new UsageError(`an option came before the command: "${name}"; usage: ops <command> [options]`);
  const command = COMMANDS[name];
  if (!command) throw unknownCommand(name);
  const args = parseCommandArgs(name, rest, command);
  if (args.values.help && name !== "run") {
    io.out.write(commandHelp(name, command));
    return EXIT.ok;
  }
  if (args.values.help && args.positionals.length === 0) {
    io.out.write(commandHelp(name, command));
    return EXIT.ok;
  }
  const { signal, cancel, cancellable } = interrupts;
  return await command.run({ io, args, signal, cancel, cancellable });
}

/** Bad input exits 2 (with a pointer to the usage on a usage error); anything else exits 1 with its code. */
function reportError(io: CliIo, error: unknown): number {
  if (error instanceof ValidationError) {
    io.err.write(`error: ${error.message}\n`);
    if (error instanceof UsageError) io.err.write("run `ops --help` for usage\n");
    return EXIT.usage;
  }
  const code = error instanceof OpsError ? ` [${error.code}]` : "";
  io.err.write(`error${code}: ${errorMessage(error)}\n`);
  return EXIT.failed;
}
