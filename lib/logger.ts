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
  /**
   * `text`: each record as one line a person reads (`WARN  audit record failed  error=…`), for a CLI on a
   * terminal; `json` (the default): the structured record, for Lambda, pipes and log tools.
   */
  format?: "json" | "text";
}

/** Fields every record carries that a person at a terminal does not need to read. */
const QUIET_FIELDS = new Set([
  "level",
  "message",
  "timestamp",
  "service",
  "sampling_rate",
  "xray_trace_id",
  "function_request_id",
]);

/**
 * One JSON log record as a line for a terminal (pure): level, message, then the other fields as
 * `key=value`. A line that is not a JSON record is returned as it is.
 */
export function humanLogLine(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (!record || typeof record !== "object" || typeof record.message !== "string") return line;
  const fields = Object.entries(record)
    .filter(([key]) => !QUIET_FIELDS.has(key))
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`);
  const level = String(record.level ?? "").padEnd(5);
  return [`${level} ${record.message}`, ...fields].join("  ");
}

/** `target`, with every JSON record written to it turned into {@link humanLogLine}. */
function humanStream(target: NodeJS.WritableStream): NodeJS.WritableStream {
  return new Proxy(target, {
    get(object, property, receiver) {
      if (property === "write") {
        return (chunk: unknown, ...rest: unknown[]) => {
          const text =
            typeof chunk === "string" || Buffer.isBuffer(chunk)
              ? String(chunk)
                  .split("\n")
                  .map((l) => (l ? humanLogLine(l) : l))
                  .join("\n")
              : chunk;
          return (object.write as (...args: unknown[]) => boolean).call(object, text, ...rest);
        };
      }
      const value = Reflect.get(object, property, receiver);
      return typeof value === "function" ? value.bind(object) : value;
    },
  });
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
    const target = options.format === "text" ? humanStream(options.stream) : options.stream;
    (logger as unknown as { console: Console }).console = new Console({ stdout: target, stderr: target });
  }
  return logger;
}
