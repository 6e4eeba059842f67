import { z } from "zod";
import type { AnyRunbook } from "../runbooks/types.js";

interface PropertySchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  enum?: unknown[];
  anyOf?: PropertySchema[];
  format?: string;
}

function typeOf(p: PropertySchema): string {
  if (p.enum) return p.enum.map((v) => String(v)).join("|");
  if (p.anyOf) return p.anyOf.map(typeOf).join(" or ");
  const base = Array.isArray(p.type) ? p.type.join("|") : (p.type ?? "value");
  const range = p.minimum !== undefined || p.maximum !== undefined ? ` ${p.minimum ?? "…"}–${p.maximum ?? "…"}` : "";
  return `${base === "boolean" ? "true|false" : base}${range}${p.format ? ` (${p.format})` : ""}`;
}

/**
 * `ops run <runbook> --help`: the runbook's inputs generated from its zod schema (type, range, default,
 * description), so the help can never drift from what the runbook accepts.
 */
export function runbookHelp(runbook: AnyRunbook): string {
  const schema = z.toJSONSchema(runbook.input, { io: "input", unrepresentable: "any" }) as {
    properties?: Record<string, PropertySchema>;
    required?: string[];
  };
  const required = new Set(schema.required ?? []);
  const rows = Object.entries(schema.properties ?? {}).map(([key, p]) => {
    const head = `${key}=<${typeOf(p)}>${required.has(key) ? " (required)" : ""}`;
    const tail = [p.description, p.default !== undefined ? `default ${JSON.stringify(p.default)}` : ""]
      .filter(Boolean)
      .join("; ");
    return `  ${head.padEnd(34)} ${tail}`.trimEnd();
  });
  return `ops run ${runbook.name} --system S [--dry-run] [--json] [key=value ...]
  ${runbook.description}${runbook.destructive ? " (destructive: try --dry-run first)" : ""}

Inputs:
${rows.join("\n") || "  (none)"}
`;
}
