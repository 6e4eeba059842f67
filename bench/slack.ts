/**
 * The `/ops` command function against Slack's 3 s: handler time for 1,000 signed requests (p50, p99)
 * against a baseline of the bare minimum work (HMAC of the body, JSON of the answer) in the same run;
 * the cold import of the deployed bundle (esbuild, minified, as Lambda loads it) against importing an
 * empty module, medians of interleaved fresh processes; the bundle's size. Targets (issue 15): p99 ≤ 50 ms
 * warm, cold import ≤ 150 ms over the empty module, bundle ≤ 500 KB.
 * Run with `npm run bench:slack` (`-- --runs 15`).
 */
import { spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { createSlackCommandHandler } from "../functions/slack.js";
import type { SlackAccessTable } from "../lib/slack/access.js";
import { memoryReplayGuard } from "../lib/slack/replay.js";
import { slackSignature } from "../lib/slack/verify.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const runsFlag = process.argv.indexOf("--runs");
const runs = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : 15;
const REQUESTS = 1000;
const SECRET = "bench-signing-secret";

const table: SlackAccessTable = {
  systems: {
    "flash-sale": {
      name: "Flash Sale",
      runbooks: {
        backup: { users: ["U0ALICE01"], userGroups: [], channels: ["C0OPS0001"], destructive: false, description: "b" },
      },
    },
  },
  workers: { backup: "ops-autopilot-bench-worker-backup" },
};

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};
const median = (xs: number[]) => percentile(xs, 50);

function signedEvent(i: number) {
  const body = new URLSearchParams({
    user_id: "U0ALICE01",
    channel_id: "C0OPS0001",
    command: "/ops",
    text: `backup flash-sale note=run${i}`,
    response_url: `https://hooks.slack.com/commands/T0/${i}/x`,
    trigger_id: `${i}.1.x`,
  }).toString();
  const ts = String(Math.floor(Date.now() / 1000));
  return {
    body,
    event: {
      version: "2.0",
      routeKey: "$default",
      rawPath: "/",
      rawQueryString: "",
      headers: { "x-slack-request-timestamp": ts, "x-slack-signature": slackSignature(SECRET, ts, body) },
      requestContext: {
        http: { method: "POST", path: "/", protocol: "HTTP/1.1", sourceIp: "127.0.0.1", userAgent: "" },
      },
      body: Buffer.from(body).toString("base64"),
      isBase64Encoded: true,
    } as never,
  };
}

async function warm() {
  let invoked = 0;
  const handler = createSlackCommandHandler({
    table,
    signingSecret: async () => SECRET,
    replay: memoryReplayGuard({ now: () => new Date() }),
    // The asynchronous invoke's network time is Lambda's, not ours: answered at once here, as 202.
    lambda: {
      invokeEvent: async () => {
        invoked += 1;
      },
    },
    logger: { info: () => {}, warn: () => {}, error: () => {} },
    now: () => new Date(),
  });
  const events = Array.from({ length: REQUESTS }, (_, i) => signedEvent(i));
  const handlerMs: number[] = [];
  const baselineMs: number[] = [];
  for (const { body, event } of events) {
    let start = process.hrtime.bigint();
    const result = await handler(event);
    handlerMs.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (result.statusCode !== 200) throw new Error(`request refused: ${result.body}`);
    start = process.hrtime.bigint();
    createHmac("sha256", SECRET).update(`v0:0:${body}`).digest("hex");
    JSON.stringify({ response_type: "ephemeral", text: "Accepted" });
    baselineMs.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  if (invoked !== REQUESTS) throw new Error(`${invoked} of ${REQUESTS} requests invoked a worker`);
  return { handlerMs, baselineMs };
}

async function cold() {
  const dir = mkdtempSync(join(tmpdir(), "bench-slack-"));
  try {
    const bundle = join(dir, "slack.mjs");
    await build({
      entryPoints: [join(root, "functions/slack.ts")],
      bundle: true,
      minify: true,
      platform: "node",
      format: "esm",
      target: "node20",
      outfile: bundle,
      // Lambda's runtime ships no AWS SDK we rely on: everything is in the bundle, as SST deploys it.
      banner: { js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);" },
    });
    const empty = join(dir, "empty.mjs");
    writeFileSync(empty, "export {};\n");
    const importOnce = (file: string) => {
      const script = `const t=process.hrtime.bigint();await import(${JSON.stringify(file)});console.log(Number(process.hrtime.bigint()-t)/1e6)`;
      const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`import of ${file} failed: ${r.stderr}`);
      return Number(r.stdout.trim());
    };
    const bundleMs: number[] = [];
    const emptyMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      emptyMs.push(importOnce(empty));
      bundleMs.push(importOnce(bundle));
    }
    return { bundleMs, emptyMs, bytes: statSync(bundle).size };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const w = await warm();
const c = await cold();
const p50 = percentile(w.handlerMs, 50);
const p99 = percentile(w.handlerMs, 99);
const b50 = percentile(w.baselineMs, 50);
const coldOver = median(c.bundleMs) - median(c.emptyMs);
const met = (ok: boolean) => (ok ? "met" : "NOT met");
console.log(`/ops command function (node ${process.version}), ${REQUESTS} signed requests, ${runs} cold imports`);
console.log(
  `handler        p50 ${p50.toFixed(3)} ms, p99 ${p99.toFixed(3)} ms; baseline (HMAC + JSON) p50 ${b50.toFixed(3)} ms: p50 ×${(p50 / b50).toFixed(1)}  (target p99 ≤ 50 ms: ${met(p99 <= 50)})`,
);
console.log(
  `cold import    bundle ${median(c.bundleMs).toFixed(1)} ms, empty module ${median(c.emptyMs).toFixed(1)} ms: +${coldOver.toFixed(1)} ms, ×${(median(c.bundleMs) / median(c.emptyMs)).toFixed(1)}  (target ≤ +150 ms: ${met(coldOver <= 150)})`,
);
console.log(
  `bundle         ${(c.bytes / 1024).toFixed(1)} KB minified (esbuild)  (target ≤ 500 KB: ${met(c.bytes <= 500 * 1024)})`,
);
