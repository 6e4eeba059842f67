/**
 * ECR cleanup benchmark (not part of `npm test`): `npm run bench:ecr [-- --concurrency 10] [--latency 50]`.
 *
 * Runs the real ecr-cleanup runbook over a simulated account (tests/helpers/ecr-world.ts, served through
 * aws-sdk-client-mock): 10,000 images in 20 repositories (with multi-arch indexes and signatures), 300
 * task-definition revisions in 50 families, 50 services (some mid-deployment, some with a last known-good
 * tag), 100 running tasks and 5 container Lambda functions; every call takes `latency` ms.
 *
 * Prints two ratios:
 * - API calls ÷ the minimum possible: listing in the APIs' largest pages (DescribeImages 1,000;
 *   ListServices, ListTasks, ListTaskDefinitions, ListClusters 100; ListFunctions 50), DescribeServices 10
 *   per call, DescribeTasks and BatchGetImage 100 per call, one DescribeTaskDefinition and GetFunction
 *   per revision or function version that must be read, BatchDeleteImage 100 ids per call. Target ≤ 1.05.
 * - wall time ÷ the minimum at the same concurrency, measured in the same run: that many calls of
 *   `latency` ms, `concurrency` at a time, with nothing between them (and no shorter than the longest
 *   chain of calls that must follow one another). Target ≤ 1.3.
 *
 * Exits 1 if a call exceeded an API limit, more than `concurrency` calls were in flight, or an image in
 * use was deleted.
 */

import { createAwsClients } from "../lib/aws/clients.js";
import { createLogger } from "../lib/logger.js";
import { silentNotifier } from "../lib/notify.js";
import { mapPool } from "../lib/pool.js";
import { createPorts } from "../lib/ports.js";
import { ecrCleanupRunbook } from "../runbooks/ecr-cleanup/index.js";
import { LAST_KNOWN_GOOD_TAG } from "../runbooks/ecr-cleanup/read.js";
import type { RunbookContext } from "../runbooks/types.js";
import { builtinFleet, findSystem } from "../systems/index.js";
import { ecrSchema } from "../systems/schema.js";
import { digestOf, EcrWorld, imageUri } from "../tests/helpers/ecr-world.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

const CONCURRENCY = option("concurrency", 10);
const LATENCY_MS = option("latency", 50);
const REGION = "ap-south-1";
const NOW = new Date("2026-11-29T03:00:00Z");
const REPOS = 20;
const IMAGES_PER_REPO = 500;
const FAMILIES = 50;
const REVISIONS = 6;
const KEEP_REVISIONS = 5;
const DAY = 86_400_000;

const world = new EcrWorld({ region: REGION, latencyMs: LATENCY_MS });
const repo = (i: number) => `bench-${String(i).padStart(2, "0")}`;

// Images: per repository 2 indexes of 2 platforms, 5 signatures, the rest plain; ages 0–500 days.
for (let r = 0; r < REPOS; r++) {
  let made = 0;
  for (let x = 0; x < 2; x++) {
    const kids = ["amd64", "arm64"].map((arch) =>
      world.addImage(repo(r), {
        name: `${r}-mx${x}-${arch}`,
        pushedAt: new Date(NOW.getTime() - (100 + x * 200) * DAY),
      }),
    );
    world.addImage(repo(r), {
      name: `${r}-mx${x}`,
      tags: [`multi-${x}`],
      pushedAt: new Date(NOW.getTime() - (100 + x * 200) * DAY),
      children: kids,
    });
    made += 3;
  }
  for (let i = 0; made < IMAGES_PER_REPO; i++) {
    const pushedAt = new Date(NOW.getTime() - i * DAY);
    const digest = world.addImage(repo(r), { name: `${r}-${i}`, tags: [`build-${i}`], pushedAt });
    made++;
    if (i % 90 === 0 && made < IMAGES_PER_REPO) {
      world.addImage(repo(r), {
        name: `${r}-${i}-sig`,
        pushedAt,
        artifactMediaType: "application/vnd.dev.cosign.artifact.sig.v1+json",
        subject: digest,
      });
      made++;
    }
  }
}

