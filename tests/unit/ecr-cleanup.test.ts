import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ecrCleanupRunbook } from "../../runbooks/ecr-cleanup/index.js";
import { LAST_KNOWN_GOOD_TAG, parseImageUri } from "../../runbooks/ecr-cleanup/read.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import { ecrSchema, type System, systemSchema } from "../../systems/schema.js";
import { testClients, testContext } from "../helpers/context.js";
import { ACCOUNT, accessDenied, DOCKER_MANIFEST, digestOf, EcrWorld, imageUri } from "../helpers/ecr-world.js";

const NOW = new Date("2026-11-29T03:00:00Z");
const REGION = "ap-south-1";
const daysAgo = (days: number) => new Date(NOW.getTime() - days * 86_400_000);

/** Flash Sale with a small, test-sized ECR policy: keep 1 newest, 2 revisions, 30 days. */
function flashSale(ecr: Record<string, unknown> = {}): System {
  const base = findSystem(builtinFleet(), "flash-sale");
  return {
    ...base,
    ecr: ecrSchema.parse({ repositories: ["flash-sale"], keepLast: 1, keepTaskDefinitionRevisions: 2, ...ecr }),
  };
}

async function run(options: { system?: System; dryRun?: boolean; input?: Record<string, unknown> } = {}) {
  const ctx = testContext({
    system: options.system ?? flashSale(),
    now: NOW,
    dryRun: options.dryRun ?? false,
    clients: testClients(),
  });
  return ecrCleanupRunbook.run(ctx, ecrCleanupRunbook.input.parse(options.input ?? {}));
}

const deleted = (world: EcrWorld) =>
  world
    .callsOf("BatchDeleteImage")
    .flatMap((c) => (c.input as { imageIds: { imageDigest: string }[] }).imageIds.map((i) => i.imageDigest));
const actionFor = (
  report: { actions: { resource: string; action: string; status: string; reason?: string }[] },
  digest: string,
) => report.actions.find((a) => a.resource.endsWith(`@${digest}`));

let world: EcrWorld;
beforeEach(() => {
  world = new EcrWorld({ region: REGION });
});
afterEach(() => world.restore());

/** A repository with a fresh image (the newest, kept) so the others are judged by the other rules. */
function withNewest(repository = "flash-sale") {
  return world.addImage(repository, { name: "newest", tags: ["build-999"], pushedAt: daysAgo(1) });
}

