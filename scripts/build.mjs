#!/usr/bin/env node
// Compiles the runtime TypeScript (not tests, benches or sst.config.ts) to dist/ with esbuild, one
// file per source, so `ops` starts without compiling at every start (tsx took 2–3 s here). Type
// checking stays with `npm run typecheck`; this only strips types. bin/ops.js uses dist/ when its stamp
// is newer than every source, and falls back to tsx otherwise, so an edited checkout never runs stale code.
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { newestSourceMtime, SOURCE_DIRS } from "../bin/sources.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = join(root, "dist");

function sources(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

const entryPoints = SOURCE_DIRS.flatMap((d) => {
  try {
    return statSync(join(root, d)).isDirectory() ? sources(join(root, d)) : [];
  } catch {
    return [];
  }
});
const newest = newestSourceMtime(root);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints,
  outdir: out,
  outbase: root,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: "linked",
  logLevel: "warning",
});
writeFileSync(
  join(out, ".stamp.json"),
  `${JSON.stringify({ newestSourceMtime: newest, files: entryPoints.length })}\n`,
);
console.error(`ops-autopilot: compiled ${entryPoints.length} files to ${relative(process.cwd(), out) || "dist"}/`);
