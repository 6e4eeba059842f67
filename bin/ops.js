#!/usr/bin/env node
// Runs the compiled CLI from dist/ (`npm run build`; ensure-deps builds it) when it is current, else
// the TypeScript through tsx, so an edited checkout never runs stale code and a fresh one starts fast.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { newestSourceMtime } from "./sources.js";

// The pinned AWS SDK supports Node 20 (Lambda runs 22); its reminder about future versions is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const root = fileURLToPath(new URL("..", import.meta.url));

// `ops plan | head`: the reader went away, which is not an error of ours.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
}

function distIsCurrent() {
  try {
    const stamp = JSON.parse(readFileSync(new URL("../dist/.stamp.json", import.meta.url), "utf8"));
    return stamp.newestSourceMtime >= newestSourceMtime(root);
  } catch {
    return false;
  }
}

let main;
if (distIsCurrent()) {
  ({ main } = await import("../dist/cli/main.js"));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../cli/main.ts"));
}
process.exitCode = await main(process.argv.slice(2));
