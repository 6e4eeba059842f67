import { arnIn, auditObjectArn, s3ArnIn, secretArnIn } from "../lib/iam.js";
import type { SlackAccessTable } from "../lib/slack/access.js";
import { SLACK_AUDIT_FALLBACK } from "../lib/slack/audit.js";
import type { AnyRunbook, Permission } from "../runbooks/types.js";
import type { System } from "../systems/schema.js";

/**
 * The `/ops` slash command's part of the deployment: one function behind a Function URL (auth NONE:
 * Slack cannot sign IAM requests; every request is verified by its Slack signature instead), its access
 * table distilled from the catalogue, and a policy that lets it invoke exactly the workers the table
 * names, read its one secret, create seen-signature objects and keep approvals in its own bucket.
 */

/** The slash command function. */
export interface PlannedSlackCommand {
  id: "SlackCommand";
  handler: "functions/slack.handler";
  memoryMB: number;
  timeoutSeconds: number;
  environment: Record<string, string>;
  permissions: (Permission & { sid: string })[];
  /** Function URL: no IAM auth (Slack cannot sign with SigV4); the handler verifies Slack's signature. */
  url: { authorization: "none" };
  /** Secrets Manager secret `{"signingSecret":"…","token":"xoxb-…"}`: created by the operator, named here. */
  secretId: string;
  /** The secret with the bot token only (`{"token":"xoxb-…"}`): what workers and the expiry sweep read. */
  botSecretId: string;
  /** Bucket of the seen-signature objects (replay protection). */
  replayBucket: string;
  /** The approvals' expiry sweep and its schedule (functions/approval-expiry.md). */
  expiry: PlannedApprovalExpiry;
}

/** The expiry sweep of approvals nobody clicked: its function, policy and schedule, as data. */
export interface PlannedApprovalExpiry {
  id: "ApprovalExpiry";
  handler: "functions/approval-expiry.handler";
  memoryMB: number;
  timeoutSeconds: number;
  environment: Record<string, string>;
  permissions: (Permission & { sid: string })[];
  /** EventBridge Scheduler: a rate, no time zone (it does not follow anyone's working day). */
  schedule: { id: "ApprovalExpirySchedule"; expression: string; event: { scheduleId: string } };
}

/** How often the sweep runs: an expired request shows its button at most this long past `expiresAt`. */
export const APPROVAL_EXPIRY_RATE = "rate(15 minutes)";

/**
 * The sweep's part: list `slack/approvals/` only (an `s3:prefix` condition), read and conditionally
 * rewrite the records there, read the bot token, create (never replace) its audit records. Nothing to
 * delete, nothing to invoke.
 */
export function plannedApprovalExpiry(options: {
  table: SlackAccessTable;
  region: string;
  scope: { region: string; accountId: string };
  bucket: string;
  secretId: string;
  auditBucket: string;
  dryRun?: boolean;
}): PlannedApprovalExpiry {
  const { region, bucket, auditBucket } = options;
  const systems = Object.keys(options.table.systems);
  return {
    id: "ApprovalExpiry",
    handler: "functions/approval-expiry.handler",
    memoryMB: 256,
    timeoutSeconds: 120,
    environment: {
      POWERTOOLS_SERVICE_NAME: "ops-autopilot",
      OPS_SLACK_REPLAY_BUCKET: bucket,
      OPS_AUDIT_BUCKET: auditBucket,
      OPS_SLACK_SECRET_ID: options.secretId,
      OPS_SLACK_SYSTEMS: systems.join(","),
      OPS_DRY_RUN: options.dryRun ? "true" : "false",
    },
    permissions: [
      {
        sid: "ListApprovals",
        actions: ["s3:ListBucket"],
        resources: [s3ArnIn(region, bucket)],
        conditions: [{ test: "StringLike", variable: "s3:prefix", values: ["slack/approvals/*"] }],
      },
      {
        sid: "ExpireApprovals",
        actions: ["s3:GetObject", "s3:PutObject"],
        resources: [s3ArnIn(region, `${bucket}/slack/approvals/*`)],
      },
      {
        sid: "ReadSlackSecret",
        actions: ["secretsmanager:GetSecretValue"],
        resources: [secretArnIn(options.scope, options.secretId)],
      },
      {
        sid: "RecordExpiries",
        actions: ["s3:PutObject"],
        resources: [...systems, SLACK_AUDIT_FALLBACK].map((id) => auditObjectArn(id, { bucket: auditBucket, region })),
        conditions: [{ test: "Null", variable: "s3:if-none-match", values: ["false"] }],
      },
    ],
    schedule: {
      id: "ApprovalExpirySchedule",
      expression: APPROVAL_EXPIRY_RATE,
      event: { scheduleId: "approval-expiry" },
    },
  };
}

/** Lambda's limit on all environment variables of a function together (4 KB); the table must fit well inside. */
const ENV_BUDGET_BYTES = 3500;

/** `ops-autopilot-<stage>-worker-<runbook>`: fixed so that the command's policy can name the exact ARNs. */
export function workerFunctionName(stage: string, runbook: string): string {
  const name = `ops-autopilot-${stage}-worker-${runbook}`;
  if (name.length > 64 || !/^[a-zA-Z0-9-_]+$/.test(name)) {
    throw new Error(`worker function name "${name}" is not a valid Lambda name (≤ 64 letters, digits, - and _)`);
  }
  return name;
}

/** `ops-autopilot-<stage>-slack-<account>-<region>`. */
export function slackBucketName(stage: string, accountId: string, region: string): string {
  const name = `ops-autopilot-${stage}-slack-${accountId}-${region}`.toLowerCase();
  if (name.length > 63)
    throw new Error(`Slack bucket name "${name}" is longer than 63 characters: use a shorter stage`);
  return name;
}

