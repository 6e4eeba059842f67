import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A real HTTPS server speaking the subset of the Kubernetes API that off-hours scaling uses, built from the
 * API reference (apps/v1 Deployment, Scale subresource, ReplicaSet; autoscaling/v2 HorizontalPodAutoscaler;
 * meta/v1 Status and list metadata):
 *
 * - `resourceVersion`: one counter for the store, bumped on every write; a patch whose body carries
 *   `metadata.resourceVersion` different from the stored one is refused with 409 Conflict (optimistic
 *   concurrency), as is a patch on the scale subresource carrying a stale one.
 * - PATCH with `application/merge-patch+json` (RFC 7386) or `application/strategic-merge-patch+json` (for the
 *   maps we patch — annotations, spec — the same as a JSON merge); anything else is 415.
 * - `metadata.generation` increments on a spec change; with `settle` (the default) the deployment controller's
 *   work is simulated at once: observedGeneration, replicas, updated/ready/available follow the spec.
 * - lists page with `limit` and `continue`; replicasets filter by an equality `labelSelector`.
 * - HPA validation: minReplicas ≥ 1, maxReplicas ≥ minReplicas (422 Invalid otherwise).
 * - Authentication: a bearer token in the EKS form (`k8s-aws-v1.` + base64url of a presigned STS URL that
 *   signed `x-k8s-aws-id` for this cluster); anything else is 401.
 *
 * - a rollout that takes time: {@link KubeApiServer.rollout} gives a deployment's next rollout (a new pod
 *   template, a rollback) stages that successive GETs of it show, as a controller's status updates would.
 *
 * Test hooks: per-call latency, injected 409s and 500s, and a log of every request.
 */

type Json = Record<string, unknown>;

const REVISION = "deployment.kubernetes.io/revision";

/** One request as the server saw it. */
export interface KubeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  contentType?: string;
  body?: Json;
}

/** How to make a deployment for a test. */
export interface DeploymentSpec {
  name: string;
  /** Default: the server's namespace. */
  namespace?: string;
  replicas: number;
  /** An autoscaling/v2 HPA targeting the deployment. */
  hpa?: { min?: number; max: number; name?: string };
  /** When the current revision's replicaset was created (default: 2026-11-01). */
  deployedAt?: string;
  annotations?: Record<string, string>;
  /** Per-container requests of the pod template. */
  requests?: { cpu?: string; memory?: string }[];
  /** The containers' image in each revision's pod template (default `example/<name>:<revision>`). */
  image?: (revision: string) => string;
  /** Status overrides (a rollout in progress, a failed one); the controller is then not simulated for it. */
  status?: Json;
  generation?: number;
}

/** Options of {@link startKubeApi}. */
export interface KubeApiOptions {
  /** The cluster name the token must be signed for. */
  cluster: string;
  /** Namespace deployments are added to by default. */
  namespace: string;
  latencyMs?: number;
  /** Simulate the deployment controller finishing every change at once (default true). */
  settle?: boolean;
}

/** A running server, its store and its hooks. */
export interface KubeApiServer {
  url: string;
  /** base64 PEM of the server's self-signed CA (what eks:DescribeCluster returns as certificateAuthority.data). */
  caData: string;
  requests: KubeRequest[];
  /** Most requests in progress at once (for a concurrency check). */
  peakInFlight: number;
  addDeployment(spec: DeploymentSpec): void;
  deployment(namespace: string, name: string): Json;
  hpa(namespace: string, name: string): Json | undefined;
  /** Changes a stored deployment as another writer would (bumps its resourceVersion; the controller settles it). */
  touch(namespace: string, name: string, change: (deployment: Json) => void): void;
  /**
   * After the deployment's next new revision (a rollout or a rollback), each GET of it shows the next stage:
   * the status the controller settled on, with the stage's fields over it (`conditions` replace the settled
   * ones); the last stage stays. Lists are not staged: the follow-up reads one deployment at a time.
   */
  rollout(namespace: string, name: string, stages: Json[]): void;
  /** Returns 409 for the requests this says so, before looking at them. */
  conflictWhen?: (request: KubeRequest) => boolean;
  /** Returns 500 for the requests this says so. */
  failWhen?: (request: KubeRequest) => boolean;
  writes(): KubeRequest[];
  close(): Promise<void>;
}

