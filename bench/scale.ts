/**
 * Off-hours scaling benchmark (not part of `npm test`): `npx tsx bench/scale.ts [--services 200]
 * [--concurrency 8] [--latency 50] [--throttle 0.1] [--seed 7]`.
 *
 * Runs the real scale-down and scale-up runbooks over a simulated ECS + Application Auto Scaling account
 * (aws-sdk-client-mock): every call takes `latency` ms, and `throttle` of the calls are throttled once
 * (ThrottlingException, then success on retry). Prints, per run, wall time ÷ the ideal for the chosen
 * concurrency — the API calls that succeeded, `concurrency` at a time, each taking `latency` — with a
 * no-throttling run as the baseline of the runbooks' own overhead. Target: ratio ≤ 1.5.
 *
 * EKS: the same runbooks over 200 Kubernetes deployments (half with an HPA) in the local HTTPS Kubernetes API
 * of the tests (`tests/helpers/kube-api.ts`), through the official client: every call takes `latency` ms and
 * `conflicts` of the writes (reads never conflict) answer 409 once (a stale resourceVersion), which the run retries on a fresh read.
 * Ideal: the calls that succeeded (reads, writes and the fresh reads), `concurrency` at a time. Target ≤ 1.5.
 *
 * Asserts (exit 1) that no request exceeded an API's batch limit (DescribeServices ≤ 10 services,
 * DescribeScalableTargets ≤ 50 ids and MaxResults ≤ 50) and that no more than `concurrency` calls were in
 * flight at once; timing is printed, never asserted.
 */
import {
  DescribeScalableTargetsCommand,
  type DescribeScalableTargetsRequest,
  RegisterScalableTargetCommand,
  type RegisterScalableTargetRequest,
} from "@aws-sdk/client-application-auto-scaling";
import {
  DescribeServicesCommand,
  type DescribeServicesRequest,
  ECSServiceException,
  TagResourceCommand,
  type TagResourceRequest,
  UntagResourceCommand,
  type UntagResourceRequest,
  UpdateServiceCommand,
  type UpdateServiceRequest,
} from "@aws-sdk/client-ecs";
import { DescribeClusterCommand, EKSClient } from "@aws-sdk/client-eks";
import { mockClient } from "aws-sdk-client-mock";
import { createAwsClients } from "../lib/aws/clients.js";
import { createLogger } from "../lib/logger.js";
import { silentNotifier } from "../lib/notify.js";
import { createPorts } from "../lib/ports.js";
import { scaleDownRunbook } from "../runbooks/scale-down/index.js";
import { scaleUpRunbook } from "../runbooks/scale-up/index.js";
import { DESCRIBE_SERVICES_MAX, SCALABLE_TARGETS_MAX } from "../runbooks/scaling/ecs.js";
import { DEFAULT_CONCURRENCY } from "../runbooks/scaling/run.js";
import type { AnyRunbook, Report, RunbookContext } from "../runbooks/types.js";
import { type SystemInput, systemSchema } from "../systems/schema.js";
import { ACCOUNT_ID, CREDENTIALS } from "../tests/helpers/aws-account.js";
import { startKubeApi } from "../tests/helpers/kube-api.js";

// The pinned AWS SDK supports Node 20 (Lambda runs 22); its reminder about future versions is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a number`);
  return value;
}

const SERVICES = option("services", 200);
const CONCURRENCY = option("concurrency", DEFAULT_CONCURRENCY);
const LATENCY_MS = option("latency", 50);
const THROTTLE = option("throttle", 0.1);
const SEED = option("seed", 7);
const CONFLICTS = option("conflicts", 0.1);
const CLUSTER = "bench";

