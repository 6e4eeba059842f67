#!/usr/bin/env node
// Runs the TypeScript CLI through tsx so `npx ops` works on a fresh clone with no build step.
import { register } from "tsx/esm/api";

// The pinned AWS SDK supports Node 20 (Lambda runs 22); its reminder about future versions is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
register();
const { main } = await import("../cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
