import { type AlarmDefinition, alarmName, fleetAlarms } from "../alarms/index.js";
import { backupBucketLifecycleRules, type LifecycleRule } from "../lib/backup/bucket-lifecycle.js";
import { ValidationError } from "../lib/errors.js";
import {
  arnIn,
  assumeRolePermissions,
  auditObjectArn,
  auditWritePermissions,
  type KubernetesAccess,
  managedPolicyArn,
  s3ArnIn,
  secretArnIn,
  toPolicyDocument,
  withAccount,
} from "../lib/iam.js";
import { reportMetricsPermissions } from "../lib/metric-data.js";
import { STAGE_PATTERN, STAGE_RULE } from "../lib/settings.js";
import type { SlackAccessTable } from "../lib/slack/access.js";
import { BACKUP_TASK, backupTaskPermissions, backupTaskRoleNames } from "../runbooks/backup/task.js";
import type { AnyRunbook, Permission } from "../runbooks/types.js";
import type { Fleet } from "../systems/index.js";
import type { System } from "../systems/schema.js";
import {
  type NotifyResources,
  notifyEnvironment,
  notifyPermissions,
  notifyResources,
  type PlannedAlarmDelivery,
  plannedAlarmDelivery,
} from "./alarms.js";
import { type PlannedSlackCommand, plannedSlackCommand, slackAccessTable, workerFunctionName } from "./slack.js";

/**
 * The deployment as data: every function with its runbook, the systems it serves and its exact IAM
 * policy; every schedule, event rule, alarm and bucket. `sst.config.ts` only maps this onto SST
 * components, and the wiring tests and `ops iam` read it. Pure: the registry, the fleet and the deploying
 * account come in as arguments.
 */

/** Where and how the deployment happens. */
export interface DeploymentOptions {
  /** The account the functions are deployed to (`aws.getCallerIdentity()`): systems without one live there. */
  accountId: string;
  /** The region the functions and the audit bucket are deployed to. */
  region: string;
  stage: string;
  /** `OPS_DRY_RUN` at deploy time: every run becomes a dry run. */
  dryRun?: boolean;
  /** Lambda layer with pg_dump/pg_restore under /opt/bin. */
  pgLayerArn?: string;
  /** Name of the audit bucket; default {@link auditBucketName}. */
  auditBucket?: string;
  /** Secrets Manager ARNs of the Slack (bot token or webhook) and PagerDuty (routing key) secrets. */
  slackSecretArn?: string;
  pagerDutySecretArn?: string;
  /** Default Slack channel of reports and alarms without a channel of their own. */
  slackChannel?: string;
}

/** What the target account's role must allow and trust, for a system reached through `account.roleArn`. */
export interface AssumedRole {
  system: string;
  roleArn: string;
  externalId?: string;
  /** The role's permissions policy: what the runbook needs for that system, in that account. */
  permissions: Permission[];
}

/** One Lambda function of the deployment. */
export interface PlannedFunction {
  /** SST component name (stable: renaming it would replace the function). */
  id: string;
  kind: "scheduled" | "worker" | "event";
  /** The Lambda function name, where it must be known in advance (workers: the slash command invokes them). */
  name?: string;
  handler: string;
  runbook: string;
  /** The only systems this function accepts events for (`OPS_SYSTEMS`). */
  systems: string[];
  memoryMB: number;
  timeoutSeconds: number;
  environment: Record<string, string>;
  layers: string[];
  /** The function role's own statements: exactly these and nothing else. */
  permissions: (Permission & { sid: string })[];
  /** Roles in other accounts it assumes, and what each must grant. */
  assumedRoles: AssumedRole[];
  /**
   * EKS access entries for this function's role, namespace-scoped, on clusters in this account (a system
   * reached through another account's role needs its entry made there: README, "EKS access").
   */
  kubernetesAccess: KubernetesAccess[];
}

/** One EventBridge Scheduler schedule. */
export interface PlannedSchedule {
  id: string;
  scheduleId: string;
  expression: string;
  timezone: string;
  /** The {@link PlannedFunction.id} it invokes. */
  function: string;
  event: { runbook: string; system: string; input: string; scheduleId: string };
}

