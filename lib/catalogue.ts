import { runbooks } from "../runbooks/index.js";
import { builtinSchedules } from "../schedules/index.js";
import { builtinSystems } from "../systems/index.js";
import { type Fleet, loadFleetFile, parseFleet } from "./fleet.js";

let builtin: Fleet | undefined;

/**
 * The built-in fleet and schedules, validated once (at cold start in Lambda: a bad catalogue fails
 * the deployment's first invocation, not a 3 AM run).
 */
export function builtinFleet(): Fleet {
  builtin ??= parseFleet(
    { systems: builtinSystems, schedules: builtinSchedules },
    { source: "built-in", runbooks: runbooks.map((r) => r.name), remediations: runbooks.map((r) => r.name) },
  );
  return builtin;
}

/** The fleet from `--fleet path.json` when given, else the built-in one. */
export async function loadFleet(path?: string): Promise<Fleet> {
  return path
    ? loadFleetFile(
        path,
        runbooks.map((r) => r.name),
      )
    : builtinFleet();
}
