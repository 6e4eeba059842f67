import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ecrCleanupRunbook } from "../../runbooks/ecr-cleanup/index.js";
import { LAST_KNOWN_GOOD_TAG } from "../../runbooks/ecr-cleanup/read.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import { ecrSchema } from "../../systems/schema.js";
import { testClients, testContext } from "../helpers/context.js";
import { EcrWorld, imageUri } from "../helpers/ecr-world.js";

const NOW = new Date("2026-11-29T03:00:00Z");
const REGION = "ap-south-1";
const REPOS = ["api", "worker", "web"];

const imageArb = fc.record({
  repo: fc.integer({ min: 0, max: 2 }),
  ageDays: fc.integer({ min: 0, max: 400 }),
  tag: fc.option(fc.constantFrom("latest", "v1.2.3", "dev", "rc-1", "build"), { nil: undefined }),
  /** 0: plain, 1: index over the next two images, 2: artifact attached to the previous image. */
  kind: fc.constantFrom(0, 0, 0, 1, 2),
});

const useArb = fc.record({
  image: fc.nat(),
  byDigest: fc.boolean(),
  /** 0: task definition revision of a service, 1: running task, 2: lambda, 3: last known-good, 4: revision only. */
  how: fc.integer({ min: 0, max: 4 }),
  family: fc.integer({ min: 0, max: 3 }),
});

const fleetArb = fc.record({
  images: fc.array(imageArb, { minLength: 1, maxLength: 40 }),
  uses: fc.array(useArb, { maxLength: 25 }),
  keepLast: fc.integer({ min: 1, max: 4 }),
  keepRevisions: fc.integer({ min: 2, max: 3 }),
  maxAgeDays: fc.integer({ min: 1, max: 60 }),
});

type Fleet = typeof fleetArb extends fc.Arbitrary<infer T> ? T : never;

type Pushed = { repo: string; digest: string; tag?: string | undefined };
/** What the generated images are made of: an index's children, an image's attached artifacts. */
type Parts = { subjects: Map<string, string[]>; children: Map<string, string[]> };

/** Builds the world, and, independently of the runbook, the digests that are in use. */
function build(fleet: Fleet) {
  const world = new EcrWorld({ region: REGION });
  const parts: Parts = { subjects: new Map(), children: new Map() };
  const digests: Pushed[] = [];
  fleet.images.forEach((image, i) => {
    digests.push(pushImage(world, { image, i, previous: digests[i - 1], digests, parts }));
  });
  const inUse = new Set<string>();
  const revisions = new Map<number, number>();
  fleet.uses.forEach((use, u) => {
    const target = digests[use.image % digests.length];
    if (!target) return;
    if (addUse(world, { use, u, target, revisions })) inUse.add(target.digest);
  });
  for (const digest of rollbackTargets(world, { revisions, keepRevisions: fleet.keepRevisions, digests })) {
    inUse.add(digest);
  }
  addParts(inUse, parts);
  return { world, inUse };
}

/** One generated image: plain, an index over two new children, or an artifact on the previous image. */
function pushImage(
  world: EcrWorld,
  args: { image: Fleet["images"][number]; i: number; previous: Pushed | undefined; digests: Pushed[]; parts: Parts },
): Pushed {
  const { image, i, previous, digests, parts } = args;
  const repo = REPOS[image.repo] as string;
  const tag = image.tag ? `${image.tag}${image.tag === "build" ? i : ""}` : undefined;
  const taken = tag && digests.some((d) => d.repo === repo && d.tag === tag);
  const base = {
    name: `img-${i}`,
    pushedAt: new Date(NOW.getTime() - image.ageDays * 86_400_000),
    ...(tag && !taken ? { tags: [tag] } : {}),
  };
  let digest: string;
  if (image.kind === 2 && previous && previous.repo === repo) {
    digest = world.addImage(repo, { ...base, artifactMediaType: "application/spdx+json", subject: previous.digest });
    parts.subjects.set(previous.digest, [...(parts.subjects.get(previous.digest) ?? []), digest]);
  } else if (image.kind === 1) {
    const kids = [
      world.addImage(repo, { ...base, name: `img-${i}-a`, tags: [] }),
      world.addImage(repo, { ...base, name: `img-${i}-b`, tags: [] }),
    ];
    digest = world.addImage(repo, { ...base, children: kids });
    parts.children.set(digest, kids);
  } else {
    digest = world.addImage(repo, base);
  }
  return { repo, digest, tag: tag && !taken ? tag : undefined };
}

