import { describe, expect, it } from "vitest";
import { deploymentPlan } from "../../deploy/plan.js";
import { runbooks } from "../../runbooks/index.js";
import { builtinSchedules } from "../../schedules/index.js";
import { builtinFleet, builtinSystems, type Fleet, parseFleet } from "../../systems/index.js";
import type { SystemInput } from "../../systems/schema.js";
import { DEPLOY_ACCOUNT_ID, DEPLOYMENT } from "../helpers/aws-account.js";

const options = DEPLOYMENT;
const names = runbooks.map((r) => r.name);

/** The built-in catalogue with a `slack` section on Flash Sale. */
function fleetWith(slack: unknown, systemId = "flash-sale"): Fleet {
  const systems = builtinSystems.map((s: SystemInput) => (s.id === systemId ? { ...s, slack } : s));
  return parseFleet({ systems, schedules: builtinSchedules }, { source: "test", runbooks: names, remediations: names });
}

const allowed = {
  runbooks: [
    { runbook: "backup", users: ["U0ALICE01"], channels: ["C0OPS0001"] },
    { runbook: "prune-backups", userGroups: ["S0ONCALL1"], channels: ["C0OPS0001"] },
  ],
};

describe("the /ops slash command in the deployment plan", () => {
  it("deploys no command function when no system allows anything from Slack (the default: nobody)", () => {
    const plan = deploymentPlan(builtinFleet(), runbooks, options);
    expect(plan.slack).toBeUndefined();
    expect(plan.buckets.some((b) => b.kind === "slack")).toBe(false);
  });

  it("gives workers fixed names and the command exactly lambda:InvokeFunction on the workers its table names", () => {
    const plan = deploymentPlan(fleetWith(allowed), runbooks, options);
    const slack = plan.slack;
    expect(slack?.url).toEqual({ authorization: "none" });
    const workers = plan.functions.filter((f) => f.kind === "worker");
    expect(workers.find((w) => w.runbook === "backup")?.name).toBe("ops-autopilot-production-worker-backup");
    const invoke = slack?.permissions.find((p) => p.actions.includes("lambda:InvokeFunction"));
    expect(invoke?.actions).toEqual(["lambda:InvokeFunction"]);
    expect(invoke?.resources).toEqual([
      "arn:aws:lambda:us-east-1:111122223333:function:ops-autopilot-production-worker-backup",
      "arn:aws:lambda:us-east-1:111122223333:function:ops-autopilot-production-worker-prune-backups",
      "arn:aws:lambda:us-east-1:111122223333:function:ops-autopilot-production-worker-status",
    ]);
    // Nothing else of Lambda, nothing with a wildcard account or action.
    for (const p of slack?.permissions ?? []) {
      for (const a of p.actions) expect(a).not.toContain("*");
      for (const r of p.resources) expect(r.split(":")[4]).not.toBe("*");
    }
    expect(slack?.permissions.map((p) => [p.actions, p.resources])).toEqual([
      [["lambda:InvokeFunction"], invoke?.resources],
      [
        ["secretsmanager:GetSecretValue"],
        [`arn:aws:secretsmanager:us-east-1:${DEPLOY_ACCOUNT_ID}:secret:ops-autopilot/production/slack-??????`],
      ],
      [["s3:PutObject"], [`arn:aws:s3:::${slack?.replayBucket}/slack/seen/*`]],
      [["s3:GetObject", "s3:PutObject"], [`arn:aws:s3:::${slack?.replayBucket}/slack/approvals/*`]],
      [
        ["s3:PutObject"],
        [`arn:aws:s3:::${plan.auditBucket}/audit/flash-sale/*`, `arn:aws:s3:::${plan.auditBucket}/audit/_slack/*`],
      ],
    ]);
    // Decisions are audited create-only, in the audit bucket the runs write to.
    expect(slack?.environment.OPS_AUDIT_BUCKET).toBe(plan.auditBucket);
    expect(slack?.permissions.find((p) => p.sid === "RecordDecisions")?.conditions).toEqual([
      { test: "Null", variable: "s3:if-none-match", values: ["false"] },
    ]);
    const table = JSON.parse(slack?.environment.OPS_SLACK_ACCESS ?? "{}");
    expect(table.systems["flash-sale"].runbooks["prune-backups"]).toMatchObject({
      userGroups: ["S0ONCALL1"],
      users: [],
      destructive: true,
    });
    expect(Object.keys(table.systems)).toEqual(["flash-sale"]);
    // `/ops status` goes to the status runbook's worker, whose IAM is read-only.
    expect(table.workers.status).toBe("ops-autopilot-production-worker-status");
    const statusWorker = plan.functions.find((f) => f.kind === "worker" && f.runbook === "status");
    const writes = (statusWorker?.permissions ?? [])
      .flatMap((p) => p.actions)
      .filter((a) => !/:(Describe|List|Get)/.test(a) && !a.startsWith("kms:Decrypt"));
    // Besides its reads, only what every worker has: its audit records and its notifications.
    expect([...new Set(writes)].sort()).toEqual(["s3:PutObject", "sns:Publish"]);
    expect(plan.buckets.find((b) => b.kind === "slack")?.name).toBe(slack?.replayBucket);
  });

  it("plans the approvals' expiry sweep: every 15 minutes, its listing held to slack/approvals/, create-only audit", () => {
    const plan = deploymentPlan(fleetWith(allowed), runbooks, options);
    const expiry = plan.slack?.expiry;
    const bucket = plan.slack?.replayBucket;
    expect(expiry?.handler).toBe("functions/approval-expiry.handler");
    expect(expiry?.schedule).toEqual({
      id: "ApprovalExpirySchedule",
      expression: "rate(15 minutes)",
      event: { scheduleId: "approval-expiry" },
    });
    expect(expiry?.permissions.map((p) => [p.sid, p.actions, p.resources, p.conditions])).toEqual([
      [
        "ListApprovals",
        ["s3:ListBucket"],
        [`arn:aws:s3:::${bucket}`],
        [{ test: "StringLike", variable: "s3:prefix", values: ["slack/approvals/*"] }],
      ],
      ["ExpireApprovals", ["s3:GetObject", "s3:PutObject"], [`arn:aws:s3:::${bucket}/slack/approvals/*`], undefined],
      [
        "ReadSlackSecret",
        ["secretsmanager:GetSecretValue"],
        // The bot token alone: never the secret with the signing secret.
        [`arn:aws:secretsmanager:us-east-1:${DEPLOY_ACCOUNT_ID}:secret:ops-autopilot/production/slack-bot-??????`],
        undefined,
      ],
      [
        "RecordExpiries",
        ["s3:PutObject"],
        [`arn:aws:s3:::${plan.auditBucket}/audit/flash-sale/*`, `arn:aws:s3:::${plan.auditBucket}/audit/_slack/*`],
        [{ test: "Null", variable: "s3:if-none-match", values: ["false"] }],
      ],
    ]);
    // Nothing that deletes: the records stay as the trail.
    expect(expiry?.permissions.flatMap((p) => p.actions).some((a) => a.includes("Delete"))).toBe(false);
    expect(expiry?.environment).toMatchObject({
      OPS_SLACK_REPLAY_BUCKET: bucket,
      OPS_AUDIT_BUCKET: plan.auditBucket,
      OPS_SLACK_SYSTEMS: "flash-sale",
      OPS_DRY_RUN: "false",
    });
  });

  it("lets only the workers of destructive runbooks Slack may apply record where their approval request is", () => {
    const plan = deploymentPlan(fleetWith(allowed), runbooks, options);
    const bucket = plan.slack?.replayBucket;
    const recording = plan.functions.filter((f) => f.permissions.some((p) => p.sid === "RecordApprovalMessages"));
    // prune-backups is destructive; backup is not; the scheduled function never posts a request.
    expect(recording.map((f) => [f.kind, f.runbook])).toEqual([["worker", "prune-backups"]]);
    expect(recording[0]?.environment.OPS_SLACK_APPROVALS_BUCKET).toBe(bucket);
    expect(recording[0]?.permissions.find((p) => p.sid === "RecordApprovalMessages")?.resources).toEqual([
      `arn:aws:s3:::${bucket}/slack/approvals/*`,
    ]);
    const scheduled = plan.functions.find((f) => f.kind === "scheduled" && f.runbook === "prune-backups");
    expect(scheduled?.environment.OPS_SLACK_APPROVALS_BUCKET).toBeUndefined();
  });

  it("the Slack state bucket forgets seen signatures after a day and approval records after 30 days", () => {
    const plan = deploymentPlan(fleetWith(allowed), runbooks, options);
    const bucket = plan.buckets.find((b) => b.name === plan.slack?.replayBucket);
    expect(
      bucket?.lifecycleRules?.filter((r) => r.expiration).map((r) => [r.filter?.prefix, r.expiration?.days]),
    ).toEqual([
      ["slack/seen/", 1],
      ["slack/approvals/", 30],
    ]);
  });

  it("only the command function may read the secret with the signing secret: workers and the sweep get the bot token's", () => {
    const plan = deploymentPlan(fleetWith(allowed), runbooks, options);
    const signing = `arn:aws:secretsmanager:us-east-1:${DEPLOY_ACCOUNT_ID}:secret:ops-autopilot/production/slack-??????`;
    const bot = `arn:aws:secretsmanager:us-east-1:${DEPLOY_ACCOUNT_ID}:secret:ops-autopilot/production/slack-bot-??????`;
    const readers = (arn: string) =>
      [
        ...plan.functions.map((f) => ({ id: f.id, permissions: f.permissions })),
        ...(plan.slack ? [{ id: plan.slack.id, permissions: plan.slack.permissions }] : []),
        ...(plan.slack ? [{ id: plan.slack.expiry.id, permissions: plan.slack.expiry.permissions }] : []),
      ]
        .filter((f) => f.permissions.some((p) => p.resources.includes(arn)))
        .map((f) => f.id);
    expect(readers(signing)).toEqual([plan.slack?.id]);
    expect(readers(bot).sort()).toEqual(
      [
        plan.slack?.expiry.id,
        ...plan.functions.filter((f) => f.environment.OPS_SLACK_APPROVALS_SECRET_ID).map((f) => f.id),
      ].sort(),
    );
    expect(readers(bot).length).toBeGreaterThan(1);
    for (const fn of plan.functions.filter((f) => f.environment.OPS_SLACK_APPROVALS_SECRET_ID)) {
      expect(fn.environment.OPS_SLACK_APPROVALS_SECRET_ID).toBe("ops-autopilot/production/slack-bot");
    }
    expect(plan.slack?.expiry.environment.OPS_SLACK_SECRET_ID).toBe("ops-autopilot/production/slack-bot");
  });

  it("refuses a catalogue entry for a runbook that does not serve the system", () => {
    // keep-awake serves only systems with off-hours scaling; Flash Sale has none.
    expect(() =>
      deploymentPlan(
        fleetWith({ runbooks: [{ runbook: "keep-awake", users: ["U0ALICE01"], channels: ["C0OPS0001"] }] }),
        runbooks,
        options,
      ),
    ).toThrow(/system "flash-sale".slack.runbooks\[0\].runbook: runbook "keep-awake" does not serve flash-sale/);
  });

  it.each([
    [
      "an unknown runbook",
      { runbooks: [{ runbook: "reboot-everything", users: ["U0ALICE01"], channels: ["C0OPS0001"] }] },
      /slack.runbooks\[0\].runbook.*unknown runbook "reboot-everything"; known runbooks: .*backup/s,
    ],
    [
      "an entry allowing nobody",
      { runbooks: [{ runbook: "backup", channels: ["C0OPS0001"] }] },
      /name at least one Slack user id \(users\) or user group id \(userGroups\)/,
    ],
    [
      "no channel",
      { runbooks: [{ runbook: "backup", users: ["U0ALICE01"], channels: [] }] },
      /name at least one channel id/,
    ],
    [
      "a channel name instead of an id",
      { runbooks: [{ runbook: "backup", users: ["U0ALICE01"], channels: ["#ops"] }] },
      /must be a Slack channel id such as C024BE91L \(not #name\)/,
    ],
    [
      "a display name instead of a user id",
      { runbooks: [{ runbook: "backup", users: ["@alice"], channels: ["C0OPS0001"] }] },
      /must be a Slack user id such as U024BE7LH/,
    ],
    [
      "two entries for one runbook",
      {
        runbooks: [
          { runbook: "backup", users: ["U0ALICE01"], channels: ["C0OPS0001"] },
          { runbook: "backup", users: ["U0BOB0002"], channels: ["C0OPS0001"] },
        ],
      },
      /runbook "backup" has two entries; merge/,
    ],
  ])("the catalogue refuses %s, naming the system and field", (_name, slack, message) => {
    let error: unknown;
    try {
      fleetWith(slack);
    } catch (e) {
      error = e;
    }
    expect(error).toBeDefined();
    const issues = (error as { issues?: { path: string; message: string }[] }).issues ?? [];
    const text = issues.map((x) => `${x.path}: ${x.message}`).join("\n");
    expect(text).toMatch(/system "flash-sale"/);
    expect(text).toMatch(message);
  });
});
