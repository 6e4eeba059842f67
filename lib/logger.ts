import { Console } from "node:console";
import { Logger } from "@aws-lambda-powertools/logger";
import type { LogLevel } from "@aws-lambda-powertools/logger/types";
import { redactReplacer } from "./redact.js";

/** The one logger type of the project: Powertools' structured JSON logger. */
export type { Logger } from "@aws-lambda-powertools/logger";

/** Options of {@link createLogger}. */
export interface CreateLoggerOptions {
  /** `service` field of every record. */
  serviceName?: string;
  /** Defaults to `POWERTOOLS_LOG_LEVEL`/`LOG_LEVEL`, else INFO. */
  logLevel?: LogLevel;
  /**
   * Where records go. Lambda: the default (stdout, read by CloudWatch). The CLI passes stderr so that
   * `--json` output on stdout stays machine-readable.
   */
  stream?: NodeJS.WritableStream;
}

/** Builds the project's logger; every record passes through the secret redactor. */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const logger = new Logger({
    serviceName: options.serviceName ?? "ops-autopilot",
    ...(options.logLevel ? { logLevel: options.logLevel } : {}),
    jsonReplacerFn: redactReplacer,
  });
  if (options.stream) {
    // Powertools writes through a private Console bound to stdout and offers no option to change the
    // stream; replacing that Console is the narrowest way to keep stdout clean for the CLI.
    const target = options.stream;
    (logger as unknown as { console: Console }).console = new Console({ stdout: target, stderr: target });
  }
  return logger;
}
