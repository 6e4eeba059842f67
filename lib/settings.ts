import { availableParallelism, tmpdir } from "node:os";
import { delimiter } from "node:path";
import { z } from "zod";
import { ValidationError } from "./errors.js";

/**
 * The process environment, read once at the edge (a Lambda's cold start, the CLI's start) by this one
 * schema, so a setting means the same in both places: a boolean is `true`/`false`/`yes`/`no`/`1`/`0`
 * everywhere, a list is split the same way, and a bad value fails before anything runs. Runbooks see
 * the parsed {@link Settings} (`ctx.settings`), never the variables by name.
 */

/** `true`/`false` as a boolean or the strings true/false/yes/no/1/0 (any case). */
export const booleanish = z.preprocess(
  (value) => {
    if (typeof value !== "string") return value;
    const text = value.trim().toLowerCase();
    if (["true", "yes", "1"].includes(text)) return true;
    if (["false", "no", "0"].includes(text)) return false;
    return value;
  },
  z.boolean({ message: "must be true or false (or yes/no, 1/0)" }),
);

const optionalText = z
  .string()
  .transform((v) => v.trim())
  .optional()
  .transform((v) => (v ? v : undefined));

const list = (separator: string) =>
  z
    .string()
    .optional()
    .transform((v) =>
      (v ?? "")
        .split(separator)
        .map((s) => s.trim())
        .filter(Boolean),
    );

/** What a stage name may be: it goes into alarm, bucket and function names (checked at deploy and at start). */
export const STAGE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
export const STAGE_RULE = "must be a stage name: letters, digits and hyphens";

/** Names of the variables, for the error messages and for the code that sets them (deployment plan, hand-off). */
export const SETTING_VARIABLES = {
  dryRun: "OPS_DRY_RUN",
  deadlineMarginMs: "OPS_DEADLINE_MARGIN_MS",
  s3ForcePathStyle: "OPS_S3_FORCE_PATH_STYLE",
  auditBucket: "OPS_AUDIT_BUCKET",
  auditRegion: "OPS_AUDIT_REGION",
  caBundle: "OPS_PG_CA_BUNDLE",
  runbook: "OPS_RUNBOOK",
  systems: "OPS_SYSTEMS",
  pgBinDirs: "OPS_PG_BIN_DIRS",
  claimHolder: "OPS_CLAIM_HOLDER",
  claimKey: "OPS_CLAIM_KEY",
  backupTaskCluster: "OPS_BACKUP_TASK_CLUSTER",
  backupTaskDefinition: "OPS_BACKUP_TASK_DEFINITION",
  backupTaskContainer: "OPS_BACKUP_TASK_CONTAINER",
  reportTo: "OPS_REPORT_TO",
  metricsRegion: "OPS_METRICS_REGION",
  stage: "OPS_STAGE",
} as const;

const V = SETTING_VARIABLES;

const environmentSchema = z.object({
  /** Global kill switch: every run becomes a dry run. */
  [V.dryRun]: booleanish.default(false),
  /** Stop this long before the Lambda deadline so the report still goes out. */
  [V.deadlineMarginMs]: z.coerce.number().int().min(1000).default(30_000),
  [V.s3ForcePathStyle]: booleanish.default(false),
  /** Bucket for the audit log (JSON lines per run); none: the structured log only. */
  [V.auditBucket]: z.string().min(3).optional(),
  [V.auditRegion]: optionalText,
  /** PEM file replacing the bundled Amazon RDS CAs for verify-full (checked at the edge). */
  [V.caBundle]: optionalText,
  /** The one runbook this function runs (set by the deployment plan). */
  [V.runbook]: optionalText,
  /** The systems this function serves, comma-separated (set by the deployment plan). */
  [V.systems]: z
    .string()
    .optional()
    .transform((v) =>
      v === undefined
        ? undefined
        : v
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean),
    ),
  /** Directories holding pg_dump / pg_restore of other majors, searched first (colon-separated). */
  [V.pgBinDirs]: list(":"),
  PATH: z.string().optional().default(""),
  TMPDIR: optionalText,
  AWS_REGION: optionalText,
  [V.claimHolder]: optionalText,
  [V.claimKey]: optionalText,
  [V.backupTaskCluster]: optionalText,
  [V.backupTaskDefinition]: optionalText,
  [V.backupTaskContainer]: optionalText,
  /** `deployment`: a run inside the deployment (the Fargate task) reports like a function does. */
  [V.reportTo]: z.enum(["deployment"], { message: 'must be "deployment" or unset' }).optional(),
  /** Where a run inside the deployment publishes its report metrics (the deployment's region). */
  [V.metricsRegion]: optionalText,
  /** The deployment's SST stage (set by the deployment plan): which of an account's alarms are this deployment's. */
  [V.stage]: z.string().regex(STAGE_PATTERN, { message: STAGE_RULE }).optional(),
});