/** One EventBridge rule and the function it invokes. */
export interface PlannedEventRule {
  id: string;
  function: string;
  runbook: string;
  pattern: Record<string, unknown>;
}

/** One CloudWatch alarm, routed to the topic of its severity. */
export interface PlannedAlarm {
  id: string;
  name: string;
  topic: string;
  definition: AlarmDefinition;
}

/** S3 Object Lock default retention of a bucket. */
export interface ObjectLockRetention {
  mode: "COMPLIANCE" | "GOVERNANCE";
  days: number;
}

/** One S3 bucket the deployment creates. */
export interface PlannedBucket {
  id: string;
  kind: "backup" | "audit" | "slack";
  name: string;
  /** The system whose backups it holds (backup buckets). */
  system?: string;
  versioning: true;
  enforceHttps: true;
  lifecycleRules: LifecycleRule[];
  /** Audit bucket: versions cannot be deleted or overwritten before the retention ends. */
  objectLock?: ObjectLockRetention;
}

/**
 * The Fargate task a backup function hands a long dump to, one per region with systems that give a task
 * network (`backup.fargate`) in the deploying account: the same code and catalogue in an image built at
 * deploy time from the repository's `Dockerfile`, running `ops run backup` (runbooks/backup/backup.md).
 */
export interface PlannedBackupTask {
  id: string;
  region: string;
  /** The systems whose backups it takes: its role is granted exactly their backup permissions. */
  systems: string[];
  cluster: string;
  family: string;
  container: string;
  /** Fargate size: 2 vCPU, as the function (pg_dump compresses on one, the upload runs on the other). */
  cpu: number;
  memoryMiB: number;
  /** Fargate's default 20 GiB: the custom-format dump streams to S3 and needs no local disk. */
  ephemeralStorageGiB: number;
  architecture: "X86_64" | "ARM64";
  image: { context: string; dockerfile: string };
  environment: Record<string, string>;
  /** The task role: the backup runbook's statements for its systems (less starting tasks), the audit write and PutMetricData in our namespace. */
  taskRole: { name: string; permissions: (Permission & { sid: string })[] };
  /** Pulls the image and writes the logs: AWS's managed execution policy, nothing else. */
  executionRole: { name: string; managedPolicyArns: string[] };
  logGroup: string;
  logRetentionDays: number;
  /** The network of each system's tasks, from the catalogue (RunTask passes it per run). */
  networks: { system: string; subnetIds: string[]; securityGroupIds: string[] }[];
}

/** A runbook the plan deploys no function for, and why. */
export interface UndeployedRunbook {
  runbook: string;
  reason: string;
}

/** Everything `sst.config.ts` creates. */
export interface DeploymentPlan {
  accountId: string;
  region: string;
  stage: string;
  auditBucket: string;
  functions: PlannedFunction[];
  schedules: PlannedSchedule[];
  eventRules: PlannedEventRule[];
  topics: { id: string; severity: string }[];
  alarms: PlannedAlarm[];
  buckets: PlannedBucket[];
  backupTasks: PlannedBackupTask[];
  undeployed: UndeployedRunbook[];
  /** The alarm function (routing, reminders, remediation), its rule, tick, state bucket and topics. */
  alarmDelivery?: PlannedAlarmDelivery;
  /** The `/ops` slash command, when some system allows a runbook from Slack. */
  slack?: PlannedSlackCommand;
}

/** How long audit records cannot be changed: a year in production, a week in other stages. */
export function auditRetention(stage: string): ObjectLockRetention {
  // COMPLIANCE: nobody, not even the account root, can shorten it. GOVERNANCE elsewhere, so that a test
  // stage can still be removed by someone granted s3:BypassGovernanceRetention (no function is).
  return stage === "production" ? { mode: "COMPLIANCE", days: 365 } : { mode: "GOVERNANCE", days: 7 };
}

