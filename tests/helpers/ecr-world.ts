import { createHash } from "node:crypto";
import {
  BatchDeleteImageCommand,
  type BatchDeleteImageCommandInput,
  BatchGetImageCommand,
  type BatchGetImageCommandInput,
  DescribeImagesCommand,
  type DescribeImagesCommandInput,
  ECRClient,
  type ImageDetail,
} from "@aws-sdk/client-ecr";
import {
  DescribeServicesCommand,
  type DescribeServicesCommandInput,
  DescribeTaskDefinitionCommand,
  type DescribeTaskDefinitionCommandInput,
  DescribeTasksCommand,
  type DescribeTasksCommandInput,
  ECSClient,
  ListClustersCommand,
  type ListClustersCommandInput,
  ListServicesCommand,
  type ListServicesCommandInput,
  ListTaskDefinitionsCommand,
  type ListTaskDefinitionsCommandInput,
  ListTasksCommand,
  type ListTasksCommandInput,
  type Service,
  type Task,
  type TaskDefinition,
} from "@aws-sdk/client-ecs";
import {
  type FunctionConfiguration,
  GetFunctionCommand,
  type GetFunctionCommandInput,
  LambdaClient,
  ListFunctionsCommand,
  type ListFunctionsCommandInput,
} from "@aws-sdk/client-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { ACCOUNT_ID, awsArn } from "./aws-account.js";

/**
 * A small stateful stand-in for the parts of ECR, ECS and Lambda that ecr-cleanup calls, answering with
 * the response shapes of the API references (DescribeImages' ImageDetail, BatchGetImage's Image and
 * ImageFailure, BatchDeleteImage's failures, ECS Service/Deployment/TaskSet/Task/TaskDefinition, Lambda
 * FunctionConfiguration and FunctionCodeLocation), paginated with each API's real page limits.
 * Deleted images disappear, so a second run sees what the first left.
 */

/** The shared fake account (aws-account.ts): the registry and every ARN of this world live in it. */
export const ACCOUNT = ACCOUNT_ID;
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";

/** `sha256:<64 hex>` derived from a name, so tests can refer to images by name. */
export function digestOf(name: string): string {
  return `sha256:${createHash("sha256").update(name).digest("hex")}`;
}

