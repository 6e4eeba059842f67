import { join, resolve } from "node:path";
import { ValidationError } from "../../lib/errors.js";
import { startLocalS3 } from "../../lib/local/s3.js";
import {
  readStack,
  type StackRecord,
  type StackUpOptions,
  stackDown,
  stackEnv,
  stackHealth,
  stackUp,
} from "../../lib/local/stack.js";
import type { Fleet } from "../../systems/index.js";
import type { System } from "../../systems/schema.js";
import { type CliIo, EXIT, packageRoot, writeJson } from "../io.js";

/** The state directory: `$OPS_STATE_DIR` or `.state` in the working directory. */
export function stateDirOf(io: CliIo): string {
  return resolve(io.env.OPS_STATE_DIR ?? ".state");
}

/** `bin/ops.js` of this checkout. */
function opsExecutable(): string {
  return join(packageRoot(), "bin", "ops.js");
}

/** What the embedded stack needs for the local systems of a fleet (`deploy: false`). */
export function stackOptions(io: CliIo, fleet: Fleet, say?: (line: string) => void): StackUpOptions {
  const local = fleet.systems.filter((s) => !s.deploy);
  return {
    stateDir: stateDirOf(io),
    buckets: [...new Set(local.flatMap((s) => (s.backup ? [s.backup.bucket] : [])))],
    databases: [...new Set(local.flatMap((s) => s.databases.map((d) => d.database)))],
    serveCommand: [process.execPath, opsExecutable(), "stack", "serve-s3"],
    ...(say ? { say } : {}),
  };
}

/**
 * Environment for running a local-only system (the demo) from the CLI: the running stack's, or an
 * error that says how to start it. Deployed systems get nothing (they use the account).
 */
export async function localSystemEnv(io: CliIo, system: System): Promise<Record<string, string>> {
  // A deployed system uses its account; an environment that already points the SDK somewhere (a test
  // stack, another S3-compatible store) is the caller's choice and wins.
  if (system.deploy || io.env.AWS_ENDPOINT_URL_S3 || io.env.AWS_ENDPOINT_URL) return {};
  const stack = await readStack(stateDirOf(io));
  const health = stack ? await stackHealth(stack) : undefined;
  if (!stack || !health?.healthy) {
    throw new ValidationError(
      `the "${system.id}" system runs on the embedded stack, which is not up in ${stateDirOf(io)}: run \`ops stack up\` first (\`ops stack down\` stops it)`,
    );
  }
  return stackEnv(stack);
}

/** Points this process's standard SDK clients at the stack (the SDK reads `process.env`). */
export function applyEnv(env: Record<string, string>): void {
  Object.assign(process.env, env);
}

function describe(stack: StackRecord, health: Awaited<ReturnType<typeof stackHealth>>): string {
  return [
    `state     ${stack.stateDir}`,
    `since     ${stack.startedAt}`,
    `postgres  ${health.postgres}`,
    `s3        ${health.s3}`,
    `databases ${stack.databases.join(", ") || "(none)"}; buckets ${stack.s3.buckets.join(", ") || "(none)"}`,
  ].join("\n");
}

/** `ops stack up|down|status [--json]`. */
export async function stackCommand(
  io: CliIo,
  fleet: Fleet,
  options: { action: string; json: boolean },
): Promise<number> {
  switch (options.action) {
    case "up":
      return up(io, fleet, options.json);
    case "down":
      return down(io, options.json);
    case "status":
      return status(io, options.json);
    default:
      throw new ValidationError(`ops stack needs up, down or status (got "${options.action}")`);
  }
}

async function up(io: CliIo, fleet: Fleet, json: boolean): Promise<number> {
  const say = (line: string) => io.err.write(`${line}\n`);
  const { stack, started } = await stackUp(stackOptions(io, fleet, say));
  const health = await stackHealth(stack);
  if (json) writeJson(io, { ...stack, started, health });
  else io.out.write(`${started ? "started" : "already up"}\n${describe(stack, health)}\n`);
  return EXIT.ok;
}

async function down(io: CliIo, json: boolean): Promise<number> {
  const stateDir = stateDirOf(io);
  const stopped = await stackDown(stateDir);
  if (json) writeJson(io, { stopped });
  else io.out.write(stopped ? `stopped the stack in ${stateDir}\n` : `no stack is recorded in ${stateDir}\n`);
  return EXIT.ok;
}

/** Exits 0 only when a stack is recorded and {@link stackHealth} finds it healthy. */
async function status(io: CliIo, json: boolean): Promise<number> {
  const stateDir = stateDirOf(io);
  const stack = await readStack(stateDir);
  const health = stack ? await stackHealth(stack) : undefined;
  if (json) writeJson(io, stack && health ? { ...stack, health } : { up: false, stateDir });
  else io.out.write(stack && health ? `${describe(stack, health)}\n` : `no stack is up in ${stateDir}\n`);
  return stack && health?.healthy ? EXIT.ok : EXIT.failed;
}

/**
 * `ops stack serve-s3 --dir D --port-file F bucket ...` (internal): the detached S3 server of
 * `ops stack up`. Writes its port once listening; stops on SIGTERM.
 */
export async function serveS3(options: { directory: string; portFile: string; buckets: string[] }): Promise<number> {
  const { writeFile } = await import("node:fs/promises");
  const s3 = await startLocalS3({ directory: options.directory, buckets: options.buckets });
  await writeFile(options.portFile, new URL(s3.endpoint).port);
  await new Promise<void>((done) => {
    process.once("SIGTERM", () => done());
    process.once("SIGINT", () => done());
  });
  await s3.stop();
  return EXIT.ok;
}
