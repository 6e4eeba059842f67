import { readFile } from "node:fs/promises";
import { z } from "zod";
import { errorMessage, UnknownNameError, ValidationError, type ValidationIssue } from "../lib/errors.js";
import { type Schedule, scheduleSchema } from "../schedules/schema.js";
import { backupPathOverlaps, type System, systemSchema } from "./schema.js";

/** The validated fleet: its systems and their schedules. */
export interface Fleet {
  systems: System[];
  schedules: Schedule[];
  /** Where the catalogue came from (`built-in` or a file path). */
  source: string;
}

const fleetFileSchema = z.strictObject({
  systems: z.array(systemSchema).min(1),
  schedules: z.array(scheduleSchema).default([]),
});

function describeValue(value: unknown): string {
  if (value === undefined) return "missing";
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * Turns zod issues into messages that name the system (by id, not array index), the field, the bad
 * value and what is allowed — the information a person needs to fix a catalogue at a glance.
 */
function toIssues(error: z.ZodError, raw: unknown): ValidationIssue[] {
  const systems = (raw as { systems?: { id?: unknown }[] } | undefined)?.systems;
  const schedules = (raw as { schedules?: { system?: unknown; runbook?: unknown }[] } | undefined)?.schedules;
  return error.issues.map((issue) => {
    const path = [...issue.path];
    let where = path.join(".");
    if (path[0] === "systems" && typeof path[1] === "number") {
      const id = systems?.[path[1]]?.id;
      where = [`system "${typeof id === "string" ? id : `#${path[1]}`}"`, ...path.slice(2)].join(".");
    } else if (path[0] === "schedules" && typeof path[1] === "number") {
      const s = schedules?.[path[1]];
      where = [`schedule #${path[1]} (${String(s?.system)}/${String(s?.runbook)})`, ...path.slice(2)].join(".");
    }
    const got = "input" in issue ? ` (got ${describeValue(issue.input)})` : "";
    return { path: where || "(root)", message: `${issue.message}${got}` };
  });
}

/**
 * The schedules' system and runbook names checked against a catalogue that did not pass the schema, so
 * that a person fixes everything in one round instead of meeting the references after the schema.
 */
function rawReferenceIssues(raw: unknown, options: ParseFleetOptions): ValidationIssue[] {
  const file = (raw ?? {}) as { systems?: unknown; schedules?: unknown };
  const systems = Array.isArray(file.systems) ? (file.systems as { id?: unknown }[]) : [];
  const ids = systems.flatMap((s) => (typeof s?.id === "string" ? [s.id] : []));
  const schedules = Array.isArray(file.schedules) ? (file.schedules as { system?: unknown; runbook?: unknown }[]) : [];
  return schedules.flatMap((entry, i) => {
    const where = `schedule #${i} (${String(entry?.system)}/${String(entry?.runbook)})`;
    const issues: ValidationIssue[] = [];
    if (typeof entry?.system === "string" && !ids.includes(entry.system)) {
      issues.push({ path: `${where}.system`, message: `unknown system; known systems: ${ids.join(", ")}` });
    }
    if (typeof entry?.runbook === "string" && options.runbooks && !options.runbooks.includes(entry.runbook)) {
      issues.push({
        path: `${where}.runbook`,
        message: `unknown runbook; known runbooks: ${options.runbooks.join(", ")}`,
      });
    }
    return issues;
  });
}

/** Options of {@link parseFleet}. */
export interface ParseFleetOptions {
  source: string;
  /** Runbook names a schedule may name; unchecked when absent. */
  runbooks?: readonly string[];
  /** Runbooks an alarm may name as its remediation (the registry); unchecked when absent. */
  remediations?: readonly string[];
}

/**
 * Validates a whole catalogue: every system against the schema, ids unique, every schedule naming a
 * known system (and runbook, when the registry is given). Throws one {@link ValidationError} listing
 * every problem found.
 */
export function parseFleet(raw: unknown, options: ParseFleetOptions): Fleet {
  const result = fleetFileSchema.safeParse(raw, { reportInput: true });
  if (!result.success) {
    // One round: the schedules' references are checked too, as far as the raw file lets them be.
    const issues = [...toIssues(result.error, raw), ...rawReferenceIssues(raw, options)];
    throw new ValidationError(`invalid fleet catalogue (${options.source})`, issues);
  }
  const { systems } = result.data;
  const issues: ValidationIssue[] = [...duplicateIdIssues(systems), ...backupPathOverlaps(systems)];
  const schedules = resolveSchedules(result.data.schedules, systems, options, issues);
  issues.push(...remediationIssues(systems, options), ...slackRunbookIssues(systems, options));
  if (issues.length > 0) throw new ValidationError(`invalid fleet catalogue (${options.source})`, issues);
  return { systems, schedules, source: options.source };
}

type ScheduleEntry = z.infer<typeof fleetFileSchema>["schedules"][number];

/** One issue per system id that appears more than once. */
function duplicateIdIssues(systems: readonly System[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const ids = systems.map((s) => s.id);
  for (const [i, id] of ids.entries()) {
    if (ids.indexOf(id) !== i) issues.push({ path: `system "${id}"`, message: "duplicate system id" });
  }
  return issues;
}

/**
 * Turns the file's schedule entries into schedules (id derived, timezone defaulted to the system's),
 * pushing an issue for each unknown system or runbook and each duplicate id onto `issues`.
 */
function resolveSchedules(
  entries: readonly ScheduleEntry[],
  systems: readonly System[],
  options: ParseFleetOptions,
  issues: ValidationIssue[],
): Schedule[] {
  const ids = systems.map((s) => s.id);
  const schedules: Schedule[] = [];
  const seen = new Set<string>();
  for (const [i, entry] of entries.entries()) {
    const where = `schedule #${i} (${entry.system}/${entry.runbook})`;
    const system = systems.find((s) => s.id === entry.system);
    if (!system) {
      issues.push({ path: `${where}.system`, message: `unknown system; known systems: ${ids.join(", ")}` });
      continue;
    }
    if (options.runbooks && !options.runbooks.includes(entry.runbook)) {
      issues.push({
        path: `${where}.runbook`,
        message: `unknown runbook; known runbooks: ${options.runbooks.join(", ")}`,
      });
    }
    const id = [entry.system, entry.runbook, entry.suffix].filter(Boolean).join("-");
    if (seen.has(id)) issues.push({ path: where, message: `duplicate schedule id "${id}"; add a suffix` });
    seen.add(id);
    schedules.push({
      id,
      system: entry.system,
      runbook: entry.runbook,
      expression: entry.expression,
      timezone: entry.timezone ?? system.timezone,
      input: { ...entry.input },
      description: entry.description,
    });
  }
  return schedules;
}

/** One issue per alarm remediation that names a runbook outside `options.remediations`. */
function remediationIssues(systems: readonly System[], options: ParseFleetOptions): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const system of systems) {
    for (const alarm of system.alarms) {
      const runbook = alarm.remediation && "runbook" in alarm.remediation ? alarm.remediation.runbook : undefined;
      if (runbook && options.remediations && !options.remediations.includes(runbook)) {
        issues.push({
          path: `system "${system.id}".alarms.${alarm.id}.remediation.runbook`,
          message: `unknown runbook "${runbook}"; known runbooks: ${options.remediations.join(", ")}`,
        });
      }
    }
  }
  return issues;
}

/** One issue per Slack command entry that names a runbook outside `options.runbooks`. */
function slackRunbookIssues(systems: readonly System[], options: ParseFleetOptions): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const system of systems) {
    for (const [i, entry] of (system.slack?.runbooks ?? []).entries()) {
      if (options.runbooks && !options.runbooks.includes(entry.runbook)) {
        issues.push({
          path: `system "${system.id}".slack.runbooks[${i}].runbook`,
          message: `unknown runbook "${entry.runbook}"; known runbooks: ${options.runbooks.join(", ")}`,
        });
      }
    }
  }
  return issues;
}

/** Reads and validates a fleet catalogue from a JSON file (`ops --fleet path.json`). */
export async function loadFleetFile(path: string, runbooks?: readonly string[]): Promise<Fleet> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new ValidationError(`cannot read fleet file ${path}: ${errorMessage(error)}`, [], { cause: error });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ValidationError(`fleet file ${path} is not valid JSON: ${errorMessage(error)}`, [], { cause: error });
  }
  return parseFleet(raw, { source: path, ...(runbooks ? { runbooks, remediations: runbooks } : {}) });
}

/** The system with this id, or an error that lists the fleet. */
export function findSystem(fleet: Fleet, id: string): System {
  const system = fleet.systems.find((s) => s.id === id);
  if (!system)
    throw new UnknownNameError(
      "system",
      id,
      fleet.systems.map((s) => s.id),
    );
  return system;
}
