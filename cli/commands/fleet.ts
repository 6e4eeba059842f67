import { writeFile } from "node:fs/promises";
import type { ScheduleInput } from "../../schedules/schema.js";
import { type Fleet, findSystem } from "../../systems/index.js";
import { type CliIo, EXIT } from "../io.js";

/**
 * The fleet (or one system of it) in the shape `--fleet F` reads: `{ systems, schedules }`, with every
 * default the schema filled in written out, so the file says exactly what runs. A test feeds it back.
 */
export function exportFleet(fleet: Fleet, options: { system?: string } = {}) {
  const systems = options.system ? [findSystem(fleet, options.system)] : fleet.systems;
  const ids = new Set(systems.map((s) => s.id));
  const schedules: ScheduleInput[] = fleet.schedules
    .filter((s) => ids.has(s.system))
    .map((s) => {
      const base = `${s.system}-${s.runbook}`;
      const suffix = s.id.length > base.length ? s.id.slice(base.length + 1) : undefined;
      return {
        system: s.system,
        runbook: s.runbook,
        expression: s.expression,
        timezone: s.timezone,
        input: s.input,
        description: s.description,
        ...(suffix ? { suffix } : {}),
      };
    });
  return { systems, schedules };
}

/** `ops fleet export [--system S] [--out F] [--fleet F]`. */
export async function fleetCommand(
  io: CliIo,
  fleet: Fleet,
  options: { action: string; system?: string; out?: string },
): Promise<number> {
  const text = `${JSON.stringify(exportFleet(fleet, options.system ? { system: options.system } : {}), null, 2)}\n`;
  if (options.out) {
    await writeFile(options.out, text);
    io.err.write(`wrote ${options.out}\n`);
  } else io.out.write(text);
  return EXIT.ok;
}
