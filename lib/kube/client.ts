import { Agent } from "node:https";
import {
  ApiException,
  AppsV1Api,
  AutoscalingV2Api,
  KubeConfig,
  PatchStrategy,
  type RequestContext,
  setHeaderOptions,
  type V1Deployment,
  type V1ReplicaSet,
  type V1Scale,
  type V2HorizontalPodAutoscaler,
} from "@kubernetes/client-node";
import { RunbookError } from "../errors.js";

/**
 * The part of the Kubernetes API that off-hours scaling uses, as a port: apps/v1 deployments (with their
 * scale subresource) and replicasets, autoscaling/v2 horizontalpodautoscalers. {@link connectKube} builds it
 * over the official `@kubernetes/client-node`; every write carries the `resourceVersion` it was decided on,
 * so a change made in between (the HPA controller, a deploy, a person) comes back as a 409 instead of being
 * overwritten.
 */
export interface KubeApi {
  listDeployments(namespace: string): Promise<V1Deployment[]>;
  readDeployment(namespace: string, name: string): Promise<V1Deployment>;
  /** Replicasets of the namespace, optionally only those matching an equality label selector. */
  listReplicaSets(namespace: string, labelSelector?: string): Promise<V1ReplicaSet[]>;
  listHorizontalPodAutoscalers(namespace: string): Promise<V2HorizontalPodAutoscaler[]>;
  /** JSON merge patch of annotations (`null` removes one), guarded by `resourceVersion`. */
  patchDeploymentAnnotations(options: {
    namespace: string;
    name: string;
    resourceVersion: string;
    annotations: Record<string, string | null>;
  }): Promise<V1Deployment>;
  /** A JSON merge patch of a deployment (e.g. a rollback's pod template), guarded by `resourceVersion`. */
  patchDeployment(options: {
    namespace: string;
    name: string;
    resourceVersion: string;
    patch: Record<string, unknown>;
  }): Promise<V1Deployment>;
  /** Sets `spec.replicas` through the scale subresource, guarded by `resourceVersion`. */
  patchDeploymentScale(options: {
    namespace: string;
    name: string;
    resourceVersion: string;
    replicas: number;
  }): Promise<V1Scale>;
  /** Sets an HPA's `minReplicas`/`maxReplicas`, guarded by its `resourceVersion`. */
  patchHorizontalPodAutoscaler(options: {
    namespace: string;
    name: string;
    resourceVersion: string;
    minReplicas: number;
    maxReplicas: number;
  }): Promise<V2HorizontalPodAutoscaler>;
}

/** Where and how to reach a cluster's API server. */
export interface KubeEndpoint {
  /** `https://…` API server URL. */
  server: string;
  /** The cluster's CA bundle, base64 PEM (what `eks:DescribeCluster` returns); the server is verified against it. */
  caData: string;
  /** Bearer token (never logged). */
  token: string;
}

/** A Kubernetes API call that failed; `status` is the HTTP status (409 = stale resourceVersion). */
export class KubeApiError extends RunbookError {
  readonly status: number | undefined;
  readonly operation: string;

  constructor(options: { operation: string; status?: number | undefined; detail: string; cause: unknown }) {
    const status = options.status === undefined ? "" : ` (HTTP ${options.status})`;
    super(`Kubernetes ${options.operation} failed${status}: ${options.detail}`, { cause: options.cause });
    this.status = options.status;
    this.operation = options.operation;
  }
}

/** True for a write refused because the object changed since it was read (HTTP 409 Conflict). */
export function isKubeConflict(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    if (current instanceof KubeApiError) return current.status === 409;
    current = current instanceof Error ? current.cause : undefined;
  }
  return false;
}

/** The `message` of a Kubernetes Status body, else the error's own message. */
function statusMessage(error: unknown): string {
  if (error instanceof ApiException) {
    const body = error.body as unknown;
    if (typeof body === "string") {
      try {
        const parsed = JSON.parse(body) as { message?: unknown };
        if (typeof parsed.message === "string") return parsed.message;
      } catch {
        return body.slice(0, 300);
      }
    }
    if (body && typeof body === "object" && typeof (body as { message?: unknown }).message === "string") {
      return (body as { message: string }).message;
    }
  }
  return error instanceof Error ? error.message : String(error);
}

async function call<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const status = error instanceof ApiException ? error.code : undefined;
    throw new KubeApiError({ operation, status, detail: statusMessage(error), cause: error });
  }
}