/** `ops-autopilot-<stage>-audit-<account>-<region>`: S3 names are global, so account and region are in it. */
export function auditBucketName(stage: string, accountId: string, region: string): string {
  const name = `ops-autopilot-${stage}-audit-${accountId}-${region}`.toLowerCase();
  if (name.length > 63 || !/^[a-z0-9][a-z0-9-]*[a-z0-9]$/.test(name)) {
    throw new Error(
      `audit bucket name "${name}" is not a valid S3 bucket name (3–63 lower-case letters, digits, hyphens): ` +
        "use a shorter stage name or pass auditBucket",
    );
  }
  return name;
}

/** `flash-sale` → `FlashSale`: SST component names. */
export function pascal(id: string): string {
  return id
    .split(/[^a-zA-Z0-9]/)
    .filter(Boolean)
    .map((p) => (p[0]?.toUpperCase() ?? "") + p.slice(1))
    .join("");
}

/**
 * The systems a runbook's functions serve: the deployed systems with a schedule for it, and those its
 * `serves` declaration names. A runbook that declares nothing and has no schedule serves none.
 */
export function servedSystems(runbook: AnyRunbook, fleet: Fleet): System[] {
  return fleet.systems.filter(
    (s) =>
      s.deploy &&
      (fleet.schedules.some((x) => x.runbook === runbook.name && x.system === s.id) || runbook.serves?.(s) === true),
  );
}

/** The statements one system contributes to a function's policy, and the role it assumes if any. */
function systemGrants(
  runbook: AnyRunbook,
  system: System,
  audit: { bucket: string; region: string },
): { permissions: (Permission & { sid: string })[]; assumedRole?: AssumedRole } {
  const sid = (n: number) => `${pascal(system.id)}${n}`;
  const own = runbook.permissions(system);
  const auditWrite = auditWritePermissions(system.id, audit).map((p) => ({ ...p, sid: `${pascal(system.id)}Audit` }));
  if (!system.account.roleArn) {
    return { permissions: [...own.map((p, i) => ({ ...p, sid: sid(i + 1) })), ...auditWrite] };
  }
  // In another account the function's own policy can grant nothing there: it assumes the role, whose
  // policy (printed by `ops iam`, shown in the README) grants what the runbook needs.
  return {
    permissions: [
      ...assumeRolePermissions(system).map((p) => ({ ...p, sid: `${pascal(system.id)}AssumeRole` })),
      ...auditWrite,
    ],
    assumedRole: {
      system: system.id,
      roleArn: system.account.roleArn,
      ...(system.account.externalId ? { externalId: system.account.externalId } : {}),
      permissions: own,
    },
  };
}

interface FunctionShape {
  kind: PlannedFunction["kind"];
  id: string;
  handler: string;
}

function functionShapes(runbook: AnyRunbook): FunctionShape[] {
  return [
    { kind: "scheduled", id: `Scheduled${pascal(runbook.name)}`, handler: "functions/scheduled.handler" },
    { kind: "worker", id: `Worker${pascal(runbook.name)}`, handler: "functions/worker.handler" },
    ...(runbook.eventRules ?? []).map((rule) => ({
      kind: "event" as const,
      id: `${rule.name}Handler`,
      handler: rule.handler,
    })),
  ];
}