// 50 families × 6 revisions; each family's service runs its newest; every 5th is mid-deployment, every
// 10th has a last known-good outside the newest 5; two tasks per service.
const inUse = new Set<string>();
for (let f = 0; f < FAMILIES; f++) {
  const arns: string[] = [];
  for (let rev = 1; rev <= REVISIONS; rev++) {
    const tag = `build-${40 + f * 8 + rev}`;
    arns.push(world.addTaskDefinition(`family-${f}`, rev, [imageUri(REGION, repo(f % REPOS), { tag })]));
    if (rev > REVISIONS - KEEP_REVISIONS || (f % 10 === 0 && rev === 1))
      inUse.add(digestOf(`${f % REPOS}-${40 + f * 8 + rev}`));
  }
  const current = arns[REVISIONS - 1] as string;
  world.addService("bench", {
    name: `service-${f}`,
    taskDefinition: current,
    deployments: [
      { status: "PRIMARY", taskDefinition: current },
      ...(f % 5 === 0 ? [{ status: "ACTIVE", taskDefinition: arns[REVISIONS - 2] as string }] : []),
    ],
    ...(f % 10 === 0 ? { tags: { [LAST_KNOWN_GOOD_TAG]: arns[0] as string } } : {}),
  });
  for (let t = 0; t < 2; t++) {
    world.addTask("bench", {
      id: `${f}-${t}`,
      taskDefinition: current,
      image: imageUri(REGION, repo(f % REPOS), { tag: `build-${40 + f * 8 + REVISIONS}` }),
    });
  }
}
for (let l = 0; l < 5; l++) {
  const digest = digestOf(`${l}-${300 + l}`);
  world.addFunction(`function-${l}`, "1", imageUri(REGION, repo(l), { tag: `build-${300 + l}` }), digest);
  inUse.add(digest);
}

const system = {
  ...findSystem(builtinFleet(), "flash-sale"),
  ecr: ecrSchema.parse({
    repositories: Array.from({ length: REPOS }, (_, r) => repo(r)),
    keepLast: 10,
    maxAgeDays: 30,
    keepTaskDefinitionRevisions: KEEP_REVISIONS,
  }),
};
const ctx: RunbookContext = {
  system,
  clients: createAwsClients({ region: REGION }),
  logger: createLogger({ logLevel: "ERROR" }),
  now: () => NOW,
  dryRun: false,
  notify: silentNotifier,
  ...createPorts({ env: {}, secrets: createAwsClients({ region: "us-east-1" }).secrets }),
};

const indexesPerRepo = [...world.repositories.values()].map(
  (images) => images.filter((i) => i.manifest?.includes('"manifests"')).length,
);
const started = performance.now();
const report = await ecrCleanupRunbook.run(ctx, ecrCleanupRunbook.input.parse({ concurrency: CONCURRENCY }));
const wallMs = performance.now() - started;

