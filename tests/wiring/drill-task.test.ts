import { describe, expect, it } from "vitest";
import { deploymentPlan } from "../../deploy/plan.js";
import { runbooks } from "../../runbooks/index.js";
import { builtinFleet, type Fleet } from "../../systems/index.js";
import { systemSchema } from "../../systems/schema.js";

const options = { accountId: "111122223333", region: "us-east-1", stage: "production" };
const network = { subnetIds: ["subnet-0abc1234"], securityGroupIds: ["sg-0def5678"] };

/** The built-in fleet with EZ Tracking (a pg_dump drill, us-east-1) able to hand off to the task. */
function fleetWithTask(): Fleet {
  const fleet = builtinFleet();
  return {
    ...fleet,
    systems: fleet.systems.map((s) =>
      s.id === "ez-tracking" && s.backup ? systemSchema.parse({ ...s, backup: { ...s.backup, fargate: network } }) : s,
    ),
  };
}

describe("the restore drill's hand-off in the deployment", () => {
  const plan = deploymentPlan(fleetWithTask(), runbooks, options);
  const drills = plan.functions.filter((f) => f.runbook === "restore-drill");
  const [task] = plan.backupTasks;

  it("the drill functions are told the task and may start exactly it, passing exactly its roles", () => {
    expect(drills.length).toBeGreaterThan(0);
    for (const fn of drills) {
      expect(fn.environment).toMatchObject({ OPS_BACKUP_TASK_CLUSTER: "ops-autopilot-backup" });
      const runTask = fn.permissions.find((p) => p.actions.includes("ecs:RunTask"));
      expect(runTask?.resources).toEqual(["arn:aws:ecs:us-east-1:111122223333:task-definition/ops-autopilot-backup:*"]);
      expect(fn.permissions.find((p) => p.actions.includes("iam:PassRole"))?.resources).toHaveLength(2);
    }
  });

  it("the task role gets the drill's statements (its records), never the starting of tasks", () => {
    const resources = task?.taskRole.permissions.flatMap((p) => p.resources) ?? [];
    expect(resources).toContainEqual(expect.stringMatching(/\/drills\/ez-tracking\/\*$/));
    const actions = task?.taskRole.permissions.flatMap((p) => p.actions) ?? [];
    expect(actions).not.toContain("ecs:RunTask");
    expect(actions).not.toContain("iam:PassRole");
  });
});