describe("ecr-cleanup keeps what is in use or may be rolled back to", () => {
  it("keeps an image index in use with both platform children, and deletes an unused index index-first", async () => {
    // Prepare
    withNewest();
    const amd = world.addImage("flash-sale", { name: "app-amd64", pushedAt: daysAgo(90) });
    const arm = world.addImage("flash-sale", { name: "app-arm64", pushedAt: daysAgo(90) });
    const index = world.addImage("flash-sale", {
      name: "app-index",
      tags: ["release-7"],
      pushedAt: daysAgo(90),
      children: [amd, arm],
    });
    const oldAmd = world.addImage("flash-sale", { name: "old-amd64", pushedAt: daysAgo(120) });
    const oldArm = world.addImage("flash-sale", { name: "old-arm64", pushedAt: daysAgo(120) });
    const oldIndex = world.addImage("flash-sale", {
      name: "old-index",
      tags: ["release-6"],
      pushedAt: daysAgo(120),
      children: [oldAmd, oldArm],
    });
    const td = world.addTaskDefinition("flash-sale-app", 9, [imageUri(REGION, "flash-sale", { tag: "release-7" })]);
    world.addService("flash-sale-cluster", { name: "flash-sale-service", taskDefinition: td });
    // Act
    const report = await run();
    // Assess
    expect(actionFor(report, index)?.reason).toMatch(/in use: task definition flash-sale-app:9 .* as :release-7/);
    expect(actionFor(report, amd)?.reason).toMatch(/child of kept image index sha256:/);
    expect(actionFor(report, arm)?.status).toBe("skipped");
    const calls = world
      .callsOf("BatchDeleteImage")
      .map((c) => (c.input as { imageIds: { imageDigest: string }[] }).imageIds.map((i) => i.imageDigest));
    expect(calls).toHaveLength(2);
    expect(calls[0]).toEqual([oldIndex]);
    expect(new Set(calls[1])).toEqual(new Set([oldAmd, oldArm]));
    expect(world.callsOf("BatchGetImage")[0]?.input).toMatchObject({
      acceptedMediaTypes: expect.arrayContaining(["application/vnd.oci.image.index.v1+json"]),
    });
    // The index's own size is the largest child's: only the two children are counted.
    expect(report.metrics.bytesReclaimed).toBe(100_000_000);
  });

  it("keeps an untagged image referenced only by digest, from a task definition and from a running task", async () => {
    withNewest();
    const pinned = world.addImage("flash-sale", { name: "pinned", pushedAt: daysAgo(200) });
    const running = world.addImage("flash-sale", { name: "running", pushedAt: daysAgo(200) });
    const unused = world.addImage("flash-sale", { name: "unused", pushedAt: daysAgo(200) });
    const td = world.addTaskDefinition("worker", 3, [imageUri(REGION, "flash-sale", { digest: pinned })]);
    world.addService("flash-sale-cluster", { name: "worker", taskDefinition: td });
    // The task runs :stable, which has moved on since: the digest it runs is what counts.
    world.addTask("flash-sale-cluster", {
      id: "abc123",
      taskDefinition: td,
      image: imageUri(REGION, "flash-sale", { tag: "stable" }),
      imageDigest: running,
      lastStatus: "PENDING",
    });
    const report = await run();
    expect(actionFor(report, pinned)?.reason).toMatch(/task definition worker:3 .* by digest/);
    expect(actionFor(report, running)?.reason).toMatch(/PENDING task abc123 by digest/);
    expect(deleted(world)).toEqual([unused]);
  });

  it("keeps the last known-good revision of a stopped service, beyond the last K revisions", async () => {
    withNewest();
    const images = [1, 2, 3, 4, 5, 6, 7].map((rev) =>
      world.addImage("flash-sale", { name: `rev-${rev}`, tags: [`build-${rev}`], pushedAt: daysAgo(100 - rev) }),
    );
    const arns = [1, 2, 3, 4, 5, 6, 7].map((rev) =>
      world.addTaskDefinition("flash-sale-app", rev, [imageUri(REGION, "flash-sale", { tag: `build-${rev}` })]),
    );
    world.addService("flash-sale-cluster", {
      name: "flash-sale-service",
      taskDefinition: arns[6] as string,
      desiredCount: 0,
      tags: { [LAST_KNOWN_GOOD_TAG]: arns[3] as string },
    });
    const report = await run();
    expect(actionFor(report, images[3] as string)?.reason).toMatch(/last known-good of service flash-sale-service/);
    expect(actionFor(report, images[5] as string)?.reason).toMatch(/one of the last 2 of flash-sale-app/);
    expect(actionFor(report, images[6] as string)?.reason).toMatch(/PRIMARY deployment of service flash-sale-service/);
    expect(new Set(deleted(world))).toEqual(new Set([images[0], images[1], images[2], images[4]]));
    expect(world.callsOf("DescribeServices")[0]?.input).toMatchObject({ include: ["TAGS"] });
  });

  it("keeps the signature attached to a kept image and deletes the one attached to a deleted image", async () => {
    const kept = withNewest();
    const signature = world.addImage("flash-sale", {
      name: "sig-of-newest",
      pushedAt: daysAgo(60),
      artifactMediaType: "application/vnd.dev.cosign.artifact.sig.v1+json",
      subject: kept,
    });
    const cosignTag = world.addImage("flash-sale", {
      name: "cosign-tag-sig",
      tags: [`${kept.replace(":", "-")}.sig`],
      pushedAt: daysAgo(60),
    });
    const old = world.addImage("flash-sale", { name: "old", pushedAt: daysAgo(90) });
    const oldSbom = world.addImage("flash-sale", {
      name: "sbom-of-old",
      pushedAt: daysAgo(90),
      artifactMediaType: "application/spdx+json",
      subject: old,
    });
    const report = await run();
    expect(actionFor(report, signature)?.reason).toMatch(
      /application\/vnd.dev.cosign.artifact.sig.v1\+json attached to kept/,
    );
    expect(actionFor(report, cosignTag)?.reason).toMatch(/attached to kept/);
    expect(new Set(deleted(world))).toEqual(new Set([old, oldSbom]));
    // Attachments do not take a "newest" place: the newest pushed image is still the one kept as newest.
    expect(actionFor(report, kept)?.reason).toMatch(/newest 1 of the 1 kept/);
  });

  it("deletes an untagged image older than the age limit and keeps a younger one", async () => {
    withNewest();
    const old = world.addImage("flash-sale", { name: "old-untagged", pushedAt: daysAgo(31), sizeBytes: 2 * 1024 ** 3 });
    const young = world.addImage("flash-sale", { name: "young-untagged", pushedAt: daysAgo(29) });
    const release = world.addImage("flash-sale", { name: "release", tags: ["v1.4.2"], pushedAt: daysAgo(400) });
    const latest = world.addImage("flash-sale", { name: "latest", tags: ["latest"], pushedAt: daysAgo(400) });
    const prerelease = world.addImage("flash-sale", { name: "rc", tags: ["v1.5.0-rc1"], pushedAt: daysAgo(400) });
    const report = await run();
    expect(actionFor(report, young)?.reason).toMatch(/pushed 29 days ago \(age limit 30\)/);
    expect(actionFor(report, release)?.reason).toMatch(/protected tag v1.4.2/);
    expect(actionFor(report, latest)?.reason).toMatch(/protected tag latest/);
    expect(actionFor(report, old)).toMatchObject({
      status: "done",
      reason: expect.stringMatching(/untagged, pushed 31 days ago/),
    });
    expect(new Set(deleted(world))).toEqual(new Set([old, prerelease]));
  });

  it("keeps an image pulled within D days only when the rule is on", async () => {
    withNewest();
    const pulled = world.addImage("flash-sale", { name: "pulled", pushedAt: daysAgo(90), lastPulledAt: daysAgo(3) });
    const off = await run({ dryRun: true });
    expect(actionFor(off, pulled)?.status).toBe("would-do");
    const on = await run({ dryRun: true, system: flashSale({ pulledWithinDays: 7 }) });
    expect(actionFor(on, pulled)?.reason).toMatch(/pulled 3 days ago \(within 7\)/);
  });

  it("keeps the image of a container Lambda function version and of a blue/green task set", async () => {
    withNewest();
    const fn = world.addImage("flash-sale", { name: "fn", pushedAt: daysAgo(90) });
    const green = world.addImage("flash-sale", { name: "green", tags: ["green"], pushedAt: daysAgo(90) });
    world.addFunction("thumbnailer", "3", imageUri(REGION, "flash-sale", { tag: "moved-on" }), fn);
    const blue = world.addTaskDefinition("bg", 1, [imageUri(REGION, "other-repo", { tag: "x" })]);
    const greenTd = world.addTaskDefinition(
      "bg-green",
      1,
      [imageUri(REGION, "flash-sale", { tag: "green" })],
      "INACTIVE",
    );
    world.addService("flash-sale-cluster", { name: "bg", taskDefinition: blue, taskSets: [blue, greenTd] });
    const report = await run();
    expect(actionFor(report, fn)?.reason).toMatch(/Lambda function thumbnailer:3 by digest/);
    expect(actionFor(report, green)?.reason).toMatch(/task set/);
    expect(deleted(world)).toEqual([]);
    expect(world.callsOf("GetFunction")[0]?.input).toEqual({ FunctionName: "thumbnailer", Qualifier: "3" });
  });

  it("reads every page of DescribeImages, ListTaskDefinitions and ListServices", async () => {
    // 2,500 images (3 pages of 1,000), 250 revisions (3 pages of 100), 250 services (3 pages of 100).
    withNewest();
    for (let i = 0; i < 2_499; i++) {
      world.addImage("flash-sale", { name: `img-${i}`, tags: [`b${i}`], pushedAt: daysAgo(100 + (i % 50)) });
    }
    for (let f = 0; f < 125; f++) {
      for (const rev of [1, 2])
        world.addTaskDefinition(`fam-${String(f).padStart(3, "0")}`, rev, [
          imageUri(REGION, "flash-sale", { tag: `b${f * 2 + rev - 1}` }),
        ]);
    }
    for (let s = 0; s < 250; s++) {
      world.addService("flash-sale-cluster", {
        name: `svc-${s}`,
        taskDefinition: world.addTaskDefinition(
          `svc-${s}`,
          1,
          [imageUri(REGION, "flash-sale", { tag: `b${1000 + s}` })],
          "INACTIVE",
        ),
      });
    }
    const report = await run({ dryRun: true });
    expect(world.callsOf("DescribeImages").map((c) => (c.input as { nextToken?: string }).nextToken)).toEqual([
      undefined,
      "1000",
      "2000",
    ]);
    expect(world.callsOf("ListTaskDefinitions")).toHaveLength(3);
    expect(world.callsOf("ListServices")).toHaveLength(3);
    expect(world.callsOf("DescribeServices")).toHaveLength(25);
    // b249 comes from the last ListTaskDefinitions page, b1249 from the last ListServices page, img-2498 from
    // the last DescribeImages page.
    expect(actionFor(report, digestOf("img-249"))?.status).toBe("skipped");
    expect(actionFor(report, digestOf("img-1249"))?.status).toBe("skipped");
    expect(actionFor(report, digestOf("img-2498"))?.status).toBe("would-do");
    expect(report.metrics.imagesKept).toBe(1 + 250 + 250);
    expect(report.metrics.imagesWouldDelete).toBe(2_500 - 501);
    expect(world.callsOf("DescribeTaskDefinition")).toHaveLength(500);
  });
});