/** The process settings every entry point and runbook shares. */
export interface Settings {
  dryRun: boolean;
  deadlineMarginMs: number;
  s3ForcePathStyle: boolean;
  audit?: { bucket: string; region?: string };
  caBundle?: string;
  pin: { runbook?: string; systems?: string[] };
  /** Where PostgreSQL client programs are looked for, in order (then Debian's directories, then PATH). */
  pgBinDirs: string[];
  path: string;
  /** Where runbooks may write scratch files (a download-mode restore). */
  tempDir: string;
  /** CPUs this process may use (`pg_restore -j` defaults to it): the machine's, read here once. */
  cpus: number;
  region?: string;
  /** A claim this run was handed (the backup function's Fargate task takes over its claim). */
  handedClaim?: { key: string; holder: string };
  /** The deployed Fargate task backups and drills hand off to; fields unset when none is deployed. */
  task: { cluster?: string; taskDefinition?: string; container?: string };
  reportTo?: "deployment";
  metricsRegion?: string;
  /** The deployment's stage; unset outside a deployment (the CLI), where every stage's alarms show. */
  stage?: string;
}

/** A variable that fails the schema: names it and says what it allows. */
function settingsError(issues: z.core.$ZodIssue[]): ValidationError {
  return new ValidationError(
    "invalid environment",
    issues.map((i) => ({ path: i.path.join("."), message: i.message })),
  );
}

/** The object without its undefined fields (optional fields are absent, never `undefined`). */
function defined<T extends Record<string, unknown>>(object: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(object).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}

/** Parses the environment once; throws a {@link ValidationError} naming each bad variable. */
export function parseSettings(env: Readonly<Record<string, string | undefined>>): Settings {
  // An empty variable is an unset one (`OPS_REPORT_TO= ops run …`), as a shell user means it.
  const set = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ""));
  const parsed = environmentSchema.safeParse(set);
  if (!parsed.success) throw settingsError(parsed.error.issues);
  const e = parsed.data;
  const auditBucket = e[V.auditBucket];
  const auditRegion = e[V.auditRegion];
  const claimKey = e[V.claimKey];
  const claimHolder = e[V.claimHolder];
  return {
    dryRun: e[V.dryRun],
    deadlineMarginMs: e[V.deadlineMarginMs],
    s3ForcePathStyle: e[V.s3ForcePathStyle],
    ...(auditBucket ? { audit: { bucket: auditBucket, ...(auditRegion ? { region: auditRegion } : {}) } } : {}),
    ...defined({
      caBundle: e[V.caBundle],
      region: e.AWS_REGION,
      reportTo: e[V.reportTo],
      metricsRegion: e[V.metricsRegion],
      stage: e[V.stage],
    }),
    pin: defined({ runbook: e[V.runbook], systems: e[V.systems] }),
    pgBinDirs: e[V.pgBinDirs],
    path: e.PATH,
    tempDir: e.TMPDIR ?? tmpdir(),
    cpus: availableParallelism(),
    ...(claimKey && claimHolder ? { handedClaim: { key: claimKey, holder: claimHolder } } : {}),
    task: defined({
      cluster: e[V.backupTaskCluster],
      taskDefinition: e[V.backupTaskDefinition],
      container: e[V.backupTaskContainer],
    }),
  };
}

/** The PATH entries, split the platform's way (for finding programs). */
export function pathEntries(settings: Pick<Settings, "path">): string[] {
  return settings.path.split(delimiter).filter(Boolean);
}
