import { runbooks } from "../runbooks/index.js";
import { builtinSchedules } from "../schedules/index.js";
import { builtinSystems } from "./builtin.js";
import { type Fleet, loadFleetFile, parseFleet } from "./fleet.js";

/**
 * The catalogue, in one place: `schema.ts` checks one system, `builtin.ts` lists the built-in ones,
 * `fleet.ts` checks a whole fleet (systems and schedules together) and loads a `--fleet` file. Import the
 * catalogue from here; only `schedules/` imports `builtin.ts` directly, because this module needs the
 * schedules to build the built-in fleet.
 */
export { builtinSystems } from "./builtin.js";
export { type Fleet, findSystem, loadFleetFile, type ParseFleetOptions, parseFleet } from "./fleet.js";
export type { System, SystemInput } from "./schema.js";

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
