import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "..", "..");

/**
 * Folders under `lib/` still allowed to import from `runbooks/`, while issue #11's backup and drill moves
 * (lib/backup → runbooks/backup/, lib/drill → runbooks/restore-drill/ …) are merged. Empty it after those
 * merges: then nothing in `lib/` may import a runbook.
 */
const LIB_IMPORTS_RUNBOOKS_ALLOWED_UNTIL_BACKUP_AND_DRILL_MOVE: readonly string[] = [];

/** Every `.ts` file under `dir` (relative to the repository, `/`-separated). */
function sources(dir: string): string[] {
  const found: string[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts")) found.push(relative(ROOT, path).split(sep).join("/"));
    }
  };
  walk(join(ROOT, dir));
  return found.sort();
}

/** Code without its comments, so that a comment naming `process.env` or an old path is not a finding. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
}

/** The repository paths a module imports (static, re-exports, dynamic, `vi.mock`), relative ones only. */
function importsOf(file: string, text: string): string[] {
  const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["'](\.{1,2}\/[^"']+)["']/g)];
  return specifiers.map((m) =>
    relative(ROOT, resolve(ROOT, dirname(file), m[1] ?? ""))
      .split(sep)
      .join("/"),
  );
}

/** `lib/` files that import anything under `runbooks/`, with what they import. */
function libImportsOfRunbooks(files: { path: string; text: string }[], allowed: readonly string[]): string[] {
  return files
    .filter((f) => !allowed.some((prefix) => f.path.startsWith(prefix)))
    .flatMap((f) =>
      importsOf(f.path, code(f.text)).flatMap((target) =>
        target.startsWith("runbooks/") ? [`${f.path} → ${target}`] : [],
      ),
    );
}

/** Files that read the process environment (`process.env`, `process["env"]`, `{ env } = process`). */
function envReaders(files: { path: string; text: string }[]): string[] {
  const reads =
    /\bprocess\s*(?:\?\.|\.)\s*env\b|\bprocess\s*\[\s*["'`]env["'`]\s*\]|\{[^}]*\benv\b[^}]*\}\s*=\s*process\b/;
  return files.filter((f) => reads.test(code(f.text))).map((f) => f.path);
}

const read = (paths: string[]) => paths.map((path) => ({ path, text: readFileSync(join(ROOT, path), "utf8") }));

describe("the layout (README, 'Layout — where does X live?')", () => {
  it("lib/ holds adapters only: no file under lib/ imports from runbooks/ (allow-list aside)", () => {
    // Prepare
    const files = read(sources("lib"));
    // Act
    const offenders = libImportsOfRunbooks(files, LIB_IMPORTS_RUNBOOKS_ALLOWED_UNTIL_BACKUP_AND_DRILL_MOVE);
    // Assess
    expect(files.length).toBeGreaterThan(40);
    expect(offenders).toEqual([]);
  });

  it("no file under runbooks/ reads process.env: runbooks get what they need through their context", () => {
    const files = read(sources("runbooks"));
    expect(files.length).toBeGreaterThan(40);
    expect(envReaders(files)).toEqual([]);
  });

  it("the allow-list names only folders that exist and still import runbooks/ (so it shrinks as moves land)", () => {
    for (const prefix of LIB_IMPORTS_RUNBOOKS_ALLOWED_UNTIL_BACKUP_AND_DRILL_MOVE) {
      const files = read(sources("lib").filter((p) => p.startsWith(prefix)));
      expect(libImportsOfRunbooks(files, []), `${prefix} no longer imports runbooks/: drop it`).not.toEqual([]);
    }
  });

  it("the checks find what they look for: an import of runbooks/ from lib/ and an env read in a runbook", () => {
    // Prepare: each way of writing the forbidden thing, and each near miss that is not one.
    const lib = [
      { path: "lib/a.ts", text: 'import type { Report } from "../runbooks/types.js";' },
      { path: "lib/x/b.ts", text: 'export { runbooks } from "../../runbooks/index.js";' },
      { path: "lib/c.ts", text: 'const m = await import("../runbooks/backup/index.js");' },
      { path: "lib/d.ts", text: '// see ../runbooks/types.js\nimport { x } from "./runbooks/local.js";' },
      { path: "lib/backup/e.ts", text: 'import type { Permission } from "../../runbooks/types.js";' },
    ];
    const runbooks = [
      { path: "runbooks/a.ts", text: "const bucket = process.env.BUCKET;" },
      { path: "runbooks/b.ts", text: 'const bucket = process["env"].BUCKET;' },
      { path: "runbooks/c.ts", text: "const { env } = process;" },
      { path: "runbooks/d.ts", text: "/** never reads `process.env` */\nconst env = ctx.settings;" },
    ];
    // Act
    const offenders = libImportsOfRunbooks(lib, ["lib/backup/"]);
    // Assess
    expect(offenders).toEqual([
      "lib/a.ts → runbooks/types.js",
      "lib/x/b.ts → runbooks/index.js",
      "lib/c.ts → runbooks/backup/index.js",
    ]);
    expect(envReaders(runbooks)).toEqual(["runbooks/a.ts", "runbooks/b.ts", "runbooks/c.ts"]);
  });
});
