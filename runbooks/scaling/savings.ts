import type { ResolvedNodePrice, ResolvedPrice } from "./prices.js";
import { nightHours, type WindowSpec, weeklyOffHours } from "./window.js";

/** Average weeks in a month (365.25 days / 12 / 7). */
export const WEEKS_PER_MONTH = 365.25 / 12 / 7;

/** One service that is (or would be) down for the night. */
export interface SavingsItem {
  service: string;
  /** Tasks not running during off-hours: recorded desired count minus the count at night. */
  savedTasks: number;
  cpuUnits?: number | undefined;
  memoryMiB?: number | undefined;
}

/** Per-service line of a {@link SavingsEstimate}. */
export interface ServiceSavings {
  service: string;
  savedTasks: number;
  taskHoursPerNight: number;
  usdPerNight?: number;
  /** Why there is no cost for this service. */
  unpriced?: string;
}

/** Estimated savings of off-hours, per weekday night and per month. */
export interface SavingsEstimate {
  nightHours: number;
  weeklyOffHours: number;
  perNight: { taskHours: number; usd?: number };
  perMonth: { taskHours: number; usd?: number };
  price?: ResolvedPrice;
  node?: ResolvedNodePrice;
  services: ServiceSavings[];
  notes: string[];
}

/** Options of {@link estimateSavings}. */
export interface EstimateOptions {
  items: readonly SavingsItem[];
  window: WindowSpec;
  price: ResolvedPrice;
  launchType: "FARGATE" | "EC2";
  /**
   * Kubernetes: price pods by the share of this node their requests take (the larger of CPU and memory),
   * instead of Fargate's per-vCPU and per-GB prices.
   */
  node?: ResolvedNodePrice;
}

/** Cost of one replica-hour: Fargate's vCPU + GB prices, or a node's price × the share of it a pod requests. */
function perReplicaHour(item: SavingsItem, options: EstimateOptions): number | undefined {
  if (item.cpuUnits === undefined && item.memoryMiB === undefined) return undefined;
  const { node } = options;
  if (node) {
    const cpuShare = (item.cpuUnits ?? 0) / 1024 / node.vcpu;
    const memShare = (item.memoryMiB ?? 0) / 1024 / node.memoryGiB;
    return node.hourUsd * Math.max(cpuShare, memShare);
  }
  if (item.cpuUnits === undefined || item.memoryMiB === undefined) return undefined;
  return (item.cpuUnits / 1024) * options.price.vcpuHourUsd + (item.memoryMiB / 1024) * options.price.gbHourUsd;
}

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

/**
 * Task-hours and Fargate cost not spent during off-hours: saved tasks × hours × (vCPU × vCPU-hour price +
 * GB × GB-hour price). A month counts the weekly off-hours (weekends included when off) × 4.35 weeks,
 * without holidays. Services without a task size in the catalogue get task-hours but no cost, and the
 * EC2 launch type gets no cost at all (what it saves depends on the cluster's instances scaling in).
 */
export function estimateSavings(options: EstimateOptions): SavingsEstimate {
  const night = nightHours(options.window);
  const weekly = weeklyOffHours(options.window);
  const notes: string[] = [];
  const { price, node } = options;
  if (node) {
    if (node.note) notes.push(node.note);
    notes.push(
      `priced as a share of a ${node.instanceType} node ($${node.hourUsd}/h, ${node.vcpu} vCPU, ${node.memoryGiB} GiB) ` +
        "by the pods' requests: saved only when the cluster autoscaler (or Karpenter) removes the freed nodes",
    );
  } else if (price.note) notes.push(price.note);
  if (options.launchType === "EC2") {
    notes.push("EC2 launch type: the cost saved depends on the cluster's instances scaling in; task-hours only");
  }
  let taskHours = 0;
  let usd = 0;
  let priced = 0;
  const services = options.items.map((item): ServiceSavings => {
    const hours = item.savedTasks * night;
    taskHours += hours;
    const line: ServiceSavings = {
      service: item.service,
      savedTasks: item.savedTasks,
      taskHoursPerNight: round(hours, 2),
    };
    if (options.launchType === "EC2" && !node) return { ...line, unpriced: "EC2 launch type" };
    const perTaskHour = perReplicaHour(item, options);
    if (perTaskHour === undefined) {
      return {
        ...line,
        unpriced: node ? "the pods request no CPU or memory" : "no cpuUnits/memoryMiB in the catalogue",
      };
    }
    usd += hours * perTaskHour;
    priced++;
    return { ...line, usdPerNight: round(hours * perTaskHour, 4) };
  });
  const unpriced = services.filter((s) => s.unpriced && (node || options.launchType !== "EC2"));
  if (unpriced.length > 0) {
    const why = node ? "their pods request no CPU or memory" : "no task size in the catalogue";
    notes.push(`cost leaves out ${unpriced.map((s) => s.service).join(", ")}: ${why}`);
  }
  const monthFactor = night > 0 ? (weekly * WEEKS_PER_MONTH) / night : 0;
  const hasCost = priced > 0;
  return {
    nightHours: night,
    weeklyOffHours: weekly,
    perNight: { taskHours: round(taskHours, 2), ...(hasCost ? { usd: round(usd, 2) } : {}) },
    perMonth: {
      taskHours: round(taskHours * monthFactor, 1),
      ...(hasCost ? { usd: round(usd * monthFactor, 2) } : {}),
    },
    price,
    ...(node ? { node } : {}),
    services,
    notes,
  };
}

/** `~26 task-hours and ~$1.23 per night, ~$37.10 per month`, for a summary line. */
export function describeSavings(estimate: SavingsEstimate): string {
  const night = estimate.perNight;
  const month = estimate.perMonth;
  const nightCost = night.usd !== undefined ? ` and ~$${night.usd.toFixed(2)}` : "";
  const monthCost = month.usd !== undefined ? `~$${month.usd.toFixed(2)}` : `~${month.taskHours} task-hours`;
  return `~${night.taskHours} task-hours${nightCost} per night, ${monthCost} per month`;
}