/** Largest page asked for in list calls; the API server may return fewer and a `continue` token. */
export const LIST_PAGE = 500;

async function listAll<T>(
  page: (token: string | undefined) => Promise<{ items: T[]; metadata?: { _continue?: string } }>,
) {
  const items: T[] = [];
  let token: string | undefined;
  do {
    const out = await page(token);
    items.push(...out.items);
    token = out.metadata?._continue || undefined;
  } while (token);
  return items;
}

/**
 * The official client makes a new `https.Agent` for every request, so every call pays a TLS handshake (in
 * bench/scale.ts that put 200 deployments at 1.6–1.8× the ideal before any conflict). This keeps the client's
 * own authentication and TLS settings and only swaps in one keep-alive agent, verifying the same CA.
 */
class KeepAliveKubeConfig extends KubeConfig {
  #agent: Agent | undefined;

  constructor(private readonly caData: string) {
    super();
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    this.#agent ??= new Agent({ ca: Buffer.from(this.caData, "base64"), keepAlive: true, rejectUnauthorized: true });
    context.setAgent(this.#agent);
  }
}

/** Builds the {@link KubeApi} port over the official client for one endpoint. */
export function connectKube(endpoint: KubeEndpoint): KubeApi {
  const config = new KeepAliveKubeConfig(endpoint.caData);
  config.loadFromOptions({
    clusters: [{ name: "cluster", server: endpoint.server, caData: endpoint.caData, skipTLSVerify: false }],
    users: [{ name: "ops-autopilot", token: endpoint.token }],
    contexts: [{ name: "ops-autopilot", cluster: "cluster", user: "ops-autopilot" }],
    currentContext: "ops-autopilot",
  });
  const apps = config.makeApiClient(AppsV1Api);
  const autoscaling = config.makeApiClient(AutoscalingV2Api);
  const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
  return {
    listDeployments: (namespace) =>
      call("list deployments", () =>
        listAll((token) =>
          apps.listNamespacedDeployment({ namespace, limit: LIST_PAGE, ...(token ? { _continue: token } : {}) }),
        ),
      ),
    readDeployment: (namespace, name) =>
      call(`get deployment ${name}`, () => apps.readNamespacedDeployment({ namespace, name })),
    listReplicaSets: (namespace, labelSelector) =>
      call("list replicasets", () =>
        listAll((token) =>
          apps.listNamespacedReplicaSet({
            namespace,
            limit: LIST_PAGE,
            ...(labelSelector ? { labelSelector } : {}),
            ...(token ? { _continue: token } : {}),
          }),
        ),
      ),
    listHorizontalPodAutoscalers: (namespace) =>
      call("list horizontalpodautoscalers", () =>
        listAll((token) =>
          autoscaling.listNamespacedHorizontalPodAutoscaler({
            namespace,
            limit: LIST_PAGE,
            ...(token ? { _continue: token } : {}),
          }),
        ),
      ),
    patchDeploymentAnnotations: ({ namespace, name, resourceVersion, annotations }) =>
      call(`patch deployment ${name} annotations`, () =>
        apps.patchNamespacedDeployment(
          { namespace, name, body: { metadata: { resourceVersion, annotations } } },
          merge,
        ),
      ),
    patchDeployment: ({ namespace, name, resourceVersion, patch }) =>
      call(`patch deployment ${name}`, () =>
        apps.patchNamespacedDeployment(
          {
            namespace,
            name,
            body: { ...patch, metadata: { ...(patch.metadata as object | undefined), resourceVersion } },
          },
          merge,
        ),
      ),
    patchDeploymentScale: ({ namespace, name, resourceVersion, replicas }) =>
      call(`patch deployment ${name} scale`, () =>
        apps.patchNamespacedDeploymentScale(
          { namespace, name, body: { metadata: { resourceVersion }, spec: { replicas } } },
          merge,
        ),
      ),
    patchHorizontalPodAutoscaler: ({ namespace, name, resourceVersion, minReplicas, maxReplicas }) =>
      call(`patch horizontalpodautoscaler ${name}`, () =>
        autoscaling.patchNamespacedHorizontalPodAutoscaler(
          { namespace, name, body: { metadata: { resourceVersion }, spec: { minReplicas, maxReplicas } } },
          merge,
        ),
      ),
  };
}