/** Small seeded PRNG (mulberry32): the same calls are throttled on every run with the same seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Stats {
  ok: Map<string, number>;
  throttled: number;
  inFlight: number;
  peakInFlight: number;
  maxDescribeServices: number;
  maxScalableIds: number;
  maxResults: number;
}

/** The simulated account: state, latency, throttling and the figures the report needs. */
function simulate(clients: ReturnType<typeof createAwsClients>, throttleRate: number, seed: number) {
  const random = prng(seed);
  const desired = new Map<string, number>();
  const tags = new Map<string, Map<string, string>>();
  const bounds = new Map<string, { min: number; max: number }>();
  for (let i = 0; i < SERVICES; i++) {
    const name = `svc-${String(i).padStart(3, "0")}`;
    desired.set(name, 3 + (i % 4));
    tags.set(name, new Map());
    if (i % 2 === 0) bounds.set(`service/${CLUSTER}/${name}`, { min: 2, max: 10 });
  }
  const stats: Stats = {
    ok: new Map(),
    throttled: 0,
    inFlight: 0,
    peakInFlight: 0,
    maxDescribeServices: 0,
    maxScalableIds: 0,
    maxResults: 0,
  };
  const throttledOnce = new Set<string>();
  const call = async <T>(command: string, key: string, body: () => T): Promise<T> => {
    stats.inFlight++;
    stats.peakInFlight = Math.max(stats.peakInFlight, stats.inFlight);
    try {
      await sleep(LATENCY_MS);
      const id = `${command} ${key}`;
      if (!throttledOnce.has(id) && random() < throttleRate) {
        throttledOnce.add(id);
        stats.throttled++;
        throw new ECSServiceException({
          name: "ThrottlingException",
          $fault: "client",
          $metadata: { httpStatusCode: 400 },
          message: "Rate exceeded",
        });
      }
      stats.ok.set(command, (stats.ok.get(command) ?? 0) + 1);
      return body();
    } finally {
      stats.inFlight--;
    }
  };
  const nameOf = (arn = "") => arn.split("/").pop() ?? "";
  const ecs = mockClient(clients.ecs);
  const aas = mockClient(clients.autoscaling);
  ecs.on(DescribeServicesCommand).callsFake((input: DescribeServicesRequest) => {
    const names = input.services ?? [];
    stats.maxDescribeServices = Math.max(stats.maxDescribeServices, names.length);
    return call("DescribeServices", names.join(","), () => ({
      services: names.map((name) => ({
        serviceArn: `arn:aws:ecs:us-east-1:${ACCOUNT_ID}:service/${CLUSTER}/${name}`,
        serviceName: name,
        status: "ACTIVE",
        desiredCount: desired.get(name),
        deployments: [
          {
            id: "ecs-svc/1",
            status: "PRIMARY",
            rolloutState: "COMPLETED",
            createdAt: new Date("2026-11-01T00:00:00Z"),
            updatedAt: new Date("2026-11-01T00:00:00Z"),
          },
        ],
        tags: [...(tags.get(name) ?? [])].map(([key, value]) => ({ key, value })),
      })),
      failures: [],
    }));
  });
  ecs.on(UpdateServiceCommand).callsFake((input: UpdateServiceRequest) =>
    call("UpdateService", input.service ?? "", () => {
      desired.set(input.service ?? "", input.desiredCount ?? 0);
      return {};
    }),
  );
  ecs.on(TagResourceCommand).callsFake((input: TagResourceRequest) =>
    call("TagResource", nameOf(input.resourceArn), () => {
      for (const tag of input.tags ?? []) tags.get(nameOf(input.resourceArn))?.set(tag.key ?? "", tag.value ?? "");
      return {};
    }),
  );
  ecs.on(UntagResourceCommand).callsFake((input: UntagResourceRequest) =>
    call("UntagResource", nameOf(input.resourceArn), () => {
      for (const key of input.tagKeys ?? []) tags.get(nameOf(input.resourceArn))?.delete(key);
      return {};
    }),
  );
  aas.on(DescribeScalableTargetsCommand).callsFake((input: DescribeScalableTargetsRequest) => {
    const ids = input.ResourceIds ?? [];
    stats.maxScalableIds = Math.max(stats.maxScalableIds, ids.length);
    stats.maxResults = Math.max(stats.maxResults, input.MaxResults ?? 50);
    return call("DescribeScalableTargets", ids.join(","), () => ({
      ScalableTargets: ids.flatMap((id) => {
        const b = bounds.get(id);
        return b
          ? [
              {
                ServiceNamespace: "ecs",
                ResourceId: id,
                ScalableDimension: "ecs:service:DesiredCount",
                MinCapacity: b.min,
                MaxCapacity: b.max,
              },
            ]
          : [];
      }),
    }));
  });
  aas.on(RegisterScalableTargetCommand).callsFake((input: RegisterScalableTargetRequest) =>
    call("RegisterScalableTarget", input.ResourceId ?? "", () => {
      bounds.set(input.ResourceId ?? "", { min: input.MinCapacity ?? 0, max: input.MaxCapacity ?? 0 });
      return {};
    }),
  );
  const reset = () => {
    stats.ok.clear();
    stats.throttled = 0;
    stats.peakInFlight = 0;
  };
  return { stats, desired, reset };
}

