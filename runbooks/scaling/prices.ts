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
 * Linux on-demand prices and sizes of common node types, from the EC2 on-demand pricing page for us-east-1
 * (the same in us-east-2 and us-west-2). Other regions are estimated at these prices and the report says
 * so; `nodeHourUsd=` (and `nodeVcpu=`, `nodeMemoryGiB=`) give exact figures.
 */
export const NODE_TYPES: Readonly<Record<string, NodePrice>> = {
  "t3.small": { instanceType: "t3.small", hourUsd: 0.0208, vcpu: 2, memoryGiB: 2 },
  "t3.medium": { instanceType: "t3.medium", hourUsd: 0.0416, vcpu: 2, memoryGiB: 4 },
  "t3.large": { instanceType: "t3.large", hourUsd: 0.0832, vcpu: 2, memoryGiB: 8 },
  "m5.large": { instanceType: "m5.large", hourUsd: 0.096, vcpu: 2, memoryGiB: 8 },
  "m5.xlarge": { instanceType: "m5.xlarge", hourUsd: 0.192, vcpu: 4, memoryGiB: 16 },
};

/** Regions whose prices {@link NODE_TYPES} lists. */
export const NODE_PRICE_REGIONS: readonly string[] = ["us-east-1", "us-east-2", "us-west-2"];

/** Node type assumed when the catalogue names none. */
export const DEFAULT_NODE_TYPE = "m5.large";

/** A node price with where it came from. */
export interface ResolvedNodePrice extends NodePrice {
  region: string;
  source: "table" | "fallback" | "input";
  note?: string;
}

/**
 * The node price for a system: the run's input over the catalogue's node type (`runtime.node`), looked up in
 * {@link NODE_TYPES}; a region or type not in the table is estimated and the note says how.
 */
export function resolveNodePrice(
  region: string,
  override: Partial<Pick<NodePrice, "hourUsd" | "vcpu" | "memoryGiB">> = {},
  instanceType: string = DEFAULT_NODE_TYPE,
): ResolvedNodePrice {
  const listed = NODE_TYPES[instanceType];
  const base = listed ?? NODE_TYPES[DEFAULT_NODE_TYPE] ?? { instanceType, hourUsd: 0.096, vcpu: 2, memoryGiB: 8 };
  const node: NodePrice = {
    instanceType: listed ? instanceType : base.instanceType,
    hourUsd: override.hourUsd ?? base.hourUsd,
    vcpu: override.vcpu ?? base.vcpu,
    memoryGiB: override.memoryGiB ?? base.memoryGiB,
  };
  if (override.hourUsd !== undefined) return { region, ...node, source: "input" };
  const notes = [
    ...(listed ? [] : [`no price for ${instanceType}: estimated as ${base.instanceType}`]),
    ...(NODE_PRICE_REGIONS.includes(region)
      ? []
      : [`no ${region} node prices: estimated at ${FALLBACK_PRICE_REGION}'s`]),
  ];
  if (notes.length === 0) return { region, ...node, source: "table" };
  return { region, ...node, source: "fallback", note: `${notes.join("; ")} (set nodeHourUsd=)` };
}
