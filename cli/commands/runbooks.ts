import type { AnyRunbook } from "../../runbooks/types.js";
import { type CliIo, EXIT, table, writeJson } from "../io.js";

/** `ops runbooks [--json]`: the registry. */
export function runbooksCommand(io: CliIo, registry: readonly AnyRunbook[], options: { json: boolean }): number {
  const entries = registry.map((r) => ({ name: r.name, description: r.description, destructive: r.destructive }));
  if (options.json) {
    writeJson(io, entries);
    return EXIT.ok;
  }
  io.out.write(
    `${table(
      ["runbook", "destructive", "description"],
      entries.map((e) => [e.name, e.destructive ? "yes" : "no", e.description]),
    )}\n`,
  );
  return EXIT.ok;
}
