import type { Fleet } from "../../lib/fleet.js";
import { findSystem } from "../../lib/fleet.js";
import { planRuns } from "../../lib/plan.js";
import type { AnyRunbook } from "../../runbooks/types.js";
import { type CliIo, EXIT, table, writeJson } from "../io.js";

/** `ops plan [--system S] [--days N] [--json]`: next runs, local time and UTC. */
export function planCommand(
  io: CliIo,
  fleet: Fleet,
  registry: readonly AnyRunbook[],
  options: { json: boolean; system?: string; days: number },
): number {
  if (options.system) findSystem(fleet, options.system);
  const runs = planRuns(fleet, registry, {
    now: io.now(),
    days: options.days,
    ...(options.system ? { system: options.system } : {}),
  });
  if (options.json) {
    writeJson(io, runs);
    return EXIT.ok;
  }
  const rows = runs.map((r) => [
    r.system,
    r.runbook,
    `${r.local} ${r.timezone}`,
    `${r.utc.slice(0, 16).replace("T", " ")} UTC`,
    r.note ?? "",
  ]);
  io.out.write(`${table(["system", "runbook", "local time", "utc", "note"], rows)}\n`);
  io.out.write(`\n${runs.length} runs in the next ${options.days} day(s) from ${io.now().toISOString()}\n`);
  return EXIT.ok;
}
