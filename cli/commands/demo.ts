import { resolve } from "node:path";
import { clientsForSystem } from "../../lib/aws/clients.js";
import { type Fleet, findSystem } from "../../lib/fleet.js";
import { startLocalPostgres } from "../../lib/local/postgres.js";
import { startLocalS3 } from "../../lib/local/s3.js";
import { ensureDatabase, seedInventory } from "../../lib/local/seed.js";
import type { Logger } from "../../lib/logger.js";
import { createConsoleNotifier } from "../../lib/notify.js";
import { executeRun } from "../../lib/runner.js";
import type { AnyRunbook, Report } from "../../runbooks/types.js";
import { type CliIo, EXIT } from "../io.js";
import { exitCodeFor } from "./run.js";

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
  deps: { fleet: Fleet; registry: readonly AnyRunbook[]; logger: Logger; signal: AbortSignal },
  options: { json: boolean; stateDir?: string },
): Promise<number> {
  const system = findSystem(deps.fleet, "demo");
  const database = system.databases[0];
  if (!system.backup || !database) throw new Error("the demo system needs a database and a backup section");
  const stateDir = resolve(options.stateDir ?? io.env.OPS_STATE_DIR ?? ".state");
  const say = (line: string) => io.err.write(`${line}\n`);
  say(`starting the embedded stack in ${stateDir} ...`);
  const postgres = await startLocalPostgres({ dataDir: `${stateDir}/pg` });
  const stops: (() => Promise<void>)[] = [() => postgres.stop()];
  try {
    const s3 = await startLocalS3({ directory: `${stateDir}/s3`, buckets: [system.backup.bucket] });
    stops.unshift(() => s3.stop());
    say(`PostgreSQL on 127.0.0.1:${postgres.port}, S3 on ${s3.endpoint}`);
    await ensureDatabase(postgres.connection(), database.database);
    const { seeded } = await seedInventory(postgres.connection(database.database), { scale: 1 });
    if (seeded) say(`seeded ${database.database} with a sample inventory (vehicles, parts, sales)`);
    // The edge sets the environment; the runbooks and the standard SDK clients read it from there.
    const env: Record<string, string | undefined> = {
      ...io.env,
      ...s3.env,
      OPS_DEMO_DATABASE_URL: postgres.url(database.database),
    };
    Object.assign(process.env, s3.env);
    const reports: Report[] = [];
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
          notify: createConsoleNotifier({ stream: options.json ? io.err : io.out, format: "text" }),
          clientsFor: (s) => clientsForSystem(s, { s3ForcePathStyle: true }),
        },
        { runbook: step.runbook, system: system.id, input: step.input, dryRun: false, requestedBy: "npm start" },
      );
      reports.push(report);
    }
    if (options.json) io.out.write(`${JSON.stringify(reports, null, 2)}\n`);
    return reports.reduce<number>((code, r) => Math.max(code, exitCodeFor(r)), EXIT.ok);
  } finally {
    for (const stop of stops) await stop().catch(() => {});
    say("embedded stack stopped");
  }
}