/** One generated use of an image, in a new revision of its family; true when that use alone keeps it. */
function addUse(
  world: EcrWorld,
  args: { use: Fleet["uses"][number]; u: number; target: Pushed; revisions: Map<number, number> },
): boolean {
  const { use, u, target, revisions } = args;
  const ref = use.byDigest || !target.tag ? { digest: target.digest } : { tag: target.tag };
  const uri = imageUri(REGION, target.repo, ref);
  const revision = (revisions.get(use.family) ?? 0) + 1;
  revisions.set(use.family, revision);
  const td = world.addTaskDefinition(`fam-${use.family}`, revision, [uri]);
  if (use.how === 0) world.addService("c1", { name: `svc-${u}`, taskDefinition: td, desiredCount: u % 2 });
  if (use.how === 1) world.addTask("c1", { id: `t${u}`, taskDefinition: td, image: uri, imageDigest: target.digest });
  if (use.how === 2) world.addFunction(`fn-${u}`, String(u + 1), uri, target.digest);
  if (use.how === 3) {
    // A service now on a later revision, with this one recorded as its last known-good.
    const current = world.addTaskDefinition(`lkg-${u}`, 1, [imageUri(REGION, "elsewhere", { tag: "x" })]);
    world.addService("c1", { name: `lkg-${u}`, taskDefinition: current, tags: { [LAST_KNOWN_GOOD_TAG]: td } });
  }
  // How 4 is a revision nothing runs: in use only when among the newest K of its family (below).
  return use.how !== 4;
}

/** The newest K revisions of each family are rollback targets: the digests their images name. */
function rollbackTargets(
  world: EcrWorld,
  args: { revisions: Map<number, number>; keepRevisions: number; digests: Pushed[] },
): string[] {
  const { revisions, keepRevisions, digests } = args;
  const kept = [...world.taskDefinitions.values()].filter((td) =>
    [...revisions].some(
      ([family, count]) => td.family === `fam-${family}` && (td.revision ?? 0) > count - keepRevisions,
    ),
  );
  return kept.flatMap((td) => {
    const image = td.containerDefinitions?.[0]?.image ?? "";
    const found = digests.find(
      (d) => image.endsWith(`@${d.digest}`) || (d.tag && image.endsWith(`/${d.repo}:${d.tag}`)),
    );
    return found ? [found.digest] : [];
  });
}

/** What an in-use image is made of, or carries, is in use too. */
function addParts(inUse: Set<string>, parts: Parts): void {
  const queue = [...inUse];
  for (let d = queue.shift(); d !== undefined; d = queue.shift()) {
    for (const next of [...(parts.children.get(d) ?? []), ...(parts.subjects.get(d) ?? [])]) {
      if (!inUse.has(next)) {
        inUse.add(next);
        queue.push(next);
      }
    }
  }
}

describe("ecr-cleanup property", () => {
  it("for random fleets and repositories, no id in any delete call is in use, and each repository keeps its newest", async () => {
    const base = findSystem(builtinFleet(), "flash-sale");
    await fc.assert(
      fc.asyncProperty(fleetArb, async (fleet) => {
        const { world, inUse } = build(fleet);
        try {
          const system = {
            ...base,
            ecr: ecrSchema.parse({
              repositories: REPOS,
              keepLast: fleet.keepLast,
              keepTaskDefinitionRevisions: fleet.keepRevisions,
              maxAgeDays: fleet.maxAgeDays,
            }),
          };
          const before = new Map([...world.repositories].map(([repo, images]) => [repo, images.length]));
          const ctx = testContext({ system, now: NOW, clients: testClients() });
          const report = await ecrCleanupRunbook.run(ctx, ecrCleanupRunbook.input.parse({}));
          const deleted = world
            .callsOf("BatchDeleteImage")
            .flatMap((c) => (c.input as { imageIds: { imageDigest: string }[] }).imageIds.map((i) => i.imageDigest));
          for (const digest of deleted) expect(inUse.has(digest), digest).toBe(false);
          for (const call of world.callsOf("BatchDeleteImage")) {
            expect((call.input as { imageIds: unknown[] }).imageIds.length).toBeLessThanOrEqual(100);
          }
          for (const [repo, count] of before) {
            if (count > 0) expect(world.repositories.get(repo)?.length ?? 0, repo).toBeGreaterThan(0);
          }
          expect(report.metrics.imagesFailed).toBe(0);
        } finally {
          world.restore();
        }
      }),
      { numRuns: 150, seed: 20261129 },
    );
    // 150 whole runbook runs: 4-7 s on a loaded 2-core machine, past vitest's 5 s default.
  }, 30_000);
});