function plannedFunctions(
  runbook: AnyRunbook,
  systems: System[],
  options: DeploymentOptions,
  shared: { auditBucket: string; notify: NotifyResources },
): PlannedFunction[] {
  const { auditBucket } = shared;
  const grants = systems.map((s) => systemGrants(runbook, s, { bucket: auditBucket, region: options.region }));
  // Every function routes its own failed or partial reports (lib/notify): the topics and secrets only.
  const notify = notifyPermissions(shared.notify).map((p, i) => ({ ...p, sid: `Notify${i + 1}` }));
  const permissions = [...grants.flatMap((g) => g.permissions), ...notify];
  const assumedRoles = grants.flatMap((g) => (g.assumedRole ? [g.assumedRole] : []));
  // Told the task where it may start it: the backup, and a pg_dump drill (runbooks/fargate-handoff.ts).
  const handsOff = systems.some((s) => runsBackupTasks(s) && startsTasks(runbook, s));
  const environment = {
    ...(handsOff
      ? {
          OPS_BACKUP_TASK_CLUSTER: BACKUP_TASK.cluster,
          OPS_BACKUP_TASK_DEFINITION: BACKUP_TASK.family,
          OPS_BACKUP_TASK_CONTAINER: BACKUP_TASK.container,
        }
      : {}),
    POWERTOOLS_SERVICE_NAME: "ops-autopilot",
    OPS_PG_BIN_DIRS: "/opt/bin",
    OPS_DRY_RUN: options.dryRun ? "true" : "false",
    OPS_STAGE: options.stage,
    OPS_AUDIT_BUCKET: auditBucket,
    OPS_AUDIT_REGION: options.region,
    OPS_RUNBOOK: runbook.name,
    OPS_SYSTEMS: systems.map((s) => s.id).join(","),
    ...notifyEnvironment(shared.notify),
  };
  return functionShapes(runbook).map((shape) => ({
    ...shape,
    ...(shape.kind === "worker" ? { name: workerFunctionName(options.stage, runbook.name) } : {}),
    runbook: runbook.name,
    systems: systems.map((s) => s.id),
    memoryMB: runbook.memoryMB ?? 1024,
    timeoutSeconds: Math.min(runbook.timeoutSeconds ?? 300, 900),
    environment,
    layers: options.pgLayerArn ? [options.pgLayerArn] : [],
    permissions,
    assumedRoles,
    kubernetesAccess: systems.filter((s) => !s.account.roleArn).flatMap((s) => runbook.kubernetesAccess?.(s) ?? []),
  }));
}

/** The runbook may start the backup task for this system (it declares RunTask: the backup, a pg_dump drill). */
function startsTasks(runbook: AnyRunbook, system: System): boolean {
  return runbook.permissions(system).some((p) => p.actions.includes("ecs:RunTask"));
}

/** A system whose backups can go to the deployment's Fargate task: a task network, in this account. */
function runsBackupTasks(system: System): boolean {
  return Boolean(system.backup?.fargate) && !system.account.roleArn;
}

/** The statements that start a task: the task itself never hands off (it has no deadline). */
function isHandOffStatement(p: Permission, handOff: Permission[]): boolean {
  return handOff.some((h) => h.actions.join() === p.actions.join() && h.resources.join() === p.resources.join());
}

/** `systems`: those the backup functions serve, accounts filled in. */
function plannedBackupTasks(
  backup: AnyRunbook | undefined,
  systems: System[],
  options: DeploymentOptions,
  auditBucket: string,
  /** The restore drill, which hands its long drills to the same task: its role gets the drill's statements too. */
  drill?: AnyRunbook,
): PlannedBackupTask[] {
  if (!backup) return [];
  const served = systems.filter(runsBackupTasks);
  const regions = [...new Set(served.map((s) => s.account.region))].sort();
  return regions.map((region) => {
    const here = served.filter((s) => s.account.region === region);
    const roles = backupTaskRoleNames(region);
    const permissions = here.flatMap((system) => {
      const handOff = backupTaskPermissions(system);
      const own = backup.permissions(system).filter((p) => !isHandOffStatement(p, handOff));
      // Only where the drill hands off (a pg_dump drill): the task never runs an RDS drill.
      const drills =
        drill && startsTasks(drill, system)
          ? drill.permissions(system).filter((p) => !isHandOffStatement(p, handOff))
          : [];
      return [
        ...own.map((p, i) => ({ ...p, sid: `${pascal(system.id)}${i + 1}` })),
        ...drills.map((p, i) => ({ ...p, sid: `${pascal(system.id)}Drill${i + 1}` })),
        ...auditWritePermissions(system.id, { bucket: auditBucket, region: options.region }).map((p) => ({
          ...p,
          sid: `${pascal(system.id)}Audit`,
        })),
      ];
    });
    // The task publishes its report's metrics itself (the functions' EMF records have no stand-in there).
    permissions.push(...reportMetricsPermissions().map((p) => ({ ...p, sid: "ReportMetrics" })));
    return {
      id: `BackupTask${pascal(region)}`,
      region,
      systems: here.map((s) => s.id),
      cluster: BACKUP_TASK.cluster,
      family: BACKUP_TASK.family,
      container: BACKUP_TASK.container,
      cpu: 2048,
      memoryMiB: 4096,
      ephemeralStorageGiB: 20,
      architecture: "X86_64",
      image: { context: ".", dockerfile: "Dockerfile" },
      environment: {
        POWERTOOLS_SERVICE_NAME: "ops-autopilot",
        OPS_DRY_RUN: options.dryRun ? "true" : "false",
        OPS_STAGE: options.stage,
        OPS_AUDIT_BUCKET: auditBucket,
        OPS_AUDIT_REGION: options.region,
        // Where the alarms are: the task's report metrics go there, not to the task's own region.
        OPS_METRICS_REGION: options.region,
        OPS_RUNBOOK: "backup",
        OPS_SYSTEMS: here.map((s) => s.id).join(","),
        // `ops run` reports to the routed notifier and the audit bucket, as the functions do.
        OPS_REPORT_TO: "deployment",
      },
      taskRole: { name: roles.task, permissions },
      executionRole: {
        name: roles.execution,
        managedPolicyArns: [managedPolicyArn(region, "service-role/AmazonECSTaskExecutionRolePolicy")],
      },
      logGroup: `/ops-autopilot/${options.stage}/backup-task`,
      logRetentionDays: 30,
      networks: here.flatMap((s) =>
        s.backup?.fargate
          ? [
              {
                system: s.id,
                subnetIds: s.backup.fargate.subnetIds,
                securityGroupIds: s.backup.fargate.securityGroupIds,
              },
            ]
          : [],
      ),
    };
  });
}

