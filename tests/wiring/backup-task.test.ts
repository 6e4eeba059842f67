import { describe, expect, it } from "vitest";
import { deploymentPlan } from "../../deploy/plan.js";
import { runbooks } from "../../runbooks/index.js";
import { builtinFleet, type Fleet } from "../../systems/index.js";
import { systemSchema } from "../../systems/schema.js";
import { DEPLOY_ACCOUNT_ID, DEPLOYMENT } from "../helpers/aws-account.js";

const options = DEPLOYMENT;
const network = { subnetIds: ["subnet-0abc1234", "subnet-0abc5678"], securityGroupIds: ["sg-0def5678"] };

/** The built-in fleet with ODE's (us-east-1) backups able to go to the task. */
function fleetWithTask(): Fleet {
  const fleet = builtinFleet();
  return {
    ...fleet,
    systems: fleet.systems.map((s) =>
      s.id === "ode" && s.backup ? systemSchema.parse({ ...s, backup: { ...s.backup, fargate: network } }) : s,
    ),
  };
}

describe("the deployment's Fargate backup task", () => {
  const plan = deploymentPlan(fleetWithTask(), runbooks, options);
  const [task, ...more] = plan.backupTasks;

  it("one task per region with systems that give a task network, image from the repository's Dockerfile", () => {
    expect(more).toHaveLength(0);
    expect(task).toMatchObject({
      id: "BackupTaskUsEast1",
      region: "us-east-1",
      systems: ["ode"],
      cluster: "ops-autopilot-backup",
      family: "ops-autopilot-backup",
      container: "ops",
      image: { context: ".", dockerfile: "Dockerfile" },
      networks: [{ system: "ode", ...network }],
      environment: expect.objectContaining({ OPS_RUNBOOK: "backup", OPS_SYSTEMS: "ode", OPS_DRY_RUN: "false" }),
    });
  });

  it("the task role has the backup runbook's statements for its systems, and cannot start tasks or pass roles", () => {
    const actions = task?.taskRole.permissions.flatMap((p) => p.actions) ?? [];
    expect(actions).toEqual(
      expect.arrayContaining(["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:ListBucket"]),
    );
    expect(actions.filter((a) => a.startsWith("ecs:") || a.startsWith("iam:"))).toEqual([]);
    const resources = task?.taskRole.permissions.flatMap((p) => p.resources) ?? [];
    expect(resources.filter((r) => r.startsWith("arn:aws:s3:::") && !r.includes(plan.auditBucket))).toEqual([
      expect.stringMatching(/^arn:aws:s3:::ode-backups/),
      expect.stringMatching(/^arn:aws:s3:::ode-backups/),
    ]);
  });

  it("the task may publish its report metrics, in ops-autopilot's namespace only, to the alarms' region", () => {
    // PartPal runs in af-south-1: its task (and its awslogs group) is there, the alarms are in us-east-1.
    const fleet = builtinFleet();
    const partpal = {
      ...fleet,
      systems: fleet.systems.map((s) =>
        s.id === "partpal-ims" && s.backup
          ? systemSchema.parse({ ...s, backup: { ...s.backup, fargate: network } })
          : s,
      ),
    };
    const [far] = deploymentPlan(partpal, runbooks, options).backupTasks;
    expect(far?.region).toBe("af-south-1");
    expect(far?.environment.OPS_METRICS_REGION).toBe("us-east-1");
    expect(far?.taskRole.permissions.filter((p) => p.actions.includes("cloudwatch:PutMetricData"))).toEqual([
      {
        sid: "ReportMetrics",
        actions: ["cloudwatch:PutMetricData"],
        resources: ["*"],
        conditions: [{ test: "StringEquals", variable: "cloudwatch:namespace", values: ["OpsAutopilot"] }],
      },
    ]);
  });

  it("the backup functions are told the task and may start exactly it, passing exactly its two roles", () => {
    for (const fn of plan.functions.filter((f) => f.runbook === "backup")) {
      expect(fn.environment).toMatchObject({
        OPS_BACKUP_TASK_CLUSTER: task?.cluster,
        OPS_BACKUP_TASK_DEFINITION: task?.family,
        OPS_BACKUP_TASK_CONTAINER: task?.container,
      });
      const runTask = fn.permissions.filter((p) => p.actions.includes("ecs:RunTask"));
      expect(runTask.flatMap((p) => p.resources)).toEqual([
        `arn:aws:ecs:us-east-1:${DEPLOY_ACCOUNT_ID}:task-definition/ops-autopilot-backup:*`,
      ]);
      const passRole = fn.permissions.filter((p) => p.actions.includes("iam:PassRole"));
      expect(passRole.flatMap((p) => p.resources)).toEqual([
        `arn:aws:iam::${DEPLOY_ACCOUNT_ID}:role/${task?.taskRole.name}`,
        `arn:aws:iam::${DEPLOY_ACCOUNT_ID}:role/${task?.executionRole.name}`,
      ]);
    }
    // No other function gets either.
    const others = plan.functions.filter((f) => f.runbook !== "backup");
    expect(
      others
        .flatMap((f) => f.permissions.flatMap((p) => p.actions))
        .filter((a) => a === "ecs:RunTask" || a === "iam:PassRole"),
    ).toEqual([]);
    expect(others.some((f) => "OPS_BACKUP_TASK_CLUSTER" in f.environment)).toBe(false);
  });

  it("without a task network in the catalogue nothing is planned and no function may start a task", () => {
    const plain = deploymentPlan(builtinFleet(), runbooks, options);
    expect(plain.backupTasks).toEqual([]);
    expect(plain.functions.some((f) => "OPS_BACKUP_TASK_CLUSTER" in f.environment)).toBe(false);
    expect(plain.functions.flatMap((f) => f.permissions.flatMap((p) => p.actions))).not.toContain("ecs:RunTask");
  });
});