const system = systemSchema.parse({
  id: "bench",
  name: "Bench",
  account: { region: "us-east-1" },
  timezone: "UTC",
  runtime: {
    kind: "ecs",
    cluster: CLUSTER,
    services: Array.from({ length: SERVICES }, (_, i) => ({
      name: `svc-${String(i).padStart(3, "0")}`,
      cpuUnits: 512,
      memoryMiB: 1024,
    })),
  },
  databases: [],
  dr: { rtoMinutes: 60, rpoMinutes: 1440, drillSource: "pg_dump" },
  offHours: { enabled: true, start: "18:00", end: "07:00", floor: 1 },
} satisfies SystemInput);

interface Row {
  label: string;
  calls: number;
  throttled: number;
  wallMs: number;
  idealMs: number;
  report: Report;
}

async function measure(label: string, runbook: AnyRunbook, at: string, throttleRate: number): Promise<Row> {
  const clients = createAwsClients({ region: "us-east-1" });
  const sim = simulate(clients, throttleRate, SEED);
  const ctx = (now: string): RunbookContext => ({
    system,
    clients,
    logger: createLogger({ logLevel: "SILENT" }),
    now: () => new Date(now),
    dryRun: false,
    notify: silentNotifier,
    ...createPorts({ env: {}, secrets: clients.secrets }),
  });
  const input = { concurrency: String(CONCURRENCY) };
  if (runbook === scaleUpRunbook) {
    // Scale-up needs the services down first; that run is not measured.
    await scaleDownRunbook.run(ctx("2026-11-23T18:00:30Z"), scaleDownRunbook.input.parse(input));
    sim.reset();
  }
  const started = performance.now();
  const report = await runbook.run(ctx(at), runbook.input.parse(input));
  const wallMs = performance.now() - started;
  const ok = (command: string) => sim.stats.ok.get(command) ?? 0;
  const describes = ok("DescribeServices") + ok("DescribeScalableTargets");
  const writes = ok("TagResource") + ok("RegisterScalableTarget") + ok("UpdateService") + ok("UntagResource");
  // Two phases (describe everything, then change services), each at best `concurrency` calls at a time.
  const idealMs = (Math.ceil(describes / CONCURRENCY) + Math.ceil(writes / CONCURRENCY)) * LATENCY_MS;
  limits.push({ label, stats: { ...sim.stats } });
  return { label, calls: describes + writes, throttled: sim.stats.throttled, wallMs, idealMs, report };
}

const limits: { label: string; stats: Stats }[] = [];

// Warm-up (not reported): module loading and JIT would otherwise be charged to the first measured run.
await measure("warm-up", scaleDownRunbook, "2026-11-23T18:00:30Z", 0);
limits.length = 0;

const rows = [
  await measure("scale-down, no throttling (baseline)", scaleDownRunbook, "2026-11-23T18:00:30Z", 0),
  await measure(`scale-down, ${THROTTLE * 100} % throttled once`, scaleDownRunbook, "2026-11-23T18:00:30Z", THROTTLE),
  await measure("scale-up, no throttling (baseline)", scaleUpRunbook, "2026-11-24T07:00:30Z", 0),
  await measure(`scale-up, ${THROTTLE * 100} % throttled once`, scaleUpRunbook, "2026-11-24T07:00:30Z", THROTTLE),
];

