import { type AuditSink, createS3AuditSink } from "../../lib/audit.js";
import { clientsForSystem, createAwsClients } from "../../lib/aws/clients.js";
import { errorMessage, ValidationError } from "../../lib/errors.js";
import type { Logger } from "../../lib/logger.js";
import { putReportMetrics } from "../../lib/metric-data.js";
import { createRoutingNotifier } from "../../lib/notify/router.js";
import { channelsFromSettings, parseNotifySettings } from "../../lib/notify/settings.js";
import { createConsoleNotifier, fanOut, type Notifier, silentNotifier } from "../../lib/notify.js";
import { databaseOverride, OVERRIDE_TARGET, OVERRIDE_URL, urlHasPassword } from "../../lib/postgres/connection.js";
import { parseSettings } from "../../lib/settings.js";
import { executeRun, resolveRequest } from "../../runbooks/runner.js";
import type { AnyRunbook, Report } from "../../runbooks/types.js";
import type { Fleet } from "../../systems/index.js";
import type { System } from "../../systems/schema.js";
import { type CliIo, EXIT, writeJson } from "../io.js";

/** Options of {@link runCommand}. */
export interface RunCommandOptions {
  runbook: string;
  system: string;
  dryRun: boolean;
  json: boolean;
  /** `key=value` arguments, turned into the runbook's input. */
  pairs: string[];
  databaseUrl?: string;
  signal?: AbortSignal;
  /** Aborted when the step in flight must stop too (a second Ctrl-C, SIGTERM). */
  cancel?: AbortSignal;
  /** Environment the system needs once the request is valid (the embedded stack's, for the demo). */
  environmentFor?: (system: System) => Promise<Record<string, string>>;
}

/** Parses `key=value` arguments; a bare word is an error that says what is expected. */
export function parsePairs(pairs: string[]): Record<string, string> {
  const input: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) {
      throw new ValidationError(`argument "${pair}" is not of the form key=value (e.g. until=2026-11-22T07:00)`);
    }
    input[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return input;
}

/**
 * `--database-url` as the runner's override variables: it replaces exactly one database — the system's
 * only one, or the one `database=<id>` names (which also limits the run to it). A password in the URL
 * works but is warned about: argv is visible to every user of the machine (`ps`).
 */
function overrideEnv(
  io: CliIo,
  system: System,
  input: Record<string, string>,
  url: string,
): Record<typeof OVERRIDE_URL | typeof OVERRIDE_TARGET, string> {
  const ids = system.databases.map((d) => d.id);
  const database = input.database ?? (ids.length === 1 ? ids[0] : undefined);
  if (!database) {
    throw new ValidationError(
      `--database-url replaces one database: system "${system.id}" has ${ids.length ? `several (${ids.join(", ")})` : "none"}; ` +
        "name it with database=<id>",
    );
  }
  if (urlHasPassword(url)) {
    io.err.write(
      "warning: --database-url carries a password, which other users of this machine can read in the process list; " +
        "leave it out of the URL and set PGPASSWORD or a ~/.pgpass line instead\n",
    );
  }
  return { [OVERRIDE_URL]: url, [OVERRIDE_TARGET]: `${system.id}/${database}` };
}

/**
 * Where the CLI keeps the audit records of a local system's runs (the demo on the embedded stack): its
 * own bucket, under `audit/<system>/`, as the Lambda keeps a deployed system's in the audit bucket, so
 * `ops audit --system demo` reads them. A deployed system run from a laptop writes none: its trail is
 * the deployment's.
 */
export function localAuditSink(system: System, forcePathStyle: boolean): AuditSink | undefined {
  if (system.deploy || !system.backup) return undefined;
  return createS3AuditSink({
    s3: clientsForSystem(system, { s3ForcePathStyle: forcePathStyle }).s3,
    bucket: system.backup.bucket,
  });
}

/** Exit code for a report: 0 succeeded or skipped, 1 failed or partial. */
export function exitCodeFor(report: Report): number {
  return report.status === "succeeded" || report.status === "skipped" ? EXIT.ok : EXIT.failed;
}

/**
 * Inside the deployment (the Fargate backup task sets `OPS_REPORT_TO=deployment`): the report also goes
 * where a function's goes — the notifier routed by the catalogue (Slack, SNS, PagerDuty) and the audit
 * bucket — and its metrics to CloudWatch in the deployment's region (`OPS_METRICS_REGION`), so a backup
 * handed off by the function is reported like one it took itself.
 */
