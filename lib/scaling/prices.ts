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