const pad = (text: string, n: number) => text.padEnd(n);
process.stdout.write(
  `off-hours scaling: ${SERVICES} services (half with autoscaling), API latency ${LATENCY_MS} ms, concurrency ${CONCURRENCY}\n\n`,
);
process.stdout.write(
  `${pad("run", 38)}${pad("status", 11)}${pad("calls", 7)}${pad("throttled", 11)}${pad("wall", 10)}${pad("ideal", 10)}wall ÷ ideal\n`,
);
for (const row of rows) {
  process.stdout.write(
    `${pad(row.label, 38)}${pad(row.report.status, 11)}${pad(String(row.calls), 7)}${pad(String(row.throttled), 11)}` +
      `${pad(`${(row.wallMs / 1000).toFixed(2)} s`, 10)}${pad(`${(row.idealMs / 1000).toFixed(2)} s`, 10)}` +
      `${(row.wallMs / row.idealMs).toFixed(2)}\n`,
  );
}
const worst = Math.max(...rows.map((r) => r.wallMs / r.idealMs));
process.stdout.write(`\nworst ratio ${worst.toFixed(2)} (target ≤ 1.5)\n`);

let violations = 0;
for (const { label, stats } of limits) {
  const problems = [
    stats.maxDescribeServices > DESCRIBE_SERVICES_MAX && `DescribeServices took ${stats.maxDescribeServices} services`,
    stats.maxScalableIds > SCALABLE_TARGETS_MAX && `DescribeScalableTargets took ${stats.maxScalableIds} ids`,
    stats.maxResults > 50 && `DescribeScalableTargets MaxResults ${stats.maxResults}`,
    stats.peakInFlight > CONCURRENCY && `${stats.peakInFlight} calls in flight (limit ${CONCURRENCY})`,
  ].filter(Boolean);
  for (const problem of problems) process.stdout.write(`LIMIT EXCEEDED in ${label}: ${problem}\n`);
  violations += problems.length;
}
const failed = rows.filter((r) => r.report.status !== "succeeded");
for (const row of failed) process.stdout.write(`RUN NOT SUCCEEDED: ${row.label}: ${row.report.summary}\n`);
const peak = Math.max(...limits.map((l) => l.stats.peakInFlight));
const maxBatch = Math.max(...limits.map((l) => l.stats.maxDescribeServices));
const maxIds = Math.max(...limits.map((l) => l.stats.maxScalableIds));
process.stdout.write(
  `batch limits: DescribeServices ≤ ${maxBatch}/${DESCRIBE_SERVICES_MAX} per call, DescribeScalableTargets ≤ ${maxIds}/${SCALABLE_TARGETS_MAX} ids; ` +
    `peak ${peak} calls in flight (concurrency ${CONCURRENCY})\n`,
);

// ---- EKS ----
const EKS_CLUSTER = "bench-eks";
const EKS_NS = "bench";
const eksSystem = systemSchema.parse({
  id: "bench-eks",
  name: "Bench EKS",
  account: { region: "us-east-1" },
  timezone: "UTC",
  runtime: {
    kind: "eks",
    cluster: EKS_CLUSTER,
    namespace: EKS_NS,
    deployments: Array.from({ length: SERVICES }, (_, i) => ({ name: `dep-${String(i).padStart(3, "0")}` })),
  },
  databases: [],
  dr: { rtoMinutes: 60, rpoMinutes: 1440, drillSource: "pg_dump" },
  offHours: { enabled: true, start: "18:00", end: "07:00", floor: 1 },
} satisfies SystemInput);

