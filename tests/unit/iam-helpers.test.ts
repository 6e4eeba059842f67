import { describe, expect, it } from "vitest";
import { arnIn, eksAccessPolicyArn, managedPolicyArn, s3ArnIn, secretArnIn } from "../../lib/iam.js";
import { runbooks } from "../../runbooks/index.js";
import { builtinFleet, findSystem, type System } from "../../systems/index.js";

/** A built-in system moved to another region (and so, for cn-/us-gov-, another partition). */
function inRegion(id: string, region: string): System {
  const system = findSystem(builtinFleet(), id);
  return { ...system, account: { ...system.account, region, accountId: "111122223333" } };
}

describe("lib/iam.ts: one way to write an ARN", () => {
  it.each([
    ["us-east-1", "aws"],
    ["cn-north-1", "aws-cn"],
    ["us-gov-west-1", "aws-us-gov"],
  ])("in %s every helper writes the %s partition", (region, partition) => {
    const scope = { region, accountId: "111122223333" };
    expect(arnIn(scope, "sns", "topic-a")).toBe(`arn:${partition}:sns:${region}:111122223333:topic-a`);
    expect(arnIn(scope, "iam", "root", { global: true })).toBe(`arn:${partition}:iam::111122223333:root`);
    expect(s3ArnIn(region, "bucket/key/*")).toBe(`arn:${partition}:s3:::bucket/key/*`);
    expect(secretArnIn(scope, "ops/slack")).toBe(
      `arn:${partition}:secretsmanager:${region}:111122223333:secret:ops/slack-??????`,
    );
    expect(managedPolicyArn(region, "service-role/X")).toBe(`arn:${partition}:iam::aws:policy/service-role/X`);
  });

  it("a secret given as an ARN is kept as it is", () => {
    const given = "arn:aws:secretsmanager:eu-west-1:444455556666:secret:x-AbCdEf";
    expect(secretArnIn({ region: "us-east-1", accountId: "111122223333" }, given)).toBe(given);
  });

  it("an EKS access policy takes the partition of the cluster it is associated on", () => {
    expect(eksAccessPolicyArn("arn:aws-cn:eks:cn-north-1:111122223333:cluster/c", "AmazonEKSViewPolicy")).toBe(
      "arn:aws-cn:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
    );
  });

  // kube-rollback used to declare the commercial-partition policy ARN everywhere: in China or GovCloud the
  // access-policy association would name a policy that does not exist there.
  it.each(["cn-north-1", "us-gov-west-1"])("every runbook's EKS access entry in %s names that partition", (region) => {
    const partition = region.startsWith("cn-") ? "aws-cn" : "aws-us-gov";
    for (const id of ["ode", "partpal-ims"]) {
      const system = inRegion(id, region);
      const entries = runbooks.flatMap((r) =>
        (r.kubernetesAccess?.(system) ?? []).map((e) => ({ runbook: r.name, e })),
      );
      expect(entries.map((x) => x.runbook)).toEqual(expect.arrayContaining(["kube-rollback", "scale-down"]));
      for (const { runbook, e } of entries) {
        expect(e.policyArn.split(":")[1], `${runbook} on ${id}: ${e.policyArn}`).toBe(partition);
        expect(e.clusterArn.split(":")[1], `${runbook} on ${id}: ${e.clusterArn}`).toBe(partition);
      }
    }
  });
});
