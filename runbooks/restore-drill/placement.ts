/**
 * Where a pg_dump restore drill runs: here (this process), in the Fargate task, or nowhere this time (it
 * would not fit and no task can take it), with the reason a person reads in the report. Pure: the same
 * rules as the backup's hand-off (runbooks/backup/handoff.ts), over the drill's own estimate.
 */
export type DrillPlacement = { where: "here" } | { where: "task"; reason: string } | { where: "skip"; reason: string };

/** What {@link decideDrillPlacement} decides from: the catalogue, the budget, the backup and the estimate. */
export interface DrillPlacementInput {
  /** `dr.drill.runOn` (default `auto`). */
  runOn: "auto" | "fargate";
  /** Time left before the function's deadline; undefined in a plain process (the task, a CLI run). */
  budgetMs?: number;
  /** The backup's size (the manifest's `bytes`). */
  bytes: number;
  /** The download throughput assumed (`dr.drill.throughputMBps`), in bytes per ms. */
  throughputBytesPerMs: number;
  /** pg_restore's estimated time (the last passed drill scaled, else twice the dump's duration). */
  restoreEstimateMs: number;
  /** A directory backup is restored from local disk: the free bytes where it would go, when known. */
  localDisk?: { freeBytes: number | undefined };
  /** Why no task can take it (no task network, no task deployed); undefined: one can. */
  noTask?: string;
}

/** Room a downloaded backup needs beyond its own size (pg_restore's own temp files, the file system). */
const DISK_MARGIN = 1.1;

const mib = (bytes: number) => `${Math.ceil(bytes / 1048576)} MiB`;

function elsewhere(input: DrillPlacementInput, why: string): DrillPlacement {
  return input.noTask
    ? { where: "skip", reason: `${why}, and ${input.noTask}; run it as a plain process (\`ops run restore-drill\`)` }
    : { where: "task", reason: why };
}

/**
 * The rules, in order (runbooks/restore-drill/restore-drill.md):
 * 1. a plain process has no deadline: it drills itself (it is the task, or an operator's run);
 * 2. `dr.drill.runOn: fargate` goes to the task;
 * 3. a directory backup that does not fit the function's local disk goes to the task;
 * 4. download (size ÷ throughput) plus restore within the budget runs here, else the task.
 * Where the task is needed but none can take it: `skip`, with the numbers.
 */
export function decideDrillPlacement(input: DrillPlacementInput): DrillPlacement {
  if (input.budgetMs === undefined) return { where: "here" };
  if (input.runOn === "fargate") return elsewhere(input, "the catalogue runs this drill on Fargate (dr.drill.runOn)");
  const free = input.localDisk?.freeBytes;
  if (input.localDisk && (free === undefined || free < input.bytes * DISK_MARGIN)) {
    return elsewhere(
      input,
      `the directory backup's ${mib(input.bytes)} must be downloaded to local disk and the function has ${free === undefined ? "none it can measure" : `${mib(free)} free`}`,
    );
  }
  const downloadMs = Math.round(input.bytes / Math.max(input.throughputBytesPerMs, 1e-6));
  const totalMs = downloadMs + input.restoreEstimateMs;
  if (totalMs <= input.budgetMs) return { where: "here" };
  const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;
  return elsewhere(
    input,
    `estimated download ${seconds(downloadMs)} (${mib(input.bytes)} at ${(input.throughputBytesPerMs / 1000).toFixed(0)} MB/s) and restore ${seconds(input.restoreEstimateMs)} exceed the ${seconds(input.budgetMs)} budget`,
  );
}

/** Download throughput assumed when the catalogue gives none: 50 MB/s, a Lambda's usual rate from S3. */
export const DEFAULT_DRILL_THROUGHPUT_MBPS = 50;

/** How the drill hands itself to the task: given by the runbook, which holds the claim (`./handoff.ts`). */
export interface DrillHandOff {
  /** Why no task can take the drill; undefined: one can. */
  noTask?: string;
  /** Starts the task with the claim and reports `handed off` (or `failed`). */
  handOff(reason: string): Promise<void>;
}

/** What {@link placeDrill} reads: the function's deadline, the catalogue, the backup, the estimate. */
export interface PlaceDrillOptions {
  now: Date;
  deadline?: Date | undefined;
  drill?: { runOn?: "auto" | "fargate" | undefined; throughputMBps?: number | undefined } | undefined;
  manifest: { bytes: number; format: "custom" | "directory" };
  /** pg_restore's estimate, read only when there is a budget to compare it with. */
  restoreEstimateMs: () => Promise<number>;
  /** Free bytes of the run's local disk (`ctx.tempDir`); undefined when there is none to measure. */
  freeBytes: () => Promise<number | undefined>;
  handOff?: DrillHandOff | undefined;
}

function noTaskOf(handOff: DrillHandOff | undefined): { noTask?: string } {
  if (!handOff) return { noTask: "this run cannot start a task" };
  return handOff.noTask ? { noTask: handOff.noTask } : {};
}

/** Reads what {@link decideDrillPlacement} needs (only in a function: a plain process drills itself) and decides. */
export async function placeDrill(options: PlaceDrillOptions): Promise<DrillPlacement & { restoreEstimateMs?: number }> {
  if (!options.deadline) return { where: "here" };
  const restoreEstimateMs = await options.restoreEstimateMs();
  const placement = decideDrillPlacement({
    runOn: options.drill?.runOn ?? "auto",
    budgetMs: options.deadline.getTime() - options.now.getTime(),
    bytes: options.manifest.bytes,
    throughputBytesPerMs: ((options.drill?.throughputMBps ?? DEFAULT_DRILL_THROUGHPUT_MBPS) * 1e6) / 1000,
    restoreEstimateMs,
    ...(options.manifest.format === "directory" ? { localDisk: { freeBytes: await options.freeBytes() } } : {}),
    ...noTaskOf(options.handOff),
  });
  return { ...placement, restoreEstimateMs };
}
