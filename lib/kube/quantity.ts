import type { V1PodTemplateSpec } from "@kubernetes/client-node";

/**
 * Kubernetes resource quantities (`500m`, `1.5`, `512Mi`, `1G`, `1e3`), from the API reference's
 * `resource.Quantity`: a decimal number with an optional binary (Ki…Ei) or decimal (n, u, m, k, M, G, T, P, E)
 * suffix. Returns `undefined` for anything else, so a strange value prices nothing rather than something wrong.
 */
const SUFFIX: Readonly<Record<string, number>> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** The value of a quantity in base units (cores, bytes), or `undefined` when it is not one. */
export function parseQuantity(text: string | number | undefined): number | undefined {
  if (typeof text === "number") return Number.isFinite(text) ? text : undefined;
  if (text === undefined) return undefined;
  const match = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$/.exec(text.trim());
  if (!match) return undefined;
  const factor = SUFFIX[match[2] ?? ""];
  return factor === undefined ? undefined : Number(match[1]) * factor;
}

/**
 * What one pod of a template requests, summed over its containers, as ECS-style units (1 vCPU = 1024 CPU
 * units, memory in MiB) so that one savings estimate serves both. A container without a request adds
 * nothing; no request at all gives `undefined` for that resource.
 */
export function podRequests(template: V1PodTemplateSpec | undefined): { cpuUnits?: number; memoryMiB?: number } {
  let cpu: number | undefined;
  let memory: number | undefined;
  for (const container of template?.spec?.containers ?? []) {
    const requests = container.resources?.requests ?? {};
    const c = parseQuantity(requests.cpu as string | undefined);
    const m = parseQuantity(requests.memory as string | undefined);
    if (c !== undefined) cpu = (cpu ?? 0) + c;
    if (m !== undefined) memory = (memory ?? 0) + m;
  }
  return {
    ...(cpu !== undefined ? { cpuUnits: Math.round(cpu * 1024) } : {}),
    ...(memory !== undefined ? { memoryMiB: Math.round(memory / 2 ** 20) } : {}),
  };
}
