/**
 * Rollback benchmark (not part of `npm test`): `npm run bench:rollback [-- --triggers 1000 --latency 50
 * --concurrency 20]`.
 *
 * 1. Our own time from a trigger received to `UpdateService` sent, over `triggers` rollbacks of distinct
 *    services against a simulated ECS whose every call takes `latency` ms (a real timer), p50 and p99.
 *    Baseline, measured in the same run: the reads we cannot avoid — one DescribeServices, then the
 *    UpdateService — sent bare through the same client. Target: p99 ≤ 2 s; the ratio shows our overhead.
 * 2. EZ Tracking Board's whole timeline on a simulated clock, through the real health-probe runbook and a
 *    real HTTP health endpoint: first failed probe → trigger (unhealthy threshold × interval) → rollback
 *    issued → healthy, with a 3-minute deployment. Target ≤ 5 minutes (the guide's limit); printed as a
 *    ratio of that limit and of the ideal (threshold × interval + deployment).
 */
import { CloudWatchClient, DescribeAlarmsCommand } from "@aws-sdk/client-cloudwatch";
import { DescribeServicesCommand, UpdateServiceCommand } from "@aws-sdk/client-ecs";
import { mockClient } from "aws-sdk-client-mock";
import { createAwsClients } from "../lib/aws/clients.js";
import { createLogger } from "../lib/logger.js";
import { silentNotifier } from "../lib/notify.js";
import { createPorts } from "../lib/ports.js";
import { healthProbeRunbook } from "../runbooks/health-probe/index.js";
import { rollbackRunbook } from "../runbooks/rollback/index.js";
import { KNOWN_GOOD_TAG } from "../runbooks/rollback/tags.js";
import { parseRunbookInput } from "../runbooks/runner.js";
import type { RunbookContext } from "../runbooks/types.js";
import { builtinFleet, findSystem } from "../systems/index.js";
import { type System, systemSchema } from "../systems/schema.js";
import { HealthServer } from "../tests/helpers/health-server.js";
import { SimClock, SimulatedEcs, taskDefinitionArn } from "../tests/helpers/simulated-ecs.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(value) || value < 1) throw new Error(`--${name} must be a positive number`);
  return value;
}

const TRIGGERS = option("triggers", 1000);
const LATENCY_MS = option("latency", 50);
const CONCURRENCY = option("concurrency", 20);

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
};
const ms = (value: number) => `${value.toFixed(1)} ms`;
const mmss = (value: number) =>
  `${Math.floor(value / 60_000)}m${String(Math.round((value % 60_000) / 1000)).padStart(2, "0")}s`;

const logger = createLogger({ logLevel: "ERROR" });

function context(system: System, clock: SimClock, clients = createAwsClients({ region: "us-east-1" })): RunbookContext {
  return {
    system,
    clients,
    logger,
    now: clock.now,
    dryRun: false,
    notify: silentNotifier,
    ...createPorts({ env: {}, secrets: clients.secrets }),
    sleep: clock.sleep,
  };
}

async function pool<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

/** Part 1: trigger received → UpdateService sent. */
async function triggerToUpdate(): Promise<void> {
  const clock = new SimClock(Date.parse("2026-11-21T10:00:00Z"));
  const ecs = new SimulatedEcs({ clock, cluster: "bench", realLatencyMs: LATENCY_MS });
  const names = Array.from({ length: TRIGGERS }, (_, i) => `svc-${i}`);
  for (const name of names) {
    ecs.addService({ name, revision: `${name}:8`, tags: { [KNOWN_GOOD_TAG]: taskDefinitionArn(`${name}:7`) } });
  }
  const base = findSystem(builtinFleet(), "ez-tracking");
  const system = systemSchema.parse({
    ...base,
    runtime: { kind: "ecs", cluster: "bench", services: names.map((name) => ({ name })) },
    health: [],
  });
  const clients = createAwsClients({ region: "us-east-1" });

  // Baseline: the two calls a rollback cannot do without, sent bare.
  const baseline: number[] = [];
  await pool(names.slice(0, Math.min(200, TRIGGERS)), CONCURRENCY, async (name) => {
    const started = performance.now();
    await clients.ecs.send(new DescribeServicesCommand({ cluster: "bench", services: [name], include: ["TAGS"] }));
    const sent = performance.now();
    await clients.ecs
      .send(new UpdateServiceCommand({ cluster: "bench", service: `${name}-baseline`, taskDefinition: `${name}:7` }))
      .catch(() => {});
    baseline.push(sent - started);
  });

  const ours: number[] = [];
  await pool(names, CONCURRENCY, async (name) => {
    const started = performance.now();
    const input = parseRunbookInput(rollbackRunbook, {
      service: name,
      follow: false,
      trigger: { kind: "alarm", alarmName: `ops-autopilot-bench-${name}` },
    });
    await rollbackRunbook.run(context(system, clock, clients), input);
    const sent = ecs.calls.find(
      (c) => c.command === "UpdateService" && (c.input as { service?: string }).service === name,
    );
    if (!sent) throw new Error(`no UpdateService for ${name}`);
    ours.push(sent.wall - started);
  });
  ecs.mock.restore();

  const [p50, p99, b50, b99] = [
    percentile(ours, 50),
    percentile(ours, 99),
    percentile(baseline, 50),
    percentile(baseline, 99),
  ];
  console.log(
    `trigger received → UpdateService sent, ${TRIGGERS} triggers, ${LATENCY_MS} ms per ECS call, ${CONCURRENCY} at a time`,
  );
  console.log(`  baseline (one DescribeServices, bare): p50 ${ms(b50)}  p99 ${ms(b99)}`);
  console.log(
    `  rollback runbook:                      p50 ${ms(p50)}  p99 ${ms(p99)}  (target p99 ≤ 2000 ms: ${p99 <= 2000 ? "met" : "MISSED"})`,
  );
  console.log(`  ratio to baseline:                     p50 ${(p50 / b50).toFixed(2)}  p99 ${(p99 / b99).toFixed(2)}`);
}

