import { clientsForSystem } from "../../lib/aws/clients.js";
import { ensureStack, removeStack, stackEnv, withStackLock } from "../../lib/local/stack.js";
import type { Logger } from "../../lib/logger.js";
import { createConsoleNotifier } from "../../lib/notify.js";
import { executeRun } from "../../runbooks/runner.js";
import type { AnyRunbook, Report } from "../../runbooks/types.js";
import { type Fleet, findSystem } from "../../systems/index.js";
import { type CliIo, EXIT } from "../io.js";
import { exitCodeFor, localAuditSink } from "./run.js";
import { applyEnv, stackOptions } from "./stack.js";

/** The runbooks `npm start` runs on the embedded stack, in order, with their input. */
export const DEMO_STEPS: { runbook: string; input: Record<string, unknown> }[] = [
  // A fresh backup every time the demo runs, so history accumulates run after run.
  { runbook: "backup", input: { force: true } },
  { runbook: "prune-backups", input: {} },
  { runbook: "restore-drill", input: {} },
];

/**
 * `npm start`: starts a real PostgreSQL (seeded on first run with a PartPal-shaped inventory) and a real
 * S3-protocol server on 127.0.0.1, both keeping their state under `.state/`, runs the demo system's
 * backup, retention and restore drill through the same runner the Lambda uses, prints the reports and
 * stops what it started (also on Ctrl-C).
 */
export async function demoCommand(
  io: CliIo,
  deps: { fleet: Fleet; registry: readonly AnyRunbook[]; logger: Logger; signal: AbortSignal; cancel?: AbortSignal },
  options: { json: boolean },
): Promise<number> {
  const system = findSystem(deps.fleet, "demo");
  if (!system.backup || !system.databases[0]) throw new Error("the demo system needs a database and a backup section");
  const say = (line: string) => io.err.write(`${line}\n`);
  const stackOpts = stackOptions(io, deps.fleet, say);
  // The lock for the whole run: a second `npm start` (or `ops stack up/down`) says who holds .state
  // instead of stopping the stack under this one.
  return withStackLock(stackOpts.stateDir, "npm start", async () => {
    say(`starting the embedded stack in ${stackOpts.stateDir} ...`);
    const { stack, started } = await ensureStack(stackOpts);
    try {
      say(
        `PostgreSQL on 127.0.0.1:${stack.postgres.port}, S3 on ${stack.s3.endpoint}${started ? "" : " (already up)"}`,
      );
      const env = stackEnv(stack);
      applyEnv(env);
      const reports = await runSteps(io, deps, { ...io.env, ...env }, options.json);
      if (options.json) io.out.write(`${JSON.stringify(reports, null, 2)}\n`);
      return reports.reduce<number>((code, r) => Math.max(code, exitCodeFor(r)), EXIT.ok);
    } finally {
      // Leave a stack that `ops stack up` started running; stop the one this run started.
      if (started) {
        await removeStack(stackOpts.stateDir).catch(() => {});
        say("embedded stack stopped");
      }
    }
  });
}

async function runSteps(
  io: CliIo,
  deps: { fleet: Fleet; registry: readonly AnyRunbook[]; logger: Logger; signal: AbortSignal; cancel?: AbortSignal },
  env: Record<string, string | undefined>,
  json: boolean,
): Promise<Report[]> {
  const reports: Report[] = [];
  const system = findSystem(deps.fleet, "demo");
  const audit = localAuditSink(system, true);
  for (const step of DEMO_STEPS) {
    if (deps.signal.aborted) break;
    if (!deps.registry.some((r) => r.name === step.runbook)) continue;
    const report = await executeRun(
      {
        fleet: deps.fleet,
        registry: deps.registry,
        logger: deps.logger,
        now: io.now,
        env,
        signal: deps.signal,
        ...(deps.cancel ? { cancel: deps.cancel } : {}),
        notify: createConsoleNotifier({ stream: json ? io.err : io.out, format: "text" }),
        clientsFor: (s) => clientsForSystem(s, { s3ForcePathStyle: true }),
        ...(audit ? { audit } : {}),
      },
      { runbook: step.runbook, system: "demo", input: step.input, dryRun: false, requestedBy: "npm start" },
    );
    reports.push(report);
  }
  return reports;
}