function plannedBuckets(systems: System[], stage: string, auditBucket: string): PlannedBucket[] {
  const lifecycleRules = backupBucketLifecycleRules();
  // Systems reached through a role keep their buckets in their own account.
  const backups: PlannedBucket[] = systems.flatMap((system) =>
    system.backup && !system.account.roleArn
      ? [
          {
            id: `Backups${pascal(system.id)}`,
            kind: "backup" as const,
            name: system.backup.bucket,
            system: system.id,
            versioning: true as const,
            enforceHttps: true as const,
            lifecycleRules,
          },
        ]
      : [],
  );
  return [
    ...backups,
    {
      id: "Audit",
      kind: "audit",
      name: auditBucket,
      versioning: true,
      enforceHttps: true,
      lifecycleRules: [],
      objectLock: auditRetention(stage),
    },
  ];
}

/**
 * The workers of destructive runbooks that Slack may apply post their approval requests with the bot
 * token and record the message's ts on the approval (functions/worker.ts), so that the expiry sweep can
 * replace it: they may read and conditionally rewrite `slack/approvals/*` of the Slack bucket, nothing else.
 */
function postsApprovalRequests(
  functions: PlannedFunction[],
  table: SlackAccessTable,
  slack: { bucket: string; region: string; secretId: string; secretArn: string },
): void {
  const destructive = new Set(
    Object.values(table.systems).flatMap((s) =>
      Object.entries(s.runbooks)
        .filter(([, r]) => r.destructive)
        .map(([name]) => name),
    ),
  );
  for (const fn of functions) {
    if (fn.kind !== "worker" || !destructive.has(fn.runbook)) continue;
    // The `/ops` app's bot token: the app whose interactivity URL the Approve button must reach.
    fn.environment = {
      ...fn.environment,
      OPS_SLACK_APPROVALS_BUCKET: slack.bucket,
      OPS_SLACK_APPROVALS_SECRET_ID: slack.secretId,
    };
    fn.permissions = [
      ...fn.permissions,
      {
        sid: "RecordApprovalMessages",
        actions: ["s3:GetObject", "s3:PutObject"],
        resources: [s3ArnIn(slack.region, `${slack.bucket}/slack/approvals/*`)],
      },
      { sid: "ReadApprovalsBotToken", actions: ["secretsmanager:GetSecretValue"], resources: [slack.secretArn] },
    ];
  }
}

/** Seen-signature objects matter for 5 minutes (the signature window): a day's expiry is generous. */
/** Days an approval record stays in the Slack state bucket: far past its expiry (30 minutes) and its close. */
export const APPROVAL_RECORD_DAYS = 30;

