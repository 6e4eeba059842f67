import { BatchGetImageCommand, DescribeImagesCommand, type ECRClient, type ImageDetail } from "@aws-sdk/client-ecr";
import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  type ECSClient,
  ListClustersCommand,
  ListServicesCommand,
  ListTaskDefinitionsCommand,
  ListTasksCommand,
  type Service,
  type Task,
} from "@aws-sdk/client-ecs";
import { GetFunctionCommand, type LambdaClient, ListFunctionsCommand } from "@aws-sdk/client-lambda";
import { errorMessage, errorName, RunbookError } from "../../lib/errors.js";
import { chunk, type Limiter } from "../../lib/pool.js";
import { retryThrottled } from "../../lib/retry.js";
import type { EcrRepository } from "../../systems/schema.js";
import { type EcrImage, type ImageReference, INDEX_MEDIA_TYPES, type RepositoryState } from "./plan.js";

/**
 * Reading for ECR cleanup: the repositories' images, and every image that something in the account and
 * region runs or may run again. Every call goes through one limiter (so `concurrency` is calls in flight)
 * and is retried on throttling; anything that still cannot be read is an {@link InUseReadError}, and the
 * caller deletes nothing.
 */

/** The tag the rollback runbook writes on an ECS service: the ARN of its last known-good task definition. */
export const LAST_KNOWN_GOOD_TAG = "ops-autopilot:last-known-good";

/** How reads are run. */
export interface ReadOptions {
  limit: Limiter;
  signal?: AbortSignal | undefined;
  onRetry?: (info: { operation: string; attempt: number; delayMs: number; error: unknown }) => void;
}

/** Something needed to decide what is in use could not be read. */
export class InUseReadError extends RunbookError {
  readonly operation: string;
  constructor(operation: string, cause: unknown) {
    super(`could not read ${operation}: ${errorName(cause)}: ${errorMessage(cause)}`, { cause });
    this.name = "InUseReadError";
    this.operation = operation;
  }
}

function caller(options: ReadOptions) {
  return <T>(operation: string, call: () => Promise<T>): Promise<T> =>
    retryThrottled(call, {
      limit: options.limit,
      signal: options.signal,
      onRetry: (info) => options.onRetry?.({ operation, ...info }),
    }).catch((error: unknown) => {
      throw error instanceof InUseReadError ? error : new InUseReadError(operation, error);
    });
}

/** All pages of a token-paginated list, one page after the other. */
async function allPages<T>(fetch: (token: string | undefined) => Promise<{ items: T[]; next?: string | undefined }>) {
  const items: T[] = [];
  let token: string | undefined;
  do {
    const page = await fetch(token);
    items.push(...page.items);
    token = page.next;
  } while (token);
  return items;
}

