import { plural } from "../../lib/text.js";
import type { AnyRunbook } from "../../runbooks/types.js";
import { planRuns } from "../../schedules/upcoming.js";
import { type Fleet, findSystem } from "../../systems/index.js";
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
  // Schedules that fire many times a day (hourly janitors) would drown the rest: one row each, with a count.
  const perSchedule = new Map<string, number>();
  for (const r of runs) perSchedule.set(r.scheduleId, (perSchedule.get(r.scheduleId) ?? 0) + 1);
  const frequent = (id: string) => (perSchedule.get(id) ?? 0) > options.days * 4;
  const shown = new Set<string>();
  const rows = runs
    .filter((r) => !frequent(r.scheduleId) || (!shown.has(r.scheduleId) && shown.add(r.scheduleId)))
    .map((r) => [
      r.system,
      r.runbook,
      `${r.local} ${r.timezone}`,
      `${r.utc.slice(0, 16).replace("T", " ")} UTC`,
      [frequent(r.scheduleId) ? `first of ${perSchedule.get(r.scheduleId)} runs` : "", r.note ?? ""]
        .filter(Boolean)
        .join("; "),
    ]);
  io.out.write(`${table(["system", "runbook", "local time", "utc", "note"], rows)}\n`);
  io.out.write(
    `\n${plural(runs.length, "run")} in the next ${plural(options.days, "day")} from ${io.now().toISOString()}\n`,
  );
  return EXIT.ok;
}