// The minimum, from the world as it was (deletions: what this run deleted, 100 per call per repository).
const deletedPerRepo = new Map<string, number>();
const deletedIds: string[] = [];
for (const call of world.callsOf("BatchDeleteImage")) {
  const input = call.input as { repositoryName: string; imageIds: { imageDigest: string }[] };
  deletedPerRepo.set(input.repositoryName, (deletedPerRepo.get(input.repositoryName) ?? 0) + input.imageIds.length);
  deletedIds.push(...input.imageIds.map((i) => i.imageDigest));
}
const pages = (n: number, size: number) => Math.max(1, Math.ceil(n / size));
const revisionsToRead = new Set<string>();
for (let f = 0; f < FAMILIES; f++) {
  for (let rev = REVISIONS - KEEP_REVISIONS + 1; rev <= REVISIONS; rev++) revisionsToRead.add(`${f}:${rev}`);
  if (f % 10 === 0) revisionsToRead.add(`${f}:1`);
}
const minimum: Record<string, number> = {
  DescribeImages: REPOS * pages(IMAGES_PER_REPO, 1000),
  BatchGetImage: indexesPerRepo.reduce((sum, n) => sum + (n > 0 ? pages(n, 100) : 0), 0),
  ListClusters: 1,
  ListServices: pages(FAMILIES, 100),
  DescribeServices: pages(FAMILIES, 10),
  ListTasks: pages(FAMILIES * 2, 100),
  DescribeTasks: pages(FAMILIES * 2, 100),
  ListTaskDefinitions: pages(FAMILIES * REVISIONS, 100),
  DescribeTaskDefinition: revisionsToRead.size,
  ListFunctions: 1,
  GetFunction: 5,
  BatchDeleteImage: [...deletedPerRepo.values()].reduce((sum, n) => sum + pages(n, 100), 0),
};
const minCalls = Object.values(minimum).reduce((a, b) => a + b, 0);
const actualCalls = world.calls.length;

// The longest chain that must run one call after another: 3 ListTaskDefinitions pages, a describe, a delete.
const chain = pages(FAMILIES * REVISIONS, 100) + 2;
const baselineStart = performance.now();
await mapPool(Array.from({ length: minCalls }), CONCURRENCY, () => new Promise((r) => setTimeout(r, LATENCY_MS)));
const baselineMs = Math.max(performance.now() - baselineStart, chain * LATENCY_MS);

const rows = Object.entries(minimum).map(([op, min]) => ({ op, calls: world.callsOf(op).length, minimum: min }));
process.stdout.write(
  `ecr-cleanup over ${world.calls.length} calls, concurrency ${CONCURRENCY}, ${LATENCY_MS} ms per call\n`,
);
for (const row of rows)
  process.stdout.write(`  ${row.op.padEnd(24)} ${String(row.calls).padStart(5)}  minimum ${row.minimum}\n`);
process.stdout.write(
  `  images ${REPOS * IMAGES_PER_REPO}: deleted ${report.metrics.imagesDeleted}, kept ${report.metrics.imagesKept}, ` +
    `${((report.metrics.bytesReclaimed ?? 0) / 1024 ** 3).toFixed(1)} GB, $${report.metrics.monthlyCostSavedUsd}/month\n`,
);
const callRatio = actualCalls / minCalls;
const wallRatio = wallMs / baselineMs;
process.stdout.write(`API calls ÷ minimum: ${actualCalls} / ${minCalls} = ${callRatio.toFixed(3)} (target ≤ 1.05)\n`);
process.stdout.write(
  `wall time ÷ minimum at concurrency ${CONCURRENCY}: ${wallMs.toFixed(0)} ms / ${baselineMs.toFixed(0)} ms = ${wallRatio.toFixed(3)} (target ≤ 1.3)\n`,
);

const problems: string[] = [];
if (world.maxInFlight > CONCURRENCY) problems.push(`${world.maxInFlight} calls in flight (concurrency ${CONCURRENCY})`);
for (const call of world.calls) {
  const input = call.input as { imageIds?: unknown[]; services?: unknown[]; tasks?: unknown[]; maxResults?: number };
  if ((input.imageIds?.length ?? 0) > 100) problems.push(`${call.command} with ${input.imageIds?.length} ids`);
  if ((input.services?.length ?? 0) > 10) problems.push(`DescribeServices with ${input.services?.length} services`);
  if ((input.tasks?.length ?? 0) > 100) problems.push(`DescribeTasks with ${input.tasks?.length} tasks`);
}
const wronglyDeleted = deletedIds.filter((d) => inUse.has(d));
if (wronglyDeleted.length) problems.push(`deleted ${wronglyDeleted.length} image(s) in use`);
if (report.status !== "succeeded") problems.push(`report ${report.status}: ${report.summary}`);
world.restore();
if (problems.length) {
  process.stderr.write(`FAILED: ${problems.join("; ")}\n`);
  process.exit(1);
}