function slackBucket(name: string): PlannedBucket {
  return {
    id: "SlackState",
    kind: "slack",
    name,
    versioning: true,
    enforceHttps: true,
    lifecycleRules: [
      { id: "expire-seen-signatures", status: "Enabled", filter: { prefix: "slack/seen/" }, expiration: { days: 1 } },
      // Approval records close within minutes (approved, or expired by the sweep) and their decisions are in
      // the audit bucket under Object Lock; kept forever, the sweep would read every one every 15 minutes.
      {
        id: "expire-closed-approvals",
        status: "Enabled",
        filter: { prefix: "slack/approvals/" },
        expiration: { days: APPROVAL_RECORD_DAYS },
      },
      {
        id: "expire-old-versions",
        status: "Enabled",
        filter: { prefix: "" },
        noncurrentVersionExpiration: { noncurrentDays: 1 },
      },
    ],
  };
}

function plannedAlarms(systems: System[], stage: string) {
  const alarms = fleetAlarms(systems).map((definition) => ({
    id: `Alarm${pascal(definition.id)}`,
    name: alarmName(stage, definition.id),
    topic: `Alerts${pascal(definition.severity)}`,
    definition,
  }));
  const severities = [...new Set(alarms.map((a) => a.definition.severity))];
  return { alarms, topics: severities.map((severity) => ({ id: `Alerts${pascal(severity)}`, severity })) };
}

/** Each runbook's functions and event rules for the systems it serves; a runbook that serves none is said so. */
function plannedRunbooks(
  registry: readonly AnyRunbook[],
  accounted: Fleet,
  options: DeploymentOptions,
  shared: { auditBucket: string; notify: NotifyResources },
): { functions: PlannedFunction[]; eventRules: PlannedEventRule[]; undeployed: UndeployedRunbook[] } {
  const functions: PlannedFunction[] = [];
  const eventRules: PlannedEventRule[] = [];
  const undeployed: UndeployedRunbook[] = [];
  for (const runbook of registry) {
    const systems = servedSystems(runbook, accounted);
    if (systems.length === 0) {
      undeployed.push({
        runbook: runbook.name,
        reason: "no deployed system has a schedule for it or is declared served",
      });
      continue;
    }
    functions.push(...plannedFunctions(runbook, systems, options, shared));
    for (const rule of runbook.eventRules ?? []) {
      eventRules.push({ id: rule.name, function: `${rule.name}Handler`, runbook: runbook.name, pattern: rule.pattern });
    }
  }
  return { functions, eventRules, undeployed };
}

/** The deployed systems' schedules, each aimed at its runbook's scheduled function. */
function plannedSchedules(fleet: Fleet, deployed: System[], functions: PlannedFunction[]): PlannedSchedule[] {
  return fleet.schedules
    .filter((s) => deployed.some((d) => d.id === s.system))
    .map((schedule) => {
      const fn = functions.find((f) => f.kind === "scheduled" && f.runbook === schedule.runbook);
      if (!fn) throw new Error(`schedule ${schedule.id} names runbook "${schedule.runbook}", which has no function`);
      return {
        id: `Schedule${pascal(schedule.id)}`,
        scheduleId: schedule.id,
        expression: schedule.expression,
        timezone: schedule.timezone,
        function: fn.id,
        event: {
          runbook: schedule.runbook,
          system: schedule.system,
          input: JSON.stringify(schedule.input),
          scheduleId: schedule.id,
        },
      };
    });
}

/**
 * The whole deployment of a fleet and a registry. Systems get their account filled in first (catalogue,
 * else the role's, else the deploying account) so that no ARN says `*` for the account; then every
 * function's policy is checked ({@link checkFunctionPolicy}) and a policy that breaks a rule throws here,
 * before anything is deployed.
 */
