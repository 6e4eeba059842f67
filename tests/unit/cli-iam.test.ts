import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../../cli/main.js";
import { deploymentPlan } from "../../deploy/plan.js";
import type { PolicyDocument } from "../../lib/iam.js";
import { runbooks } from "../../runbooks/index.js";
import { builtinSchedules } from "../../schedules/index.js";
import { builtinFleet, builtinSystems } from "../../systems/index.js";
import { DEPLOY_ACCOUNT_ID, OTHER_ACCOUNT_ID } from "../helpers/aws-account.js";
import { capture, tempDirs } from "../helpers/files.js";

const tempDir = tempDirs("ops-iam-");

async function ops(argv: string[]) {
  const out = capture();
  const err = capture();
  const code = await main(argv, {
    out: out.stream,
    err: err.stream,
    env: {},
    now: () => new Date("2026-11-21T10:00:00Z"),
  });
  return { code, out: out.text(), err: err.text() };
}

interface Printed {
  accountId: string;
  functions: {
    function: string;
    runbook: string;
    systems: string[];
    policy: PolicyDocument;
    assumedRoles: { roleArn: string; permissionsPolicy: PolicyDocument; trustPolicy: Record<string, unknown> }[];
  }[];
}

describe("ops iam", () => {
  it("--json prints every deployed function's policy document, exactly the plan's", async () => {
    const { code, out } = await ops(["iam", "--json", "--account", DEPLOY_ACCOUNT_ID, "--region", "us-east-1"]);
    expect(code).toBe(0);
    const printed = JSON.parse(out) as Printed;
    const plan = deploymentPlan(builtinFleet(), runbooks, {
      accountId: DEPLOY_ACCOUNT_ID,
      region: "us-east-1",
      stage: "production",
    });
    expect(printed.functions.map((f) => f.function)).toEqual(plan.functions.map((f) => f.id));
    for (const fn of printed.functions) {
      const planned = plan.functions.find((f) => f.id === fn.function);
      expect(
        fn.policy.Statement.map((s) => s.Resource),
        fn.function,
      ).toEqual(planned?.permissions.map((p) => p.resources));
      for (const statement of fn.policy.Statement) {
        expect(statement.Effect).toBe("Allow");
        for (const action of statement.Action) expect(action, fn.function).not.toContain("*");
        for (const resource of statement.Resource) expect(resource.split(":")[4], resource).not.toBe("*");
      }
    }
    // Conditions come out in IAM's shape.
    const list = printed.functions
      .find((f) => f.function === "ScheduledBackup")
      ?.policy.Statement.find((s) => s.Action.includes("s3:ListBucket"));
    expect(list?.Condition).toEqual({ StringLike: { "s3:prefix": ["pg_dump/partpal-ims/*"] } });
  });

  it("--system and --runbook narrow the functions; unknown names list what exists", async () => {
    const { out } = await ops([
      "iam",
      "--json",
      "--account",
      DEPLOY_ACCOUNT_ID,
      "--system",
      "flash-sale",
      "--runbook",
      "backup",
    ]);
    const printed = JSON.parse(out) as Printed;
    expect(printed.functions.map((f) => f.function)).toEqual(["ScheduledBackup", "WorkerBackup"]);
    const unknown = await ops(["iam", "--account", DEPLOY_ACCOUNT_ID, "--system", "atlantis"]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown system "atlantis"; known systems: partpal-ims/);
    const badAccount = await ops(["iam", "--account", "12345"]);
    expect(badAccount.code).toBe(2);
    expect(badAccount.err).toMatch(/--account must be a 12-digit AWS account id/);
  });

  it("a system in another account: the function may assume its role; the role's policy and trust are printed", async () => {
    const dir = await tempDir();
    const file = join(dir, "fleet.json");
    const systems = builtinSystems.map((s) =>
      s.id === "ode"
        ? {
            ...s,
            account: {
              ...s.account,
              roleArn: `arn:aws:iam::${OTHER_ACCOUNT_ID}:role/ops-target`,
              externalId: "ode-7f3a",
            },
          }
        : s,
    );
    await writeFile(file, JSON.stringify({ systems, schedules: builtinSchedules }));
    const { code, out } = await ops([
      "iam",
      "--json",
      "--account",
      DEPLOY_ACCOUNT_ID,
      "--fleet",
      file,
      "--system",
      "ode",
      "--runbook",
      "backup",
    ]);
    expect(code).toBe(0);
    const fn = (JSON.parse(out) as Printed).functions[0];
    expect(fn?.policy.Statement.find((s) => s.Action.includes("sts:AssumeRole"))).toEqual({
      Sid: "OdeAssumeRole",
      Effect: "Allow",
      Action: ["sts:AssumeRole"],
      Resource: [`arn:aws:iam::${OTHER_ACCOUNT_ID}:role/ops-target`],
      Condition: { StringEquals: { "sts:ExternalId": ["ode-7f3a"] } },
    });
    const role = fn?.assumedRoles[0];
    expect(role?.permissionsPolicy.Statement.flatMap((s) => s.Action)).toContain("s3:PutObject");
    expect(role?.trustPolicy).toMatchObject({
      Statement: [
        {
          Principal: { AWS: `arn:aws:iam::${DEPLOY_ACCOUNT_ID}:root` },
          Action: "sts:AssumeRole",
          Condition: { StringEquals: { "sts:ExternalId": "ode-7f3a" } },
        },
      ],
    });
  });

  it("prints readable text by default", async () => {
    const { code, out } = await ops(["iam", "--account", DEPLOY_ACCOUNT_ID, "--runbook", "drill-continue"]);
    expect(code).toBe(0);
    expect(out).toMatch(/^deploying account 111122223333/);
    expect(out).toMatch(
      /DrillRdsEventsHandler \(drill-continue; serves flash-sale, ims-2, ode; functions\/rds-event\.handler\)/,
    );
    // Every registered runbook serves a system of the built-in fleet (the plan's own test covers one that
    // serves none and is listed as not deployed).
    expect(out).not.toMatch(/not deployed/);
  });
});