function deploymentSinks(
  env: Readonly<Record<string, string | undefined>>,
  deps: { fleet: Fleet; logger: Logger },
): { notify?: Notifier; audit?: AuditSink; metrics?: (report: Report, at: Date) => Promise<void> } {
  const settings = parseSettings(env);
  if (settings.reportTo !== "deployment") return {};
  const channels = channelsFromSettings(parseNotifySettings(env), { logger: deps.logger });
  const metricsRegion = settings.metricsRegion ?? settings.region ?? "us-east-1";
  return {
    notify: createRoutingNotifier({ systems: deps.fleet.systems, channels }),
    metrics: async (report, at) => {
      // A lost metric must not turn a taken backup into a failed run: the freshness alarm notices it.
      const cloudwatch = createAwsClients({ region: metricsRegion }).cloudwatch;
      await putReportMetrics({ cloudwatch, report, at }).catch((error: unknown) =>
        deps.logger.error("report metrics not published", { region: metricsRegion, error: errorMessage(error) }),
      );
    },
    ...(settings.audit
      ? {
          audit: createS3AuditSink({
            s3: createAwsClients({
              region: settings.audit.region ?? settings.region ?? "us-east-1",
              s3ForcePathStyle: settings.s3ForcePathStyle,
            }).s3,
            bucket: settings.audit.bucket,
          }),
        }
      : {}),
  };
}

/** `ops run <runbook> --system S [--dry-run] [--json] [key=value ...]`: the same code the Lambda runs. */
export async function runCommand(
  io: CliIo,
  deps: { fleet: Fleet; registry: readonly AnyRunbook[]; logger: Logger },
  options: RunCommandOptions,
): Promise<number> {
  const request = {
    runbook: options.runbook,
    system: options.system,
    input: parsePairs(options.pairs),
    dryRun: options.dryRun,
    requestedBy: "cli",
  };
  // Validate before anything else so usage errors exit 2 with nothing started.
  const { system } = resolveRequest(deps, request);
  const override = options.databaseUrl ? overrideEnv(io, system, request.input, options.databaseUrl) : {};
  databaseOverride({ ...io.env, ...override }, system);
  // Only once the request and its override are known good: the embedded stack, for a local system.
  const env: Record<string, string | undefined> = {
    ...io.env,
    ...(await options.environmentFor?.(system)),
    ...override,
  };
  const showProgress = Boolean(io.err.isTTY) && !options.json;
  const deployed = deploymentSinks(env, deps);
  const local = options.json ? silentNotifier : createConsoleNotifier({ stream: io.out, format: "text" });
  // A local system (the demo) writes its audit records to its own bucket on the embedded stack.
  const { s3ForcePathStyle } = parseSettings(env);
  const audit = deployed.audit ?? localAuditSink(system, s3ForcePathStyle);
  const report = await executeRun(
    {
      ...deps,
      now: io.now,
      env,
      notify: deployed.notify ? fanOut([local, deployed.notify]) : local,
      clientsFor: (system) => clientsForSystem(system, { s3ForcePathStyle }),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.cancel ? { cancel: options.cancel } : {}),
      ...(audit ? { audit } : {}),
      ...(showProgress ? { progress: progressLine(io) } : {}),
    },
    request,
  );
  await deployed.metrics?.(report, io.now());
  io.progress?.clear();
  printReport(io, report, options.json);
  return exitCodeFor(report);
}

/** The runbook's progress on the terminal's progress line, with a percentage when it knows one. */
function progressLine(io: CliIo): (message: string, fraction?: number) => void {
  return (message, fraction) => {
    const pct = fraction === undefined ? "" : ` ${Math.round(fraction * 100)}%`;
    io.progress?.show(`${message}${pct}`);
  };
}

/** The report as JSON, or one line per action. */
function printReport(io: CliIo, report: Report, json: boolean): void {
  if (json) {
    writeJson(io, report);
    return;
  }
  for (const action of report.actions) {
    const reason = action.reason ? ` — ${action.reason}` : "";
    io.out.write(`  ${action.status.padEnd(8)} ${action.action} ${action.resource}${reason}\n`);
  }
}