/** Part 2: EZ's whole timeline on a simulated clock. */
async function ezTimeline(): Promise<void> {
  const server = new HealthServer();
  await server.start();
  const clock = new SimClock(Date.parse("2026-11-21T10:00:00Z"));
  const deployMs = 180_000;
  const ecs = new SimulatedEcs({ clock, cluster: "ez-tracking", latencyMs: LATENCY_MS, deployMs });
  const cloudwatch = mockClient(CloudWatchClient);
  cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [], $metadata: {} });
  try {
    const base = findSystem(builtinFleet(), "ez-tracking");
    const check = base.health.find((h) => h.target === "backend");
    const system: System = {
      ...base,
      health: [{ ...(check ?? { target: "backend", path: "/health" }), baseUrl: server.url, timeoutSeconds: 1 }],
    };
    const interval = check?.intervalSeconds ?? 30;
    const threshold = check?.unhealthyThreshold ?? 3;
    ecs.addService({ name: "frontend", revision: "ez-frontend:3" });
    ecs.addService({
      name: "backend",
      revision: "ez-backend:8",
      deployedAgoMs: 120_000,
      tags: { [KNOWN_GOOD_TAG]: taskDefinitionArn("ez-backend:7") },
    });
    server.mode = () => (ecs.running("backend") === "ez-backend:7" && ecs.steady("backend") ? "up" : "status");
    const ctx = context(system, clock);
    const t0 = clock.now().getTime();
    let details: Record<string, unknown> | undefined;
    for (let minute = 0; minute < 8 && !details; minute++) {
      clock.advance(minute === 0 ? 0 : t0 + minute * 60_000 - clock.now().getTime());
      const report = await healthProbeRunbook.run(ctx, parseRunbookInput(healthProbeRunbook, { service: "backend" }));
      details = report.details?.backend as Record<string, unknown> | undefined;
    }
    const timeline = (details?.timeline ?? {}) as Record<string, string>;
    const at = (iso: string | undefined) => (iso ? Date.parse(iso) - t0 : Number.NaN);
    const total = at(timeline.healthyAt);
    const limit = (system.rollback.maxMinutes ?? 5) * 60_000;
    const ideal = (threshold - 1) * interval * 1000 + deployMs;
    console.log(
      `\nEZ Tracking Board timeline (probe every ${interval} s, ${threshold} failures, ${deployMs / 60_000}-min deployment, ${LATENCY_MS} ms per ECS call, simulated clock)`,
    );
    console.log(`  first failed probe     ${mmss(at(String(details?.firstFailureAt)))}`);
    console.log(`  trigger (${threshold}rd failure)  ${mmss(at(timeline.triggerAt))}`);
    console.log(
      `  rollback issued        ${mmss(at(timeline.issuedAt))}  (+${ms(at(timeline.issuedAt) - at(timeline.triggerAt))})`,
    );
    console.log(`  steady                 ${mmss(at(timeline.steadyAt))}`);
    console.log(`  healthy (probe passes) ${mmss(total)}`);
    console.log(
      `  total ${mmss(total)}: ratio to the 5-min limit ${(total / limit).toFixed(2)} (${total <= limit ? "met" : "MISSED"}); ratio to the ideal ${mmss(ideal)} ${(total / ideal).toFixed(2)}`,
    );
  } finally {
    ecs.mock.restore();
    cloudwatch.restore();
    await server.stop();
  }
}

await triggerToUpdate();
await ezTimeline();