async function measureEks(label: string, runbook: AnyRunbook, at: string, conflictRate: number) {
  const api = await startKubeApi({ cluster: EKS_CLUSTER, namespace: EKS_NS, latencyMs: LATENCY_MS });
  try {
    for (let i = 0; i < SERVICES; i++) {
      api.addDeployment({
        name: `dep-${String(i).padStart(3, "0")}`,
        replicas: 3 + (i % 4),
        ...(i % 2 === 0 ? { hpa: { min: 2, max: 10 } } : {}),
      });
    }
    const eks = new EKSClient({
      region: "us-east-1",
      credentials: CREDENTIALS,
    });
    mockClient(eks)
      .on(DescribeClusterCommand)
      .resolves({
        cluster: {
          name: EKS_CLUSTER,
          status: "ACTIVE",
          endpoint: api.url,
          certificateAuthority: { data: api.caData },
        },
      });
    const base = createAwsClients({ region: "us-east-1" });
    const clients = { ...base, eks };
    const ctx = (now: string): RunbookContext => ({
      system: eksSystem,
      clients,
      logger: createLogger({ logLevel: "SILENT" }),
      now: () => new Date(now),
      dryRun: false,
      notify: silentNotifier,
      ...createPorts({ env: {}, secrets: clients.secrets }),
    });
    const input = { concurrency: String(CONCURRENCY) };
    if (runbook === scaleUpRunbook) {
      await scaleDownRunbook.run(ctx("2026-11-23T18:00:30Z"), scaleDownRunbook.input.parse(input));
    }
    const random = prng(SEED);
    const conflicted = new Set<string>();
    let conflicts = 0;
    api.conflictWhen = (request) => {
      const key = `${request.method} ${request.path}`;
      if (conflicted.has(key) || random() >= conflictRate) return false;
      conflicted.add(key);
      conflicts++;
      return true;
    };
    api.requests.length = 0;
    api.peakInFlight = 0;
    const started = performance.now();
    const report = await runbook.run(ctx(at), runbook.input.parse(input));
    const wallMs = performance.now() - started;
    const requests = api.requests.length;
    const ok = requests - conflicts;
    // The namespace lists go out together (one round), then the writes and fresh reads, `concurrency` at a time.
    const idealMs = (1 + Math.ceil((ok - 3) / CONCURRENCY)) * LATENCY_MS;
    return { label, calls: requests, conflicts, wallMs, idealMs, report, peak: api.peakInFlight };
  } finally {
    await api.close();
  }
}

await measureEks("warm-up", scaleDownRunbook, "2026-11-23T18:00:30Z", 0);
const eksRows = [
  await measureEks("scale-down, no conflicts (baseline)", scaleDownRunbook, "2026-11-23T18:00:30Z", 0),
  await measureEks(
    `scale-down, ${CONFLICTS * 100} % of writes 409 once`,
    scaleDownRunbook,
    "2026-11-23T18:00:30Z",
    CONFLICTS,
  ),
  await measureEks("scale-up, no conflicts (baseline)", scaleUpRunbook, "2026-11-24T07:00:30Z", 0),
  await measureEks(
    `scale-up, ${CONFLICTS * 100} % of writes 409 once`,
    scaleUpRunbook,
    "2026-11-24T07:00:30Z",
    CONFLICTS,
  ),
];
process.stdout.write(
  `\nEKS: ${SERVICES} deployments (half with an HPA), API latency ${LATENCY_MS} ms, concurrency ${CONCURRENCY}\n\n`,
);
process.stdout.write(
  `${pad("run", 38)}${pad("status", 11)}${pad("calls", 7)}${pad("409s", 11)}${pad("wall", 10)}${pad("ideal", 10)}wall ÷ ideal\n`,
);
for (const row of eksRows) {
  process.stdout.write(
    `${pad(row.label, 38)}${pad(row.report.status, 11)}${pad(String(row.calls), 7)}${pad(String(row.conflicts), 11)}` +
      `${pad(`${(row.wallMs / 1000).toFixed(2)} s`, 10)}${pad(`${(row.idealMs / 1000).toFixed(2)} s`, 10)}` +
      `${(row.wallMs / row.idealMs).toFixed(2)}\n`,
  );
}
const eksWorst = Math.max(...eksRows.map((r) => r.wallMs / r.idealMs));
const eksPeak = Math.max(...eksRows.map((r) => r.peak));
process.stdout.write(`\nEKS worst ratio ${eksWorst.toFixed(2)} (target ≤ 1.5); peak ${eksPeak} calls in flight\n`);
const eksFailed = eksRows.filter((r) => r.report.status !== "succeeded");
for (const row of eksFailed) process.stdout.write(`RUN NOT SUCCEEDED: EKS ${row.label}: ${row.report.summary}\n`);
if (eksPeak > CONCURRENCY) process.stdout.write(`LIMIT EXCEEDED: EKS ${eksPeak} calls in flight\n`);

process.exitCode = violations > 0 || failed.length > 0 || eksFailed.length > 0 || eksPeak > CONCURRENCY ? 1 : 0;