/**
 * The access table from the catalogue's `slack` sections. Each entry must name a registered runbook
 * whose worker serves that system (else the worker would reject the event after Slack was told
 * "accepted"): a catalogue that breaks this throws here, before anything is deployed.
 */
export function slackAccessTable(
  systems: readonly System[],
  registry: readonly AnyRunbook[],
  workers: { runbook: string; name: string; systems: string[] }[],
): SlackAccessTable {
  const table: SlackAccessTable = { systems: {}, workers: {} };
  for (const system of systems) {
    if (!system.slack) continue;
    const runbooks: SlackAccessTable["systems"][string]["runbooks"] = {};
    for (const [i, entry] of system.slack.runbooks.entries()) {
      const where = `system "${system.id}".slack.runbooks[${i}].runbook`;
      const runbook = registry.find((r) => r.name === entry.runbook);
      if (!runbook) {
        throw new Error(
          `${where}: unknown runbook "${entry.runbook}"; known: ${registry.map((r) => r.name).join(", ")}`,
        );
      }
      const worker = workers.find((w) => w.runbook === entry.runbook);
      if (!worker?.systems.includes(system.id)) {
        throw new Error(
          `${where}: runbook "${entry.runbook}" does not serve ${system.id} (no schedule, not in its serves): its worker would reject the command`,
        );
      }
      runbooks[entry.runbook] = {
        users: entry.users,
        userGroups: entry.userGroups,
        channels: entry.channels,
        destructive: runbook.destructive,
        description: runbook.description,
      };
      table.workers[entry.runbook] = worker.name;
    }
    table.systems[system.id] = { name: system.name, runbooks };
  }
  // `/ops status` reads through the status runbook's worker (read-only IAM, the AWS SDK): named when it
  // serves every system the table shows.
  const status = workers.find((w) => w.runbook === "status");
  const shown = Object.keys(table.systems);
  if (status && shown.length > 0 && shown.every((id) => status.systems.includes(id))) {
    table.workers.status = status.name;
  }
  return table;
}

/** The command function, or undefined when no system allows anything from Slack. */
export function plannedSlackCommand(options: {
  table: SlackAccessTable;
  accountId: string;
  region: string;
  stage: string;
  /** The audit bucket: the command function records its decisions there (lib/slack/audit.ts). */
  auditBucket: string;
  /** `OPS_DRY_RUN` at deploy time: the expiry sweep only reports. */
  dryRun?: boolean;
}): PlannedSlackCommand | undefined {
  const { table, accountId, region, stage, auditBucket } = options;
  const workerNames = [...new Set(Object.values(table.workers))].sort();
  if (workerNames.length === 0) return undefined;
  const scope = { region, accountId };
  const secretId = `ops-autopilot/${stage}/slack`;
  // The bot token alone, for the workers and the sweep: the signing secret in `secretId` would let any of
  // them sign an Approve click as anyone, so only the command function reads that one.
  const botSecretId = `ops-autopilot/${stage}/slack-bot`;
  const replayBucket = slackBucketName(stage, accountId, region);
  const access = JSON.stringify(table);
  if (Buffer.byteLength(access) > ENV_BUDGET_BYTES) {
    throw new Error(
      `the Slack access table is ${Buffer.byteLength(access)} bytes; Lambda allows 4 KB of environment in all (budget ${ENV_BUDGET_BYTES}): use user groups instead of long user lists`,
    );
  }
  return {
    id: "SlackCommand",
    handler: "functions/slack.handler",
    // More memory is more CPU: the cold start (import, first TLS handshakes) is what Slack's 3 s limit bites.
    memoryMB: 512,
    timeoutSeconds: 10,
    environment: {
      POWERTOOLS_SERVICE_NAME: "ops-autopilot",
      OPS_SLACK_ACCESS: access,
      OPS_SLACK_SECRET_ID: secretId,
      OPS_SLACK_REPLAY_BUCKET: replayBucket,
      // How long an applied destructive runbook waits for a second person's approval.
      OPS_SLACK_APPROVAL_MINUTES: "30",
      OPS_AUDIT_BUCKET: auditBucket,
    },
    permissions: [
      {
        sid: "InvokeWorkers",
        actions: ["lambda:InvokeFunction"],
        resources: workerNames.map((n) => arnIn(scope, "lambda", `function:${n}`)),
      },
      {
        sid: "ReadSlackSecret",
        actions: ["secretsmanager:GetSecretValue"],
        resources: [secretArnIn(scope, secretId)],
      },
      {
        sid: "RecordSeenSignatures",
        actions: ["s3:PutObject"],
        resources: [s3ArnIn(region, `${replayBucket}/slack/seen/*`)],
      },
      {
        sid: "KeepApprovals",
        actions: ["s3:GetObject", "s3:PutObject"],
        resources: [s3ArnIn(region, `${replayBucket}/slack/approvals/*`)],
      },
      {
        // Create-only (`If-None-Match: *` must be sent), under the table's systems and `_slack/`.
        sid: "RecordDecisions",
        actions: ["s3:PutObject"],
        resources: [...Object.keys(table.systems), SLACK_AUDIT_FALLBACK].map((id) =>
          auditObjectArn(id, { bucket: auditBucket, region }),
        ),
        conditions: [{ test: "Null", variable: "s3:if-none-match", values: ["false"] }],
      },
    ],
    url: { authorization: "none" },
    secretId,
    botSecretId,
    replayBucket,
    expiry: plannedApprovalExpiry({
      table,
      region,
      scope,
      bucket: replayBucket,
      secretId: botSecretId,
      auditBucket,
      ...(options.dryRun ? { dryRun: true } : {}),
    }),
  };
}
