import { Writable } from "node:stream";
import { type AwsClients, createAwsClients } from "../../lib/aws/clients.js";
import { createLogger, type Logger } from "../../lib/logger.js";
import type { Notifier } from "../../lib/notify.js";
import { createPorts, type Ports } from "../../lib/ports.js";
import type { Report, RunbookContext } from "../../runbooks/types.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import type { System } from "../../systems/schema.js";
import { REGION } from "./aws-account.js";

/** A logger whose records are kept in memory (and can be asserted on). */
export function memoryLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  const logger = createLogger({ stream, logLevel: "DEBUG" });
  return {
    logger,
    lines: () =>
      chunks
        .join("")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** A notifier that keeps what it was given. */
export function recordingNotifier(): Notifier & { reports: Report[] } {
  const reports: Report[] = [];
  return { reports, notify: async (r) => void reports.push(r) };
}

/** Clients for unit tests: standard clients (mocked with aws-sdk-client-mock in each test), fixed region. */
export function testClients(): AwsClients {
  return createAwsClients({ region: REGION, maxAttempts: 3 });
}

/** Options of {@link testContext}. */
export interface TestContextOptions {
  system?: System | string;
  now?: Date | (() => Date);
  dryRun?: boolean;
  clients?: AwsClients;
  env?: Record<string, string | undefined>;
  signal?: AbortSignal;
  deadline?: Date;
  /** Replacements for the ports built from `env` (a fake PostgreSQL, a fixed temp root). */
  ports?: Partial<Ports>;
}

/** A full runbook context with a fixed clock and in-memory logger and notifier. */
export function testContext(options: TestContextOptions = {}): RunbookContext & {
  notifier: ReturnType<typeof recordingNotifier>;
  logLines: () => Record<string, unknown>[];
} {
  const system =
    typeof options.system === "object" ? options.system : findSystem(builtinFleet(), options.system ?? "demo");
  const fixed = options.now ?? new Date("2026-11-21T10:00:00Z");
  const now = typeof fixed === "function" ? fixed : () => fixed;
  const { logger, lines } = memoryLogger();
  const notifier = recordingNotifier();
  const clients = options.clients ?? testClients();
  const env = options.env ?? {};
  return {
    system,
    clients,
    ...createPorts({ env, secrets: clients.secrets, ...(options.ports ? { overrides: options.ports } : {}) }),
    logger,
    now,
    dryRun: options.dryRun ?? false,
    notify: notifier,
    notifier,
    logLines: lines,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.deadline ? { deadline: options.deadline } : {}),
  };
}
