import { DescribeClusterCommand, EKSClient } from "@aws-sdk/client-eks";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { ecrCleanupRunbook } from "../../runbooks/ecr-cleanup/index.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import { ecrSchema } from "../../systems/schema.js";
import { ACCOUNT_ID, CREDENTIALS } from "../helpers/aws-account.js";
import { testClients, testContext } from "../helpers/context.js";
import { digestOf, EcrWorld, imageUri } from "../helpers/ecr-world.js";
import { type KubeApiServer, startKubeApi } from "../helpers/kube-api.js";

// PartPal IMS on EKS: what its deployments run and their replicaset history may roll back to is read from
// a real local Kubernetes API (tests/helpers/kube-api.ts) through the official client.
const REGION = "af-south-1";
const NOW = new Date("2026-11-22T02:00:00Z");
const daysAgo = (n: number) => new Date(NOW.getTime() - n * 86_400_000);

let world: EcrWorld | undefined;
let api: KubeApiServer | undefined;
afterEach(async () => {
  world?.restore();
  await api?.close();
  world = undefined;
  api = undefined;
});

async function setup() {
  const base = findSystem(builtinFleet(), "partpal-ims");
  if (base.runtime.kind !== "eks") throw new Error("PartPal IMS runs on EKS");
  const system = { ...base, ecr: ecrSchema.parse({ repositories: ["partpal-api"], keepLast: 1, maxAgeDays: 30 }) };
  world = new EcrWorld({ region: REGION });
  api = await startKubeApi({ cluster: base.runtime.cluster, namespace: base.runtime.namespace });
  const eks = new EKSClient({
    region: REGION,
    credentials: CREDENTIALS,
  });
  mockClient(eks)
    .on(DescribeClusterCommand, { name: base.runtime.cluster })
    .resolves({
      cluster: {
        name: base.runtime.cluster,
        arn: `arn:aws:eks:${REGION}:${ACCOUNT_ID}:cluster/${base.runtime.cluster}`,
        status: "ACTIVE",
        endpoint: api.url,
        certificateAuthority: { data: api.caData },
      },
    });
  const run = (dryRun = false) =>
    ecrCleanupRunbook.run(
      testContext({ system, now: NOW, dryRun, clients: { ...testClients(), eks } }),
      ecrCleanupRunbook.input.parse({}),
    );
  return { world, api, run };
}

describe("ecr-cleanup on an EKS system", () => {
  it("keeps what the deployments run (by tag) and what their replicaset history names (by digest); deletes the rest", async () => {
    const { world, api, run } = await setup();
    world.addImage("partpal-api", { name: "newest", tags: ["build-999"], pushedAt: daysAgo(1) });
    const running = world.addImage("partpal-api", { name: "v3", tags: ["build-3"], pushedAt: daysAgo(60) });
    const previous = world.addImage("partpal-api", { name: "v2", pushedAt: daysAgo(90) });
    const unused = world.addImage("partpal-api", { name: "v1", pushedAt: daysAgo(120) });
    // Revision 3 (current) pulls build-3 by tag; revision 2 (history, the rollback target) by digest.
    api.addDeployment({
      name: "partpal-api",
      replicas: 2,
      image: (revision) =>
        revision === "3"
          ? imageUri(REGION, "partpal-api", { tag: "build-3" })
          : imageUri(REGION, "partpal-api", { digest: digestOf("v2") }),
    });
    const report = await run();
    const deleted = world
      .callsOf("BatchDeleteImage")
      .flatMap((c) => (c.input as { imageIds: { imageDigest: string }[] }).imageIds.map((i) => i.imageDigest));
    expect(deleted).toEqual([unused]);
    const kept = (digest: string) => report.actions.find((a) => a.resource.endsWith(`@${digest}`));
    expect(kept(running)?.reason).toMatch(/in use: deployment partpal-api in EKS partpal-ims\/partpal/);
    expect(kept(previous)?.reason).toMatch(/revision 2 of partpal-api .* by digest/);
    expect(report.details?.inUse).toMatchObject({ kubernetesDeployments: 1 });
    // The cluster was only read.
    expect(api.writes()).toEqual([]);
  });

  it("a dry run reads the cluster and deletes nothing; a second run deletes nothing more", async () => {
    const { world, api, run } = await setup();
    world.addImage("partpal-api", { name: "newest", tags: ["build-999"], pushedAt: daysAgo(1) });
    const unused = world.addImage("partpal-api", { name: "v1", pushedAt: daysAgo(120) });
    api.addDeployment({
      name: "partpal-api",
      replicas: 2,
      image: () => imageUri(REGION, "partpal-api", { tag: "build-999" }),
    });
    const dry = await run(true);
    expect(world.callsOf("BatchDeleteImage")).toEqual([]);
    expect(dry.actions.find((a) => a.resource.endsWith(`@${unused}`))?.status).toBe("would-do");
    await run();
    const after = world.callsOf("BatchDeleteImage").length;
    const again = await run();
    expect(world.callsOf("BatchDeleteImage").length).toBe(after);
    expect(again.metrics.imagesDeleted).toBe(0);
  });
});
