/** Fargate on-demand prices for one region, in USD. */
export interface FargatePrice {
  vcpuHourUsd: number;
  gbHourUsd: number;
}

/**
 * Default price table: Fargate Linux/x86 on-demand, per vCPU-hour and per GB-hour, from the AWS Fargate
 * pricing page (US regions: $0.04048 and $0.004445). Prices change and differ by region; a region missing
 * here is estimated at us-east-1's prices and the report says so. Pass `vcpuHourUsd=` / `gbHourUsd=` to
 * the runbook (or a table to {@link resolvePrice}) for exact figures, e.g. with a Savings Plan discount.
 */
export const DEFAULT_FARGATE_PRICES: Readonly<Record<string, FargatePrice>> = {
  "us-east-1": { vcpuHourUsd: 0.04048, gbHourUsd: 0.004445 },
  "us-east-2": { vcpuHourUsd: 0.04048, gbHourUsd: 0.004445 },
  "us-west-2": { vcpuHourUsd: 0.04048, gbHourUsd: 0.004445 },
};

/** Region whose prices stand in for one that is not in the table. */
export const FALLBACK_PRICE_REGION = "us-east-1";

/** A price with where it came from, so a report can say how much to trust the estimate. */
export interface ResolvedPrice extends FargatePrice {
  region: string;
  source: "table" | "fallback" | "input";
  note?: string;
}

/** Options of {@link resolvePrice}. */
export interface ResolvePriceOptions {
  table?: Readonly<Record<string, FargatePrice>>;
  /** Prices given for this run; either one overrides the table's. */
  override?: Partial<FargatePrice>;
}

/** The price to estimate with for a region: input, then the table, then the fallback region's. */
export function resolvePrice(region: string, options: ResolvePriceOptions = {}): ResolvedPrice {
  const table = options.table ?? DEFAULT_FARGATE_PRICES;
  const listed = table[region];
  const fallback = table[FALLBACK_PRICE_REGION] ?? DEFAULT_FARGATE_PRICES[FALLBACK_PRICE_REGION];
  const base = listed ?? fallback ?? { vcpuHourUsd: 0, gbHourUsd: 0 };
  const { override } = options;
  if (override?.vcpuHourUsd !== undefined || override?.gbHourUsd !== undefined) {
    return {
      region,
      vcpuHourUsd: override.vcpuHourUsd ?? base.vcpuHourUsd,
      gbHourUsd: override.gbHourUsd ?? base.gbHourUsd,
      source: "input",
    };
  }
  if (listed) return { region, ...listed, source: "table" };
  return {
    region,
    ...base,
    source: "fallback",
    note: `no ${region} price in the table: estimated at ${FALLBACK_PRICE_REGION} prices (set vcpuHourUsd= and gbHourUsd=)`,
  };
}

/** An EKS worker node: its on-demand price and size. Pods are priced by the share of a node they request. */
export interface NodePrice {
  instanceType: string;
  hourUsd: number;
  vcpu: number;
  memoryGiB: number;
}

/**
 * Default node per region: m5.large (2 vCPU, 8 GiB), Linux on-demand, from the EC2 on-demand pricing page
 * ($0.096/h in the US regions). A region missing here is estimated at us-east-1's price and the report says
 * so; pass `nodeHourUsd=` (and `nodeVcpu=`, `nodeMemoryGiB=` for another instance type) for exact figures.
 */
export const DEFAULT_NODE_PRICES: Readonly<Record<string, NodePrice>> = {
  "us-east-1": { instanceType: "m5.large", hourUsd: 0.096, vcpu: 2, memoryGiB: 8 },
  "us-east-2": { instanceType: "m5.large", hourUsd: 0.096, vcpu: 2, memoryGiB: 8 },
  "us-west-2": { instanceType: "m5.large", hourUsd: 0.096, vcpu: 2, memoryGiB: 8 },
};

/** A node price with where it came from. */
export interface ResolvedNodePrice extends NodePrice {
  region: string;
  source: "table" | "fallback" | "input";
  note?: string;
}

/** The node price for a region: the run's input over the table's, else the fallback region's with a note. */
export function resolveNodePrice(
  region: string,
  override: Partial<Pick<NodePrice, "hourUsd" | "vcpu" | "memoryGiB">> = {},
  table: Readonly<Record<string, NodePrice>> = DEFAULT_NODE_PRICES,
): ResolvedNodePrice {
  const listed = table[region];
  const base = listed ??
    table[FALLBACK_PRICE_REGION] ??
    DEFAULT_NODE_PRICES[FALLBACK_PRICE_REGION] ?? { instanceType: "m5.large", hourUsd: 0.096, vcpu: 2, memoryGiB: 8 };
  const given = override.hourUsd !== undefined || override.vcpu !== undefined || override.memoryGiB !== undefined;
  const node: NodePrice = {
    instanceType:
      given && (override.vcpu !== undefined || override.memoryGiB !== undefined) ? "given" : base.instanceType,
    hourUsd: override.hourUsd ?? base.hourUsd,
    vcpu: override.vcpu ?? base.vcpu,
    memoryGiB: override.memoryGiB ?? base.memoryGiB,
  };
  if (given) return { region, ...node, source: "input" };
  if (listed) return { region, ...node, source: "table" };
  return {
    region,
    ...node,
    source: "fallback",
    note: `no ${region} node price in the table: estimated at ${FALLBACK_PRICE_REGION}'s ${base.instanceType} price (set nodeHourUsd=)`,
  };
}