function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), "kube-api-"));
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=kube-api-test",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
    return { key: readFileSync(join(dir, "key.pem"), "utf8"), cert: readFileSync(join(dir, "cert.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function templateOf(s: DeploymentSpec, revision: string, labels: Record<string, string>): Json {
  return {
    metadata: { labels },
    spec: {
      containers: (s.requests ?? [{ cpu: "250m", memory: "512Mi" }]).map((r, i) => ({
        name: `c${i}`,
        image: s.image?.(revision) ?? `example/${s.name}:${revision}`,
        resources: { requests: r },
      })),
    },
  };
}

/** JSON text with object keys sorted: equal for equal values, whatever order their keys were written in. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Json).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const out: Json = target && typeof target === "object" && !Array.isArray(target) ? { ...(target as Json) } : {};
  for (const [key, value] of Object.entries(patch as Json)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

function status(code: number, reason: string, message: string): Json {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code };
}

/** Verifies the EKS token's shape the way the cluster's authenticator does (without calling STS). */
function tokenProblem(header: string | undefined, cluster: string): string | undefined {
  const token = header?.startsWith("Bearer ") ? header.slice(7) : undefined;
  if (!token?.startsWith("k8s-aws-v1.")) return "no EKS bearer token";
  const url = new URL(Buffer.from(token.slice("k8s-aws-v1.".length), "base64url").toString("utf8"));
  if (url.protocol !== "https:" || !/^sts\.[a-z0-9-]+\.amazonaws\.com$/.test(url.host)) return "not an STS URL";
  if (url.searchParams.get("Action") !== "GetCallerIdentity") return "not GetCallerIdentity";
  const signed = (url.searchParams.get("X-Amz-SignedHeaders") ?? "").split(";");
  if (!signed.includes("x-k8s-aws-id")) return "x-k8s-aws-id is not signed";
  if (!url.searchParams.get("X-Amz-Signature")) return "unsigned";
  // The authenticator sends the URL to STS with this header; a token signed for another cluster fails there.
  if (!url.searchParams.get("X-Amz-Credential")) return `not signed for ${cluster}`;
  return undefined;
}

/** Starts the server on 127.0.0.1 with a fresh self-signed certificate. */
export async function startKubeApi(options: KubeApiOptions): Promise<KubeApiServer> {
  const { key, cert } = selfSignedCertificate();
  const settle = options.settle ?? true;
  let version = 1000;
  const nextVersion = () => String(++version);
  const deployments = new Map<string, Json>();
  const replicaSets = new Map<string, Json[]>();
  const hpas = new Map<string, Json>();
  const unsettled = new Set<string>();
  /** Staged rollouts: armed by the next new revision, advanced by each GET. */
  const staged = new Map<string, { stages: Json[]; armed: boolean; settled?: Json }>();
  const requests: KubeRequest[] = [];
  let inFlight = 0;
  const id = (namespace: string, name: string) => `${namespace}/${name}`;

  const meta = (o: Json) => o.metadata as Json;
  const spec = (o: Json) => o.spec as Json;
  const settleDeployment = (d: Json) => {
    if (unsettled.has(id(meta(d).namespace as string, meta(d).name as string))) return;
    const replicas = spec(d).replicas as number;
    d.status = {
      ...(d.status as Json),
      observedGeneration: meta(d).generation,
      replicas,
      updatedReplicas: replicas,
      readyReplicas: replicas,
      availableReplicas: replicas,
    };
  };

  const server: KubeApiServer = {
    url: "",
    caData: Buffer.from(cert).toString("base64"),
    requests,
    peakInFlight: 0,
    addDeployment: () => undefined,
    deployment: (namespace, name) => {
      const d = deployments.get(id(namespace, name));
      if (!d) throw new Error(`no deployment ${namespace}/${name}`);
      return structuredClone(d);
    },
    hpa: (namespace, name) => {
      const found = [...hpas.values()].find(
        (h) => meta(h).namespace === namespace && (spec(h).scaleTargetRef as Json).name === name,
      );
      return found ? structuredClone(found) : undefined;
    },
    touch(namespace, name, change) {
      const d = deployments.get(id(namespace, name));
      if (!d) throw new Error(`no deployment ${namespace}/${name}`);
      change(d);
      meta(d).resourceVersion = nextVersion();
      if (settle) settleDeployment(d);
    },
    rollout(namespace, name, stages) {
      if (stages.length === 0) throw new Error("a staged rollout needs at least one stage");
      staged.set(id(namespace, name), { stages: structuredClone(stages), armed: false });
    },
    writes: () => requests.filter((r) => r.method !== "GET"),
    close: () => new Promise((resolve) => httpServer.close(() => resolve())),
  };

  const add = (namespace: string, s: DeploymentSpec) => {
    const uid = randomUUID();
    const labels = { app: s.name };
    const deployedAt = s.deployedAt ?? "2026-11-01T09:00:00Z";
    const generation = s.generation ?? 4;
    const d: Json = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: {
        name: s.name,
        namespace,
        uid,
        generation,
        resourceVersion: nextVersion(),
        creationTimestamp: "2026-10-01T09:00:00Z",
        labels,
        annotations: { "deployment.kubernetes.io/revision": "3", ...s.annotations },
      },
      spec: {
        replicas: s.replicas,
        selector: { matchLabels: labels },
        template: templateOf(s, "3", labels),
        progressDeadlineSeconds: 600,
      },
      status: {
        observedGeneration: generation,
        replicas: s.replicas,
        updatedReplicas: s.replicas,
        readyReplicas: s.replicas,
        availableReplicas: s.replicas,
        conditions: [
          { type: "Available", status: "True", reason: "MinimumReplicasAvailable" },
          {
            type: "Progressing",
            status: "True",
            reason: "NewReplicaSetAvailable",
            message: `ReplicaSet "${s.name}-3" has successfully progressed.`,
          },
        ],
        ...s.status,
      },
    };
    if (s.status) unsettled.add(id(namespace, s.name));
    deployments.set(id(namespace, s.name), d);
    const owner = [{ apiVersion: "apps/v1", kind: "Deployment", name: s.name, uid, controller: true }];
    replicaSets.set(
      id(namespace, s.name),
      [
        ["2", "2026-09-01T09:00:00Z"],
        ["3", deployedAt],
      ].map(([revision, created]) => ({
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        metadata: {
          name: `${s.name}-${revision}`,
          namespace,
          uid: randomUUID(),
          resourceVersion: nextVersion(),
          creationTimestamp: created,
          labels: { ...labels, "pod-template-hash": `h${revision}` },
          annotations: { "deployment.kubernetes.io/revision": revision },
          ownerReferences: owner,
        },
        spec: {
          replicas: revision === "3" ? s.replicas : 0,
          selector: { matchLabels: labels },
          template: templateOf(s, revision ?? "", { ...labels, "pod-template-hash": `h${revision}` }),
        },
        status: { replicas: revision === "3" ? s.replicas : 0 },
      })),
    );
    if (s.hpa) {
      const name = s.hpa.name ?? s.name;
      hpas.set(id(namespace, name), {
        apiVersion: "autoscaling/v2",
        kind: "HorizontalPodAutoscaler",
        metadata: { name, namespace, uid: randomUUID(), resourceVersion: nextVersion() },
        spec: {
          scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: s.name },
          ...(s.hpa.min !== undefined ? { minReplicas: s.hpa.min } : {}),
          maxReplicas: s.hpa.max,
          metrics: [
            { type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } } },
          ],
        },
        status: { currentReplicas: s.replicas, desiredReplicas: s.replicas },
      });
    }
  };

  /**
   * The deployment controller on a new pod template: the replicaset with that template (ignoring its
   * pod-template-hash label) gets the next revision — a rollback reuses the old one — or a new one is made;
   * with `settle`, the rollout completes at once.
   */
  const newRevision = (namespace: string, name: string, d: Json) => {
    const sets = replicaSets.get(id(namespace, name)) ?? [];
    // The controller compares templates as values (a hash of the Go struct), not as JSON text: key order
    // (which differs between what a client sends and what the server stored) must not matter.
    const strip = (t: unknown) => {
      const copy = structuredClone(t) as Json;
      delete ((copy.metadata as Json).labels as Json)["pod-template-hash"];
      return canonical(copy);
    };
    const wanted = strip(spec(d).template);
    const next = Math.max(0, ...sets.map((rs) => Number((meta(rs).annotations as Json)[REVISION]))) + 1;
    let rs = sets.find((r) => strip(spec(r).template) === wanted);
    if (!rs) {
      const hash = `h${next}`;
      const template = structuredClone(spec(d).template) as Json;
      ((template.metadata as Json).labels as Json)["pod-template-hash"] = hash;
      rs = {
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        metadata: {
          name: `${name}-${next}`,
          namespace,
          uid: randomUUID(),
          creationTimestamp: new Date().toISOString(),
          labels: { ...((spec(d).selector as Json).matchLabels as Json), "pod-template-hash": hash },
          annotations: {},
          ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name, uid: meta(d).uid, controller: true }],
        },
        spec: { replicas: 0, selector: spec(d).selector, template },
      };
      sets.push(rs);
    }
    (meta(rs).annotations as Json)[REVISION] = String(next);
    meta(rs).resourceVersion = nextVersion();
    (meta(d).annotations as Json)[REVISION] = String(next);
    const rollout = staged.get(id(namespace, name));
    if (rollout) rollout.armed = true;
    if (settle) {
      unsettled.delete(id(namespace, name));
      d.status = {
        ...(d.status as Json),
        conditions: [
          { type: "Available", status: "True", reason: "MinimumReplicasAvailable" },
          { type: "Progressing", status: "True", reason: "NewReplicaSetAvailable" },
        ],
      };
    }
  };

  const list = (kind: string, items: Json[], query: URLSearchParams): Json => {
    const limit = Number(query.get("limit") ?? "0");
    const start = Number(query.get("continue") ?? "0");
    const page = limit > 0 ? items.slice(start, start + limit) : items.slice(start);
    const next = limit > 0 && start + limit < items.length ? String(start + limit) : undefined;
    return {
      apiVersion: kind === "HorizontalPodAutoscalerList" ? "autoscaling/v2" : "apps/v1",
      kind,
      metadata: { resourceVersion: String(version), ...(next ? { continue: next } : {}) },
      items: structuredClone(page),
    };
  };

  const scaleOf = (d: Json): Json => ({
    apiVersion: "autoscaling/v1",
    kind: "Scale",
    metadata: {
      name: meta(d).name,
      namespace: meta(d).namespace,
      uid: meta(d).uid,
      resourceVersion: meta(d).resourceVersion,
    },
    spec: { replicas: spec(d).replicas },
    status: { replicas: (d.status as Json).replicas, selector: `app=${meta(d).name}` },
  });

  const patchTarget = (request: KubeRequest, target: Json, apply: (patched: Json) => Json | string): [number, Json] => {
    const { body } = request;
    if (
      request.contentType !== "application/merge-patch+json" &&
      request.contentType !== "application/strategic-merge-patch+json"
    ) {
      return [415, status(415, "UnsupportedMediaType", `the body of the request was in an unknown format`)];
    }
    const wanted = (body?.metadata as Json | undefined)?.resourceVersion;
    if (wanted !== undefined && wanted !== meta(target).resourceVersion) {
      return [
        409,
        status(
          409,
          "Conflict",
          `Operation cannot be fulfilled on ${target.kind} "${meta(target).name}": the object has been modified; please apply your changes to the latest version and try again`,
        ),
      ];
    }
    const patched = mergePatch(target, {
      ...body,
      metadata: { ...(body?.metadata as Json), resourceVersion: null },
    }) as Json;
    meta(patched).resourceVersion = meta(target).resourceVersion;
    const result = apply(patched);
    if (typeof result === "string") return [422, status(422, "Invalid", result)];
    return [200, result];
  };

  /** PATCH of a deployment's scale subresource: a new replica count is a spec change the controller settles. */
  const patchScale = (request: KubeRequest, d: Json): [number, Json] =>
    patchTarget(request, scaleOf(d), (patched) => {
      const replicas = spec(patched).replicas;
      if (typeof replicas !== "number" || replicas < 0) return "spec.replicas: must be a non-negative integer";
      if (replicas !== spec(d).replicas) {
        spec(d).replicas = replicas;
        meta(d).generation = (meta(d).generation as number) + 1;
        if (settle) settleDeployment(d);
      }
      meta(d).resourceVersion = nextVersion();
      return scaleOf(d);
    });

  /** PATCH of a deployment: a spec change bumps the generation, a new pod template makes a revision. */
  const patchDeployment = (request: KubeRequest, at: { namespace: string; name: string }, d: Json): [number, Json] =>
    patchTarget(request, d, (patched) => {
      const specChanged = canonical(patched.spec) !== canonical(d.spec);
      if (specChanged) meta(patched).generation = (meta(d).generation as number) + 1;
      meta(patched).resourceVersion = nextVersion();
      if (canonical(spec(patched).template) !== canonical(spec(d).template)) {
        newRevision(at.namespace, at.name, patched);
      }
      deployments.set(id(at.namespace, at.name), patched);
      if (specChanged && settle) settleDeployment(patched);
      return structuredClone(patched);
    });

  /** A staged rollout's next stage, over the status the controller settled on after the rollout. */
  const advanceRollout = (namespace: string, name: string, d: Json) => {
    const rollout = staged.get(id(namespace, name));
    if (!rollout?.armed) return;
    rollout.settled ??= structuredClone(d.status as Json);
    const stage = (rollout.stages.length > 1 ? rollout.stages.shift() : rollout.stages[0]) ?? {};
    d.status = { ...structuredClone(rollout.settled), ...structuredClone(stage) };
  };

  /** `apps/v1` deployments: list, get, patch, and the scale subresource. */
  const routeDeployments = (
    request: KubeRequest,
    namespace: string,
    name: string | undefined,
    sub: string | undefined,
  ): [number, Json] => {
    if (!name && request.method === "GET") {
      const items = [...deployments.values()].filter((d) => meta(d).namespace === namespace);
      return [200, list("DeploymentList", items, request.query)];
    }
    const d = name ? deployments.get(id(namespace, name)) : undefined;
    if (!d || !name) return [404, status(404, "NotFound", `deployments.apps "${name}" not found`)];
    if (sub === "scale") return request.method === "GET" ? [200, scaleOf(d)] : patchScale(request, d);
    if (request.method === "GET") {
      advanceRollout(namespace, name, d);
      return [200, structuredClone(d)];
    }
    return patchDeployment(request, { namespace, name }, d);
  };

  /** `apps/v1` replicasets of a namespace, filtered by an equality `labelSelector`. */
  const listReplicaSets = (request: KubeRequest, namespace: string): [number, Json] => {
    const selector = request.query.get("labelSelector");
    const wanted = selector ? selector.split(",").map((p) => p.split("=")) : [];
    const items = [...replicaSets.entries()]
      .filter(([key]) => key.startsWith(`${namespace}/`))
      .flatMap(([, sets]) => sets)
      .filter((rs) => wanted.every(([k, v]) => (meta(rs).labels as Json)[k ?? ""] === v));
    return [200, list("ReplicaSetList", items, request.query)];
  };

  /** `autoscaling/v2` HPAs: list, get, and a patch validated as the API server does. */
  const routeHpas = (request: KubeRequest, namespace: string, name: string | undefined): [number, Json] => {
    if (!name && request.method === "GET") {
      const items = [...hpas.values()].filter((h) => meta(h).namespace === namespace);
      return [200, list("HorizontalPodAutoscalerList", items, request.query)];
    }
    const h = name ? hpas.get(id(namespace, name)) : undefined;
    if (!h || !name) return [404, status(404, "NotFound", `horizontalpodautoscalers.autoscaling "${name}" not found`)];
    if (request.method === "GET") return [200, structuredClone(h)];
    return patchTarget(request, h, (patched) => {
      const min = (spec(patched).minReplicas as number | undefined) ?? 1;
      const max = spec(patched).maxReplicas as number;
      if (min < 1) return "spec.minReplicas: Invalid value: must be greater than or equal to 1";
      if (max < min) return "spec.maxReplicas: Invalid value: must be greater than or equal to `minReplicas`";
      meta(patched).resourceVersion = nextVersion();
      hpas.set(id(namespace, name), patched);
      return structuredClone(patched);
    });
  };

  const route = (request: KubeRequest): [number, Json] => {
    const parts = request.path.split("/").filter(Boolean);
    // /apis/<group>/<version>/namespaces/<ns>/<resource>[/<name>[/scale]]
    const [apis, group, ver, namespacesWord, namespace, resource, name, sub] = parts;
    if (apis !== "apis" || namespacesWord !== "namespaces" || !namespace || !resource) {
      return [404, status(404, "NotFound", `the server could not find the requested resource`)];
    }
    const gv = `${group}/${ver}`;
    if (gv === "apps/v1" && resource === "deployments") return routeDeployments(request, namespace, name, sub);
    if (gv === "apps/v1" && resource === "replicasets" && !name && request.method === "GET") {
      return listReplicaSets(request, namespace);
    }
    if (gv === "autoscaling/v2" && resource === "horizontalpodautoscalers") return routeHpas(request, namespace, name);
    return [404, status(404, "NotFound", "the server could not find the requested resource")];
  };

  const respond = (res: ServerResponse, code: number, body: Json) => {
    res.writeHead(code, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };

  const readRequest = async (req: IncomingMessage): Promise<KubeRequest> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? "/", "https://127.0.0.1");
    const text = Buffer.concat(chunks).toString("utf8");
    return {
      method: req.method ?? "GET",
      path: url.pathname,
      query: url.searchParams,
      ...(req.headers["content-type"] ? { contentType: req.headers["content-type"].split(";")[0] } : {}),
      ...(text ? { body: JSON.parse(text) as Json } : {}),
    };
  };

  /** The configured latency, counted as in flight. */
  const delay = async () => {
    inFlight++;
    server.peakInFlight = Math.max(server.peakInFlight, inFlight);
    try {
      if (options.latencyMs) await new Promise((resolve) => setTimeout(resolve, options.latencyMs));
    } finally {
      inFlight--;
    }
  };

  /** A refusal before routing: a bad token (401), or a 500 or 409 the test injects. */
  const refusal = (req: IncomingMessage, request: KubeRequest): [number, Json] | undefined => {
    const problem = tokenProblem(req.headers.authorization, options.cluster);
    if (problem) return [401, status(401, "Unauthorized", `Unauthorized: ${problem}`)];
    if (server.failWhen?.(request)) return [500, status(500, "InternalError", "etcdserver: request timed out")];
    if (request.method !== "GET" && server.conflictWhen?.(request)) {
      return [
        409,
        status(
          409,
          "Conflict",
          "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again",
        ),
      ];
    }
    return undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const request = await readRequest(req);
    requests.push(request);
    await delay();
    const [code, body] = refusal(req, request) ?? route(request);
    respond(res, code, body);
  };

  const httpServer: Server = createServer({ key, cert }, (req, res) => {
    handle(req, res).catch((error: unknown) => respond(res, 500, status(500, "InternalError", String(error))));
  });
  await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  server.url = `https://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
  server.addDeployment = (s) => add(s.namespace ?? options.namespace, s);
  return server;
}