/** The ECR image URI of a repository in the world's registry. */
export function imageUri(region: string, repository: string, ref: { tag?: string; digest?: string }): string {
  const base = `${ACCOUNT}.dkr.ecr.${region}.amazonaws.com/${repository}`;
  return `${base}${ref.tag ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}

export interface WorldImage {
  detail: ImageDetail;
  /** The manifest body BatchGetImage returns (an index lists its children). */
  manifest?: string;
}

/** A call as the fake saw it, for counting and for the "no id in use is deleted" property. */
export interface SeenCall {
  command: string;
  input: unknown;
}

export interface WorldOptions {
  region: string;
  /** Added before every answer (the benchmark's 50 ms). */
  latencyMs?: number;
  /** Operation → the error that operation throws (none when the function returns undefined). */
  errors?: Partial<Record<string, () => Error | undefined>>;
  /** Digest → BatchDeleteImage failure code for that image. */
  deleteFailures?: Record<string, { failureCode: string; failureReason: string }>;
}

/** The world's state plus the mocks that serve it. */
export class EcrWorld {
  readonly repositories = new Map<string, WorldImage[]>();
  readonly clusters = new Map<string, { services: Service[]; tasks: Task[] }>();
  readonly taskDefinitions = new Map<string, TaskDefinition>();
  readonly functions: { config: FunctionConfiguration; imageUri: string; resolvedImageUri: string }[] = [];
  readonly calls: SeenCall[] = [];
  /** Calls being answered now, and the most at once (the benchmark checks it against `concurrency`). */
  inFlight = 0;
  maxInFlight = 0;
  readonly ecr = mockClient(ECRClient);
  readonly ecs = mockClient(ECSClient);
  readonly lambda = mockClient(LambdaClient);

  constructor(readonly options: WorldOptions) {
    this.install();
  }

  restore(): void {
    this.ecr.restore();
    this.ecs.restore();
    this.lambda.restore();
  }

  /** Calls of one operation, e.g. `BatchDeleteImage`. */
  callsOf(command: string): SeenCall[] {
    return this.calls.filter((c) => c.command === command);
  }

  addImage(
    repository: string,
    image: {
      name: string;
      tags?: string[];
      pushedAt: Date;
      sizeBytes?: number;
      lastPulledAt?: Date;
      mediaType?: string;
      artifactMediaType?: string;
      subject?: string;
      children?: string[];
    },
  ): string {
    const digest = digestOf(image.name);
    const detail: ImageDetail = {
      registryId: ACCOUNT,
      repositoryName: repository,
      imageDigest: digest,
      ...(image.tags?.length ? { imageTags: image.tags } : {}),
      imageSizeInBytes: image.sizeBytes ?? 50_000_000,
      imagePushedAt: image.pushedAt,
      imageManifestMediaType: image.mediaType ?? (image.children ? OCI_INDEX : OCI_MANIFEST),
      ...(image.artifactMediaType ? { artifactMediaType: image.artifactMediaType } : {}),
      ...(image.lastPulledAt ? { lastRecordedPullTime: image.lastPulledAt } : {}),
      ...(image.subject ? { subjectManifestDigest: image.subject } : {}),
      imageStatus: "ACTIVE",
    };
    const manifest = image.children
      ? JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: image.children.map((child, i) => ({
            mediaType: OCI_MANIFEST,
            digest: child,
            size: 1024,
            platform: { architecture: i === 0 ? "amd64" : "arm64", os: "linux" },
          })),
        })
      : JSON.stringify({ schemaVersion: 2, mediaType: detail.imageManifestMediaType, layers: [] });
    const list = this.repositories.get(repository) ?? [];
    list.push({ detail, manifest });
    this.repositories.set(repository, list);
    return digest;
  }

  clusterArn(name: string): string {
    return awsArn("ecs", `cluster/${name}`, { region: this.options.region, account: ACCOUNT });
  }

  /** Registers revision `revision` of `family` running `images` (one container each). */
  addTaskDefinition(family: string, revision: number, images: string[], status = "ACTIVE"): string {
    const arn = awsArn("ecs", `task-definition/${family}:${revision}`, {
      region: this.options.region,
      account: ACCOUNT,
    });
    this.taskDefinitions.set(arn, {
      taskDefinitionArn: arn,
      family,
      revision,
      status: status as TaskDefinition["status"],
      containerDefinitions: images.map((image, i) => ({ name: `c${i}`, image, essential: true })),
      requiresCompatibilities: ["FARGATE"],
    });
    return arn;
  }

  addService(
    cluster: string,
    service: {
      name: string;
      taskDefinition: string;
      desiredCount?: number;
      deployments?: { status: string; taskDefinition: string }[];
      taskSets?: string[];
      tags?: Record<string, string>;
    },
  ): void {
    const arn = awsArn("ecs", `service/${cluster}/${service.name}`, { region: this.options.region, account: ACCOUNT });
    const entry = this.clusters.get(this.clusterArn(cluster)) ?? { services: [], tasks: [] };
    const deployments = service.deployments ?? [{ status: "PRIMARY", taskDefinition: service.taskDefinition }];
    entry.services.push({
      serviceArn: arn,
      serviceName: service.name,
      clusterArn: this.clusterArn(cluster),
      status: "ACTIVE",
      desiredCount: service.desiredCount ?? 2,
      runningCount: service.desiredCount ?? 2,
      pendingCount: 0,
      launchType: "FARGATE",
      taskDefinition: service.taskDefinition,
      deployments: deployments.map((d, i) => ({
        id: `ecs-svc/${i}${service.name.length}`,
        status: d.status,
        taskDefinition: d.taskDefinition,
        desiredCount: service.desiredCount ?? 2,
        runningCount: service.desiredCount ?? 2,
        rolloutState: d.status === "PRIMARY" ? "COMPLETED" : "IN_PROGRESS",
        createdAt: new Date("2026-11-01T00:00:00Z"),
      })),
      ...(service.taskSets
        ? {
            taskSets: service.taskSets.map((td, i) => ({ id: `ecs-svc/ts${i}`, taskDefinition: td, status: "ACTIVE" })),
          }
        : {}),
      tags: Object.entries(service.tags ?? {}).map(([key, value]) => ({ key, value })),
    });
    this.clusters.set(this.clusterArn(cluster), entry);
  }

  addTask(
    cluster: string,
    task: { id: string; taskDefinition: string; image: string; imageDigest?: string; lastStatus?: string },
  ): void {
    const entry = this.clusters.get(this.clusterArn(cluster)) ?? { services: [], tasks: [] };
    entry.tasks.push({
      taskArn: awsArn("ecs", `task/${cluster}/${task.id}`, { region: this.options.region, account: ACCOUNT }),
      clusterArn: this.clusterArn(cluster),
      taskDefinitionArn: task.taskDefinition,
      lastStatus: task.lastStatus ?? "RUNNING",
      desiredStatus: "RUNNING",
      launchType: "FARGATE",
      containers: [
        {
          containerArn: awsArn("ecs", `container/${cluster}/${task.id}/c0`, {
            region: this.options.region,
            account: ACCOUNT,
          }),
          name: "c0",
          image: task.image,
          ...(task.imageDigest ? { imageDigest: task.imageDigest } : {}),
          lastStatus: task.lastStatus ?? "RUNNING",
        },
      ],
    });
    this.clusters.set(this.clusterArn(cluster), entry);
  }

  addFunction(name: string, version: string, uri: string, digest: string): void {
    const arn = awsArn("lambda", `function:${name}`, { region: this.options.region, account: ACCOUNT });
    this.functions.push({
      config: {
        FunctionName: name,
        FunctionArn: version === "$LATEST" ? arn : `${arn}:${version}`,
        PackageType: "Image",
        Version: version,
        State: "Active",
      },
      imageUri: uri,
      resolvedImageUri: `${uri.split(/[:@](?=[^/]*$)/)[0]}@${digest}`,
    });
  }

  private async answer<T>(command: string, input: unknown, make: () => T): Promise<T> {
    this.calls.push({ command, input });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.options.latencyMs) await new Promise((r) => setTimeout(r, this.options.latencyMs));
      const error = this.options.errors?.[command]?.();
      if (error) throw error;
      return make();
    } finally {
      this.inFlight--;
    }
  }

  /** BatchDeleteImage: each id is deleted, or reported with the configured or "not found" failure. */
  private batchDeleteImage(input: BatchDeleteImageCommandInput) {
    const images = this.repositories.get(input.repositoryName ?? "") ?? [];
    const deleted = [];
    const failures = [];
    for (const id of input.imageIds ?? []) {
      const failure = this.options.deleteFailures?.[id.imageDigest ?? ""];
      const at = images.findIndex((i) => i.detail.imageDigest === id.imageDigest);
      if (failure) failures.push({ imageId: id, ...failure });
      else if (at < 0) {
        failures.push({ imageId: id, failureCode: "ImageNotFound", failureReason: "Requested image not found" });
      } else {
        const [gone] = images.splice(at, 1);
        deleted.push({ imageDigest: id.imageDigest, imageTag: gone?.detail.imageTags?.[0] });
      }
    }
    return { imageIds: deleted, failures };
  }

  private install(): void {
    const page = <T>(items: T[], token: string | undefined, max: number | undefined, cap: number) => {
      const start = token ? Number(token) : 0;
      const size = Math.min(max ?? cap, cap);
      const slice = items.slice(start, start + size);
      const next = start + size < items.length ? String(start + size) : undefined;
      return { slice, next };
    };
    this.ecr.on(DescribeImagesCommand).callsFake((input: DescribeImagesCommandInput) =>
      this.answer("DescribeImages", input, () => {
        const images = this.repositories.get(input.repositoryName ?? "");
        if (!images) {
          throw Object.assign(new Error(`The repository with name '${input.repositoryName}' does not exist`), {
            name: "RepositoryNotFoundException",
          });
        }
        const { slice, next } = page(images, input.nextToken, input.maxResults, 1000);
        return { imageDetails: slice.map((i) => i.detail), ...(next ? { nextToken: next } : {}) };
      }),
    );
    this.ecr.on(BatchGetImageCommand).callsFake((input: BatchGetImageCommandInput) =>
      this.answer("BatchGetImage", input, () => {
        const images = this.repositories.get(input.repositoryName ?? "") ?? [];
        const found = [];
        const failures = [];
        for (const id of input.imageIds ?? []) {
          const image = images.find((i) => i.detail.imageDigest === id.imageDigest);
          if (image) {
            found.push({
              registryId: ACCOUNT,
              repositoryName: input.repositoryName,
              imageId: { imageDigest: id.imageDigest },
              imageManifest: image.manifest,
              imageManifestMediaType: image.detail.imageManifestMediaType,
            });
          } else {
            failures.push({ imageId: id, failureCode: "ImageNotFound", failureReason: "Requested image not found" });
          }
        }
        return { images: found, failures };
      }),
    );
    this.ecr
      .on(BatchDeleteImageCommand)
      .callsFake((input: BatchDeleteImageCommandInput) =>
        this.answer("BatchDeleteImage", input, () => this.batchDeleteImage(input)),
      );
    this.ecs.on(ListClustersCommand).callsFake((input: ListClustersCommandInput) =>
      this.answer("ListClusters", input, () => {
        const { slice, next } = page([...this.clusters.keys()], input.nextToken, input.maxResults, 100);
        return { clusterArns: slice, ...(next ? { nextToken: next } : {}) };
      }),
    );
    this.ecs.on(ListServicesCommand).callsFake((input: ListServicesCommandInput) =>
      this.answer("ListServices", input, () => {
        const services = this.clusters.get(input.cluster ?? "")?.services ?? [];
        const { slice, next } = page(services, input.nextToken, input.maxResults, 100);
        return { serviceArns: slice.map((s) => s.serviceArn ?? ""), ...(next ? { nextToken: next } : {}) };
      }),
    );
    this.ecs.on(DescribeServicesCommand).callsFake((input: DescribeServicesCommandInput) =>
      this.answer("DescribeServices", input, () => {
        if ((input.services?.length ?? 0) > 10) throw new Error("InvalidParameterException: at most 10 services");
        const all = this.clusters.get(input.cluster ?? "")?.services ?? [];
        const services = all.filter((s) => input.services?.includes(s.serviceArn ?? ""));
        const withTags = services.map((s) => (input.include?.includes("TAGS") ? s : { ...s, tags: undefined }));
        return { services: withTags, failures: [] };
      }),
    );
    this.ecs.on(ListTasksCommand).callsFake((input: ListTasksCommandInput) =>
      this.answer("ListTasks", input, () => {
        const tasks = this.clusters.get(input.cluster ?? "")?.tasks ?? [];
        const { slice, next } = page(tasks, input.nextToken, input.maxResults, 100);
        return { taskArns: slice.map((t) => t.taskArn ?? ""), ...(next ? { nextToken: next } : {}) };
      }),
    );
    this.ecs.on(DescribeTasksCommand).callsFake((input: DescribeTasksCommandInput) =>
      this.answer("DescribeTasks", input, () => {
        const all = this.clusters.get(input.cluster ?? "")?.tasks ?? [];
        return { tasks: all.filter((t) => input.tasks?.includes(t.taskArn ?? "")), failures: [] };
      }),
    );
    this.ecs.on(ListTaskDefinitionsCommand).callsFake((input: ListTaskDefinitionsCommandInput) =>
      this.answer("ListTaskDefinitions", input, () => {
        const active = [...this.taskDefinitions.values()]
          .filter((t) => t.status === (input.status ?? "ACTIVE"))
          .sort((a, b) => (a.family ?? "").localeCompare(b.family ?? "") || (a.revision ?? 0) - (b.revision ?? 0));
        const { slice, next } = page(active, input.nextToken, input.maxResults, 100);
        return {
          taskDefinitionArns: slice.map((t) => t.taskDefinitionArn ?? ""),
          ...(next ? { nextToken: next } : {}),
        };
      }),
    );
    this.ecs.on(DescribeTaskDefinitionCommand).callsFake((input: DescribeTaskDefinitionCommandInput) =>
      this.answer("DescribeTaskDefinition", input, () => {
        const wanted = input.taskDefinition ?? "";
        const found = [...this.taskDefinitions.values()].find(
          (t) => t.taskDefinitionArn === wanted || `${t.family}:${t.revision}` === wanted,
        );
        if (!found) {
          throw Object.assign(new Error("Unable to describe task definition."), { name: "ClientException" });
        }
        return { taskDefinition: found, tags: [] };
      }),
    );
    this.lambda.on(ListFunctionsCommand).callsFake((input: ListFunctionsCommandInput) =>
      this.answer("ListFunctions", input, () => {
        const { slice, next } = page(this.functions, input.Marker, input.MaxItems, 50);
        return { Functions: slice.map((f) => f.config), ...(next ? { NextMarker: next } : {}) };
      }),
    );
    this.lambda.on(GetFunctionCommand).callsFake((input: GetFunctionCommandInput) =>
      this.answer("GetFunction", input, () => {
        const f = this.functions.find(
          (x) =>
            x.config.FunctionName === input.FunctionName &&
            (x.config.Version ?? "$LATEST") === (input.Qualifier ?? "$LATEST"),
        );
        if (!f) throw Object.assign(new Error("Function not found"), { name: "ResourceNotFoundException" });
        return {
          Configuration: f.config,
          Code: { RepositoryType: "ECR", ImageUri: f.imageUri, ResolvedImageUri: f.resolvedImageUri },
        };
      }),
    );
  }
}

/** An SDK-shaped AccessDeniedException, as ECS and Lambda return it. */
export function accessDenied(action: string): Error {
  return Object.assign(
    new Error(
      `User: arn:aws:sts::${ACCOUNT}:assumed-role/ops/fn is not authorized to perform: ${action} on resource: *`,
    ),
    { name: "AccessDeniedException", $fault: "client", $metadata: { httpStatusCode: 400 } },
  );
}