describe("ecr-cleanup reports and stays safe", () => {
  it("reports a BatchDeleteImage partial failure per image and counts only what went", async () => {
    withNewest();
    const a = world.addImage("flash-sale", { name: "a", pushedAt: daysAgo(90) });
    const b = world.addImage("flash-sale", { name: "b", pushedAt: daysAgo(91) });
    world.options.deleteFailures = {
      [b]: {
        failureCode: "ImageReferencedByManifestList",
        failureReason: "Requested image referenced by a manifest list",
      },
    };
    const report = await run();
    expect(actionFor(report, a)?.status).toBe("done");
    expect(actionFor(report, b)).toMatchObject({
      status: "failed",
      reason: "ImageReferencedByManifestList: Requested image referenced by a manifest list",
    });
    expect(report.status).toBe("partial");
    expect(report.metrics).toMatchObject({ imagesDeleted: 1, imagesFailed: 1, bytesReclaimed: 50_000_000 });
  });

  for (const [service, command, action] of [
    ["ECS", "ListServices", "ecs:ListServices"],
    ["ECS", "DescribeTaskDefinition", "ecs:DescribeTaskDefinition"],
    ["Lambda", "ListFunctions", "lambda:ListFunctions"],
  ] as const) {
    it(`deletes nothing when ${service} ${command} is denied, and says why`, async () => {
      world.restore();
      world = new EcrWorld({ region: REGION, errors: { [command]: () => accessDenied(action) } });
      withNewest();
      const old = world.addImage("flash-sale", { name: "old", pushedAt: daysAgo(90) });
      const td = world.addTaskDefinition("flash-sale-app", 1, [imageUri(REGION, "flash-sale", { tag: "x" })]);
      world.addService("flash-sale-cluster", { name: "flash-sale-service", taskDefinition: td });
      const report = await run();
      expect(world.callsOf("BatchDeleteImage")).toHaveLength(0);
      expect(report.status).toBe("failed");
      const failure = report.actions.find((a) => a.action === "read-in-use");
      expect(failure?.reason).toMatch(
        new RegExp(`nothing is deleted in ap-south-1.*${command}.*AccessDeniedException`),
      );
      expect(actionFor(report, old)).toMatchObject({
        status: "skipped",
        reason: expect.stringMatching(/would delete .*not deleted/),
      });
      expect(report.summary).toMatch(/^nothing deleted: .*; the plan: 1 image to delete, 0.047 GB/);
    });
  }

  it("deletes nothing when ECS stays throttled past the retries, and retries a passing throttle", async () => {
    const throttled = () =>
      Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException", $metadata: { httpStatusCode: 400 } });
    world.restore();
    world = new EcrWorld({ region: REGION, errors: { ListTaskDefinitions: throttled } });
    withNewest();
    world.addImage("flash-sale", { name: "old", pushedAt: daysAgo(90) });
    const report = await run();
    expect(world.callsOf("ListTaskDefinitions")).toHaveLength(4);
    expect(world.callsOf("BatchDeleteImage")).toHaveLength(0);
    expect(report.actions.find((a) => a.action === "read-in-use")?.reason).toMatch(
      /ListTaskDefinitions: ThrottlingException/,
    );

    // Once throttled, then answered: the run goes on and deletes.
    let throttles = 1;
    world.options.errors = { ListTaskDefinitions: () => (throttles-- > 0 ? throttled() : undefined) };
    const retried = await run();
    expect(retried.metrics.imagesDeleted).toBe(1);
  }, 15_000);

  it("deletes nothing in a repository whose image index manifest cannot be read", async () => {
    withNewest();
    const old = world.addImage("flash-sale", { name: "old", pushedAt: daysAgo(90) });
    // An index whose manifest ECR does not return: its children are unknown.
    world.addImage("flash-sale", {
      name: "ghost-index",
      pushedAt: daysAgo(90),
      mediaType: "application/vnd.docker.distribution.manifest.list.v2+json",
    });
    const images = world.repositories.get("flash-sale") ?? [];
    for (const image of images) if (image.detail.imageDigest === digestOf("ghost-index")) image.manifest = "not json";
    const report = await run();
    expect(world.callsOf("BatchDeleteImage")).toHaveLength(0);
    expect(actionFor(report, old)?.reason).toMatch(/could not read the manifest of 1 image index/);
  });

  it("a dry run sends read calls only and reports counts, bytes and the monthly cost per repository", async () => {
    withNewest();
    for (let i = 0; i < 4; i++)
      world.addImage("flash-sale", { name: `old-${i}`, pushedAt: daysAgo(60 + i), sizeBytes: 1024 ** 3 });
    const report = await run({ dryRun: true, system: flashSale({ priceGbMonthUsd: 0.1 }) });
    expect(world.calls.every((c) => /^(Describe|List|BatchGet|Get)/.test(c.command))).toBe(true);
    expect(report.metrics).toMatchObject({
      imagesWouldDelete: 4,
      imagesKept: 1,
      bytesReclaimed: 4 * 1024 ** 3,
      monthlyCostSavedUsd: 0.4,
    });
    expect(report.details?.repositories).toEqual([
      expect.objectContaining({
        repository: "flash-sale",
        kept: 1,
        wouldDelete: 4,
        monthlyUsdSaved: 0.4,
        keptBecause: { newest: 1, young: 1 },
      }),
    ]);
    expect(report.summary).toBe("would delete 4 images, 4.0 GB ($0.40/month saved); kept 1");
  });

  it("a second run right after the first deletes nothing, and a concurrent duplicate counts gone images as done", async () => {
    withNewest();
    const old = world.addImage("flash-sale", { name: "old", pushedAt: daysAgo(90) });
    const [first, duplicate] = await Promise.all([run(), run()]);
    expect(actionFor(first, old)?.status).toBe("done");
    expect(actionFor(duplicate, old)?.status).toBe("done");
    const before = world.callsOf("BatchDeleteImage").length;
    const second = await run();
    expect(world.callsOf("BatchDeleteImage").length).toBe(before);
    expect(second.metrics.imagesDeleted).toBe(0);
    expect(second.status).toBe("skipped");
  });

  it("an EKS system whose cluster cannot be read deletes nothing, saying why", async () => {
    // The images its deployments and their replicaset history use are part of what is in use: no cluster
    // read, no delete (tests/integration/ecr-cleanup-eks.test.ts reads a real local Kubernetes API).
    const base = findSystem(builtinFleet(), "partpal-ims");
    const partpal = { ...base, ecr: ecrSchema.parse({ repositories: ["partpal-api", "partpal-ims"], keepLast: 1 }) };
    withNewest("partpal-api");
    world.repositories.set("partpal-ims", []);
    const old = world.addImage("partpal-api", { name: "old", pushedAt: daysAgo(90) });
    const report = await run({ system: partpal });
    expect(world.callsOf("BatchDeleteImage")).toHaveLength(0);
    expect(actionFor(report, old)?.reason).toMatch(
      /not deleted: nothing is deleted in af-south-1 while what is in use is unknown \(could not read EKS partpal-ims\/partpal deployments and replicasets/,
    );
    const actions = ecrCleanupRunbook.permissions(partpal).flatMap((p) => p.actions);
    expect(actions).toContain("ecr:BatchDeleteImage");
    expect(actions).toContain("eks:DescribeCluster");
    expect(ecrCleanupRunbook.kubernetesAccess?.(partpal)).toMatchObject([
      { cluster: "partpal-ims", accessScope: { type: "namespace", namespaces: ["partpal"] } },
    ]);
    expect(report.metrics).toMatchObject({ imagesHeld: 1, bytesHeld: 50_000_000, imagesDeleted: 0 });
  });

  it("bad input: an unknown repository or a bad concurrency changes nothing and says what is allowed", async () => {
    const report = await run({ input: { repository: "nope" } });
    expect(report.status).toBe("failed");
    expect(report.actions[0]?.reason).toBe('"nope" is not an ECR repository of flash-sale; known: flash-sale');
    expect(world.calls).toHaveLength(0);
    const parsed = ecrCleanupRunbook.input.safeParse({ concurrency: "0" });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toBe("must be a whole number from 1 to 50");
    expect(ecrCleanupRunbook.input.safeParse({ force: true }).success).toBe(false);
  });

  it("sends only commands its declared IAM permissions allow, on the system's repositories", async () => {
    withNewest();
    world.addImage("flash-sale", { name: "old", pushedAt: daysAgo(90) });
    const td = world.addTaskDefinition("flash-sale-app", 1, [imageUri(REGION, "flash-sale", { tag: "x" })]);
    world.addService("flash-sale-cluster", { name: "flash-sale-service", taskDefinition: td });
    world.addTask("flash-sale-cluster", {
      id: "t1",
      taskDefinition: td,
      image: imageUri(REGION, "flash-sale", { tag: "x" }),
    });
    world.addFunction("fn", "$LATEST", imageUri(REGION, "flash-sale", { tag: "x" }), digestOf("newest"));
    await run();
    const system = flashSale();
    const declared = ecrCleanupRunbook.permissions(system);
    const granted = new Set(declared.flatMap((p) => p.actions));
    const service = (command: string) =>
      ["DescribeImages", "BatchGetImage", "BatchDeleteImage"].includes(command)
        ? "ecr"
        : ["ListFunctions", "GetFunction"].includes(command)
          ? "lambda"
          : "ecs";
    const sent = new Set(world.calls.map((c) => `${service(c.command)}:${c.command}`));
    expect(sent.size).toBeGreaterThanOrEqual(10);
    for (const action of sent) expect(granted, action).toContain(action);
    const ecrStatement = declared.find((p) => p.actions.includes("ecr:BatchDeleteImage"));
    expect(ecrStatement?.resources).toEqual([`arn:aws:ecr:${REGION}:*:repository/flash-sale`]);
  });
});

describe("ecr catalogue and image references", () => {
  it("parses ECR image URIs and ignores images from other registries", () => {
    const digest = digestOf("x");
    expect(parseImageUri(`${ACCOUNT}.dkr.ecr.ap-south-1.amazonaws.com/team/api:1.2.3@${digest}`)).toEqual({
      registryId: ACCOUNT,
      region: "ap-south-1",
      repository: "team/api",
      tag: "1.2.3",
      digest,
    });
    expect(parseImageUri(`${ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn/api`)).toMatchObject({ repository: "api" });
    expect(parseImageUri("public.ecr.aws/nginx/nginx:latest")).toBeUndefined();
    expect(parseImageUri("postgres:15")).toBeUndefined();
  });

  it("applies the defaults: semver and latest protected, pulls off, 30 days, 5 revisions, $0.10", () => {
    const ecr = ecrSchema.parse({ repositories: ["api", { name: "worker", keepLast: 3 }] });
    expect(ecr).toMatchObject({ keepLast: 10, maxAgeDays: 30, keepTaskDefinitionRevisions: 5, priceGbMonthUsd: 0.1 });
    expect(ecr.pulledWithinDays).toBeUndefined();
    const patterns = ecr.protectedTags.map((p) => new RegExp(p));
    expect(["1.2.3", "v10.0.1", "latest"].every((t) => patterns.some((p) => p.test(t)))).toBe(true);
    expect(["1.2.3-rc1", "latest-dev", "sha-abc", "01.2.3"].some((t) => patterns.some((p) => p.test(t)))).toBe(false);
    expect(DOCKER_MANIFEST).toMatch(/manifest/);
  });

  it("rejects bad ECR settings naming the system, the field and what is allowed", () => {
    const base = findSystem(builtinFleet(), "flash-sale");
    const bad = (ecr: unknown) => {
      const result = systemSchema.safeParse({ ...base, ecr });
      return result.success ? [] : result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    };
    expect(bad({ repositories: ["api"], protectedTags: ["(unclosed"] })[0]).toMatch(
      /^ecr\.protectedTags\.0: must be a regular expression such as .* \(got "\(unclosed": /,
    );
    expect(bad({ repositories: ["api"], keepTaskDefinitionRevisions: 1 })).toEqual([
      "ecr.keepTaskDefinitionRevisions: must be 2 or more: the revision before the current one is the rollback target",
    ]);
    expect(bad({ repositories: ["api", "api"] })).toEqual(['ecr.repositories.1: duplicate repository "api"']);
    expect(bad({ repositories: ["Bad_Name!"] })[0]).toMatch(/ecr\.repositories\.0.*ECR repository name/);
    expect(bad({ repositories: ["api"], priceGbMonthUsd: 0 })[0]).toMatch(/must be a price in USD above 0/);
  });

  it("every system of the fleet has an ecr section from its guide, and each deployed one a weekly schedule", () => {
    const fleet = builtinFleet();
    for (const id of ["partpal-ims", "flash-sale", "ims-2", "ode", "ez-tracking"]) {
      const system = findSystem(fleet, id);
      expect(system.ecr?.repositories.length, id).toBeGreaterThan(0);
      const schedule = fleet.schedules.find((s) => s.system === id && s.runbook === "ecr-cleanup");
      expect(schedule?.expression, id).toBe("cron(0 4 ? * SUN *)");
      expect(schedule?.timezone, id).toBe(system.timezone);
    }
    expect(findSystem(fleet, "flash-sale").ecr?.repositories).toEqual(["flash-sale"]);
    expect(ecrCleanupRunbook.planNote?.(findSystem(fleet, "ode"), {})).toBeUndefined();
  });
});