export function deploymentPlan(
  fleet: Fleet,
  registry: readonly AnyRunbook[],
  options: DeploymentOptions,
): DeploymentPlan {
  // Refused here, not at every function's start: OPS_STAGE carries it to the runtime, which checks it too.
  if (!STAGE_PATTERN.test(options.stage)) {
    throw new ValidationError(`stage "${options.stage}" is not allowed: ${STAGE_RULE}`);
  }
  const auditBucket = options.auditBucket ?? auditBucketName(options.stage, options.accountId, options.region);
  const deployed = fleet.systems.filter((s) => s.deploy).map((s) => withAccount(s, options.accountId));
  const accounted: Fleet = { ...fleet, systems: deployed };
  const notify = notifyResources({
    accountId: options.accountId,
    region: options.region,
    stage: options.stage,
    ...(options.slackSecretArn ? { slackSecretArn: options.slackSecretArn } : {}),
    ...(options.pagerDutySecretArn ? { pagerDutySecretArn: options.pagerDutySecretArn } : {}),
    ...(options.slackChannel ? { slackChannel: options.slackChannel } : {}),
  });
  const { functions, eventRules, undeployed } = plannedRunbooks(registry, accounted, options, { auditBucket, notify });
  for (const fn of functions) checkFunctionPolicy(fn, { bucket: auditBucket, region: options.region });
  const backupTasks = plannedBackupTasks(
    registry.find((r) => r.name === "backup"),
    functions.find((f) => f.runbook === "backup")?.systems.flatMap((id) => deployed.filter((s) => s.id === id)) ?? [],
    options,
    auditBucket,
    registry.find((r) => r.name === "restore-drill"),
  );
  for (const task of backupTasks) {
    checkFunctionPolicy(
      {
        id: task.id,
        runbook: "backup",
        systems: task.systems,
        permissions: task.taskRole.permissions,
        assumedRoles: [],
      },
      { bucket: auditBucket, region: options.region },
    );
  }
  const schedules = plannedSchedules(fleet, deployed, functions);
  const { alarms, topics } = plannedAlarms(deployed, options.stage);
  const alarmDelivery = plannedAlarmDelivery({ systems: deployed, registry, notify, ...options });
  const slackTable = slackAccessTable(
    deployed,
    registry,
    functions.flatMap((f) =>
      f.kind === "worker" && f.name ? [{ runbook: f.runbook, name: f.name, systems: f.systems }] : [],
    ),
  );
  const slack = plannedSlackCommand({
    table: slackTable,
    accountId: options.accountId,
    region: options.region,
    stage: options.stage,
    auditBucket,
    ...(options.dryRun ? { dryRun: true } : {}),
  });
  const buckets = plannedBuckets(deployed, options.stage, auditBucket);
  if (slack) buckets.push(slackBucket(slack.replayBucket));
  if (slack) {
    postsApprovalRequests(functions, slackTable, {
      bucket: slack.replayBucket,
      region: options.region,
      secretId: slack.botSecretId,
      secretArn: secretArnIn({ region: options.region, accountId: options.accountId }, slack.botSecretId),
    });
  }
  return {
    ...(alarmDelivery ? { alarmDelivery } : {}),
    accountId: options.accountId,
    region: options.region,
    stage: options.stage,
    auditBucket,
    functions,
    schedules,
    eventRules,
    topics,
    alarms,
    buckets,
    backupTasks,
    undeployed,
    ...(slack ? { slack } : {}),
  };
}

/**
 * Actions that support no resource-level permission (no resource type in the Service Authorization
 * Reference): `*` is the only resource IAM accepts for them.
 */
export const NO_RESOURCE_LEVEL = new Set([
  "application-autoscaling:DescribeScalableTargets",
  // Held to one namespace by a cloudwatch:namespace condition instead (checked below).
  "cloudwatch:PutMetricData",
  "ecs:ListClusters",
  "ecs:ListServices",
  "ecs:ListTasks",
  "ecs:ListTaskDefinitions",
  "ecs:DescribeTaskDefinition",
  "lambda:ListFunctions",
]);

/**
 * The rules every deployed policy keeps, checked when the plan is made: no `*` in an action, no `*`
 * account in an ARN, no `*` resource except for actions that support none, ListBucket only with an
 * `s3:prefix` condition, PutMetricData only with a `cloudwatch:namespace` one, KMS only through a
 * service, and nothing on the audit bucket but creating the function's own systems' records.
 */