/** `123456789012.dkr.ecr.af-south-1.amazonaws.com/api:1.2@sha256:…` → its parts; undefined for non-ECR images. */
export function parseImageUri(uri: string): Omit<ImageReference, "source"> | undefined {
  const match =
    /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([a-z0-9._/-]+?)(?::([\w][\w.-]{0,127}))?(?:@(sha256:[0-9a-f]{64}))?$/.exec(
      uri.trim(),
    );
  if (!match) return undefined;
  const [, registryId, region, repository, tag, digest] = match;
  if (!registryId || !region || !repository) return undefined;
  return { registryId, region, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

function toImage(detail: ImageDetail): EcrImage | undefined {
  if (!detail.imageDigest || !detail.imagePushedAt) return undefined;
  return {
    digest: detail.imageDigest,
    tags: detail.imageTags ?? [],
    pushedAt: detail.imagePushedAt,
    sizeBytes: detail.imageSizeInBytes ?? 0,
    lastPulledAt: detail.lastRecordedPullTime,
    manifestMediaType: detail.imageManifestMediaType,
    artifactMediaType: detail.artifactMediaType,
    subjectDigest: detail.subjectManifestDigest,
  };
}

/**
 * A repository's images (pages of 1,000) and, for each image index, the manifests it lists
 * (`BatchGetImage`, 100 per call). An index whose manifest cannot be read makes the state unreadable:
 * its children would look unused.
 */
export async function readRepository(
  ecr: ECRClient,
  repository: EcrRepository,
  options: ReadOptions & { registryId?: string | undefined },
): Promise<RepositoryState> {
  const call = caller(options);
  const registry = options.registryId ? { registryId: options.registryId } : {};
  const details = await allPages(async (nextToken) => {
    const page = await call(`ECR DescribeImages ${repository.name}`, () =>
      ecr.send(
        new DescribeImagesCommand({ repositoryName: repository.name, maxResults: 1000, nextToken, ...registry }),
      ),
    );
    return { items: page.imageDetails ?? [], next: page.nextToken };
  });
  const images = details.map(toImage).filter((image): image is EcrImage => image !== undefined);
  const registryId = details.find((d) => d.registryId)?.registryId ?? options.registryId;
  const indexes = images.filter((image) => INDEX_MEDIA_TYPES.includes(image.manifestMediaType ?? ""));
  const problems: string[] = [];
  await Promise.all(
    chunk(indexes, 100).map(async (batch) => {
      const result = await call(`ECR BatchGetImage ${repository.name}`, () =>
        ecr.send(
          new BatchGetImageCommand({
            repositoryName: repository.name,
            ...(registryId ? { registryId } : {}),
            imageIds: batch.map((image) => ({ imageDigest: image.digest })),
            acceptedMediaTypes: [...INDEX_MEDIA_TYPES],
          }),
        ),
      );
      const manifests = new Map((result.images ?? []).map((i) => [i.imageId?.imageDigest, i.imageManifest]));
      for (const image of batch) {
        try {
          const body = JSON.parse(manifests.get(image.digest) ?? "") as { manifests?: { digest?: string }[] };
          image.children = (body.manifests ?? []).flatMap((m) => (m.digest ? [m.digest] : []));
        } catch {
          const failure = result.failures?.find((f) => f.imageId?.imageDigest === image.digest);
          problems.push(`index ${image.digest}: ${failure?.failureCode ?? "no readable manifest"}`);
        }
      }
    }),
  );
  return {
    repository: repository.name,
    ...(registryId ? { registryId } : {}),
    keepLast: repository.keepLast,
    images,
    ...(problems.length
      ? {
          unreadable: `could not read the manifest of ${problems.length} image index(es): ${problems.slice(0, 3).join("; ")}`,
        }
      : {}),
  };
}

/** `arn:…:task-definition/api:7` or `api:7` → `api:7`. */
function familyRevision(taskDefinition: string): string {
  return taskDefinition.slice(taskDefinition.lastIndexOf("/") + 1);
}

/**
 * The task definitions a service may run, each with the reason for the report: its own, those of its
 * deployments and task sets, and its last known-good ({@link LAST_KNOWN_GOOD_TAG}).
 */
function taskDefinitionsOfService(cluster: string, s: Service): { taskDefinition: string; why: string }[] {
  const name = s.serviceName ?? s.serviceArn ?? "?";
  const named: { taskDefinition: string; why: string }[] = [];
  if (s.taskDefinition) named.push({ taskDefinition: s.taskDefinition, why: `service ${name}` });
  for (const d of s.deployments ?? []) {
    if (d.taskDefinition) {
      named.push({ taskDefinition: d.taskDefinition, why: `${d.status ?? ""} deployment of service ${name}` });
    }
  }
  for (const set of s.taskSets ?? []) {
    if (set.taskDefinition) {
      named.push({ taskDefinition: set.taskDefinition, why: `task set ${set.id ?? ""} of service ${name}` });
    }
  }
  const lastKnownGood = s.tags?.find((t) => t.key === LAST_KNOWN_GOOD_TAG)?.value;
  if (lastKnownGood) {
    named.push({ taskDefinition: lastKnownGood, why: `last known-good of service ${name} in ${cluster}` });
  }
  return named;
}

/** What {@link readInUse} found, with counts for the report. */
export interface InUse {
  references: ImageReference[];
  counts: {
    clusters: number;
    services: number;
    tasks: number;
    taskDefinitions: number;
    functions: number;
    /** EKS systems: the deployments of the system's namespace. */
    kubernetesDeployments?: number;
  };
}

/** Ignorable DescribeServices/DescribeTasks failures: the resource went away between list and describe. */
const GONE = new Set(["MISSING"]);

/**
 * Every image in use in the account and region: running and pending ECS tasks (by the digest they run),
 * every deployment and task set of every service, each service's last known-good task definition
 * ({@link LAST_KNOWN_GOOD_TAG}), the newest `keepRevisions` revisions of every active task-definition
 * family, and every version of every container-image Lambda function.
 */
export async function readInUse(
  clients: { ecs: ECSClient; lambda: LambdaClient },
  options: ReadOptions & { region: string; keepRevisions: number },
): Promise<InUse> {
  const call = caller(options);
  const { ecs, lambda } = clients;
  const references: ImageReference[] = [];
  const counts = { clusters: 0, services: 0, tasks: 0, taskDefinitions: 0, functions: 0 };
  const refer = (uri: string | undefined, source: string, digest?: string) => {
    const parsed = uri ? parseImageUri(uri) : undefined;
    if (!parsed) return;
    references.push({ ...parsed, source });
    if (digest) references.push({ ...parsed, tag: undefined, digest, source });
  };

  // One DescribeTaskDefinition per revision, however many things name it; every reason is kept for the report.
  const described = new Map<string, Promise<string[]>>();
  const whys = new Map<string, string[]>();
  const describe = async (taskDefinition: string, why: string): Promise<void> => {
    const key = familyRevision(taskDefinition);
    whys.set(key, [...(whys.get(key) ?? []), why]);
    let pending = described.get(key);
    if (!pending) {
      pending = call(`ECS DescribeTaskDefinition ${key}`, () =>
        ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition })),
      ).then((result) => {
        counts.taskDefinitions++;
        return (result.taskDefinition?.containerDefinitions ?? []).flatMap((c) => (c.image ? [c.image] : []));
      });
      described.set(key, pending);
    }
    await pending;
  };

  const service = async (cluster: string, s: Service) => {
    await Promise.all(taskDefinitionsOfService(cluster, s).map((named) => describe(named.taskDefinition, named.why)));
  };

  const servicesOf = async (cluster: string) => {
    const arns = await allPages(async (nextToken) => {
      const page = await call("ECS ListServices", () =>
        ecs.send(new ListServicesCommand({ cluster, maxResults: 100, nextToken })),
      );
      return { items: page.serviceArns ?? [], next: page.nextToken };
    });
    await Promise.all(
      chunk(arns, 10).map(async (batch) => {
        const result = await call("ECS DescribeServices", () =>
          ecs.send(new DescribeServicesCommand({ cluster, services: batch, include: ["TAGS"] })),
        );
        const failed = (result.failures ?? []).filter((f) => !GONE.has(f.reason ?? ""));
        if (failed.length) throw new InUseReadError("ECS DescribeServices", new Error(JSON.stringify(failed)));
        counts.services += result.services?.length ?? 0;
        await Promise.all((result.services ?? []).map((s) => service(cluster, s)));
      }),
    );
  };

  /** A running task: the images its containers run (with their digests), and its task definition. */
  const task = async (t: Task) => {
    counts.tasks++;
    const id = t.taskArn?.split("/").pop() ?? "?";
    for (const container of t.containers ?? []) {
      refer(container.image, `${t.lastStatus ?? ""} task ${id}`, container.imageDigest);
    }
    if (t.taskDefinitionArn) await describe(t.taskDefinitionArn, `task ${id}`);
  };

  const tasksOf = async (cluster: string) => {
    // desiredStatus RUNNING lists pending tasks too (they are on their way to RUNNING).
    const arns = await allPages(async (nextToken) => {
      const page = await call("ECS ListTasks", () =>
        ecs.send(new ListTasksCommand({ cluster, desiredStatus: "RUNNING", maxResults: 100, nextToken })),
      );
      return { items: page.taskArns ?? [], next: page.nextToken };
    });
    await Promise.all(
      chunk(arns, 100).map(async (batch) => {
        const result = await call("ECS DescribeTasks", () =>
          ecs.send(new DescribeTasksCommand({ cluster, tasks: batch })),
        );
        const failed = (result.failures ?? []).filter((f) => !GONE.has(f.reason ?? ""));
        if (failed.length) throw new InUseReadError("ECS DescribeTasks", new Error(JSON.stringify(failed)));
        await Promise.all((result.tasks ?? []).map(task));
      }),
    );
  };

  const clusters = async () => {
    const arns = await allPages(async (nextToken) => {
      const page = await call("ECS ListClusters", () =>
        ecs.send(new ListClustersCommand({ maxResults: 100, nextToken })),
      );
      return { items: page.clusterArns ?? [], next: page.nextToken };
    });
    counts.clusters = arns.length;
    await Promise.all(arns.flatMap((cluster) => [servicesOf(cluster), tasksOf(cluster)]));
  };

  const rollbackTargets = async () => {
    const arns = await allPages(async (nextToken) => {
      const page = await call("ECS ListTaskDefinitions", () =>
        ecs.send(new ListTaskDefinitionsCommand({ status: "ACTIVE", maxResults: 100, nextToken })),
      );
      return { items: page.taskDefinitionArns ?? [], next: page.nextToken };
    });
    const byFamily = new Map<string, { arn: string; revision: number }[]>();
    for (const arn of arns) {
      const [family, revision] = familyRevision(arn).split(":");
      if (!family) continue;
      byFamily.set(family, [...(byFamily.get(family) ?? []), { arn, revision: Number(revision) }]);
    }
    const work: Promise<void>[] = [];
    for (const [family, revisions] of byFamily) {
      const newest = revisions.sort((a, b) => b.revision - a.revision).slice(0, options.keepRevisions);
      for (const r of newest) work.push(describe(r.arn, `one of the last ${options.keepRevisions} of ${family}`));
    }
    await Promise.all(work);
  };

  const functions = async () => {
    const listed = await allPages(async (Marker) => {
      const page = await call("Lambda ListFunctions", () =>
        lambda.send(new ListFunctionsCommand({ FunctionVersion: "ALL", MaxItems: 50, Marker })),
      );
      return { items: page.Functions ?? [], next: page.NextMarker };
    });
    await Promise.all(
      listed
        .filter((f) => f.PackageType === "Image" && f.FunctionName)
        .map(async (f) => {
          const qualifier = f.Version && f.Version !== "$LATEST" ? { Qualifier: f.Version } : {};
          const result = await call(`Lambda GetFunction ${f.FunctionName}`, () =>
            lambda.send(new GetFunctionCommand({ FunctionName: f.FunctionName, ...qualifier })),
          );
          counts.functions++;
          const source = `Lambda function ${f.FunctionName}:${f.Version ?? "$LATEST"}`;
          refer(result.Code?.ImageUri, source);
          refer(result.Code?.ResolvedImageUri, source);
        }),
    );
  };

  await Promise.all([clusters(), rollbackTargets(), functions()]);
  // Descriptions started by any branch above must finish before the references are complete.
  for (const [key, pending] of described) {
    const images = await pending;
    for (const why of whys.get(key) ?? []) for (const image of images) refer(image, `task definition ${key} (${why})`);
  }
  return { references: references.filter((r) => r.region === options.region), counts };
}
