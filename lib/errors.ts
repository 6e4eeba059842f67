/**
 * Typed errors. Every error carries a stable `code` so that the CLI can map it to an exit code and a
 * handler can log it as a structured field; wrapped causes travel in the standard `cause`.
 */

/** Base class of every error ops-autopilot raises on purpose. */
export class OpsError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** One problem found while validating input: where it is, what was found, what is allowed. */
export interface ValidationIssue {
  /** Dotted path to the bad field, starting with the system id when there is one. */
  path: string;
  message: string;
}

/**
 * Bad input: a malformed event, an invalid catalogue, a bad CLI argument. Nothing has been changed
 * when this is thrown. The CLI exits 2 on it.
 */
export class ValidationError extends OpsError {
  readonly issues: ValidationIssue[];

  constructor(message: string, issues: ValidationIssue[] = [], options?: { cause?: unknown }) {
    const detail = issues.map((issue) => `  - ${issue.path}: ${issue.message}`).join("\n");
    super("VALIDATION", detail ? `${message}\n${detail}` : message, options);
    this.issues = issues;
  }
}

/** A name that is not in a catalogue; the message lists what exists. */
export class UnknownNameError extends ValidationError {
  readonly kind: string;
  readonly known: readonly string[];

  constructor(kind: string, name: string, known: readonly string[]) {
    super(`unknown ${kind} "${name}"; known ${kind}s: ${known.join(", ") || "(none)"}`);
    this.kind = kind;
    this.known = known;
  }
}

/** A runbook could not do its work (as opposed to bad input). */
export class RunbookError extends OpsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("RUNBOOK", message, options);
  }
}

/** A required tool or configuration is missing on this machine or account. */
export class PrerequisiteError extends OpsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("PREREQUISITE", message, options);
  }
}

/** Narrows an unknown thrown value to a message, without losing non-Error throws. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === "string" ? error : JSON.stringify(error);
}

/** The `name` of a thrown AWS SDK error (`NoSuchKey`, `PreconditionFailed`, …); empty when there is none. */
export function errorName(error: unknown): string {
  return (error as { name?: string } | undefined)?.name ?? "";
}