export function checkFunctionPolicy(
  fn: Pick<PlannedFunction, "id" | "runbook" | "systems" | "permissions" | "assumedRoles">,
  audit: { bucket: string; region: string },
): void {
  const statements = [
    ...fn.permissions.map((p) => ({ where: p.sid, p })),
    ...fn.assumedRoles.flatMap((r) => r.permissions.map((p, i) => ({ where: `${r.roleArn}#${i + 1}`, p }))),
  ];
  const auditObjects = fn.systems.map((id) => auditObjectArn(id, audit));
  const problems = statements.flatMap(({ where, p }) => [
    ...actionProblems(p).map((problem) => `${where}: ${problem}`),
    ...resourceProblems(p, { bucket: audit.bucket, objects: auditObjects }).map((problem) => `${where}: ${problem}`),
  ]);
  if (problems.length > 0) {
    throw new Error(
      `IAM policy of function ${fn.id} (${fn.runbook}) breaks the deployment's rules:\n  - ${problems.join("\n  - ")}`,
    );
  }
}

/** The conditions an action may not go without: the only bound on what it reaches. */
const REQUIRED_CONDITION: { matches: (action: string) => boolean; variable: string; article: string }[] = [
  { matches: (a) => a.startsWith("kms:"), variable: "kms:ViaService", article: "a" },
  { matches: (a) => a === "s3:ListBucket", variable: "s3:prefix", article: "an" },
  { matches: (a) => a === "cloudwatch:PutMetricData", variable: "cloudwatch:namespace", article: "a" },
];

function actionProblems(p: Permission): string[] {
  const has = (variable: string) => p.conditions?.some((c) => c.variable === variable) ?? false;
  return p.actions.flatMap((action) => [
    ...(action.includes("*") ? [`action "${action}" has a wildcard`] : []),
    ...REQUIRED_CONDITION.filter((rule) => rule.matches(action) && !has(rule.variable)).map(
      (rule) => `${action} without ${rule.article} ${rule.variable} condition`,
    ),
  ]);
}

function resourceProblems(p: Permission, audit: { bucket: string; objects: string[] }): string[] {
  return p.resources.flatMap((resource) => {
    if (resource === "*") {
      return p.actions.every((a) => NO_RESOURCE_LEVEL.has(a)) ? [] : [`resource "*" for ${p.actions}`];
    }
    const problems = resource.split(":")[4] === "*" ? [`"${resource}" has a "*" account`] : [];
    const onAudit = resource.includes(`:::${audit.bucket}`);
    if (onAudit && (!audit.objects.includes(resource) || p.actions.some((a) => a !== "s3:PutObject"))) {
      problems.push(`${p.actions} on "${resource}" (only s3:PutObject on its systems' audit prefix)`);
    }
    return problems;
  });
}

/** A function's own policy as an IAM policy document. */
export function functionPolicyDocument(fn: PlannedFunction) {
  return toPolicyDocument(fn.permissions);
}

/**
 * The trust policy a target account's role needs: the deploying account's ops-autopilot function roles
 * of this stage may assume it, with the catalogue's external id when one is set. SST names each function
 * role `<app>-<stage>-<Function>Role-<suffix>`, hence the pattern on `aws:PrincipalArn`.
 */
export function trustPolicy(plan: Pick<DeploymentPlan, "accountId" | "region" | "stage">, role: AssumedRole) {
  const deploying = { region: plan.region, accountId: plan.accountId };
  return {
    Version: "2012-10-17" as const,
    Statement: [
      {
        Effect: "Allow" as const,
        Principal: { AWS: arnIn(deploying, "iam", "root", { global: true }) },
        Action: "sts:AssumeRole",
        Condition: {
          ArnLike: {
            "aws:PrincipalArn": arnIn(deploying, "iam", `role/ops-autopilot-${plan.stage}-*`, { global: true }),
          },
          ...(role.externalId ? { StringEquals: { "sts:ExternalId": role.externalId } } : {}),
        },
      },
    ],
  };
}
