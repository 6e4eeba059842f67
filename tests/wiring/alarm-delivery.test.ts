import { describe, expect, it } from "vitest";
import { notifyResources } from "../../deploy/alarms.js";
import { deploymentPlan } from "../../deploy/plan.js";
import { runbooks } from "../../runbooks/index.js";
import { builtinFleet } from "../../systems/index.js";
import { DEPLOY_ACCOUNT_ID, DEPLOYMENT } from "../helpers/aws-account.js";

const options = DEPLOYMENT;
const SLACK = `arn:aws:secretsmanager:us-east-1:${DEPLOY_ACCOUNT_ID}:secret:ops/slack-AbCdEf`;
const PAGERDUTY = `arn:aws:secretsmanager:us-east-1:${DEPLOY_ACCOUNT_ID}:secret:ops/pagerduty-AbCdEf`;

describe("the deployment plan delivers alarms to people", () => {
  const plan = deploymentPlan(builtinFleet(), runbooks, {
    ...options,
    slackSecretArn: SLACK,
    pagerDutySecretArn: PAGERDUTY,
    slackChannel: "#ops",
  });
  const delivery = plan.alarmDelivery;
  const notify = notifyResources(options);

  it("deploys the alarm function on this stage's alarm state changes, with a reminder tick and a state bucket", () => {
    expect(delivery?.function.handler).toBe("functions/alarm.handler");
    expect(delivery?.rule.pattern).toEqual({
      source: ["aws.cloudwatch"],
      "detail-type": ["CloudWatch Alarm State Change"],
      detail: { alarmName: [{ prefix: "ops-autopilot-production-" }] },
    });
    expect(delivery?.reminder).toMatchObject({ expression: "rate(15 minutes)", event: { kind: "alarm-reminders" } });
    expect(delivery?.stateBucket.name).toBe(`ops-autopilot-production-state-${DEPLOY_ACCOUNT_ID}-us-east-1`);
    expect(delivery?.function.environment).toMatchObject({
      OPS_ALARM_STATE_BUCKET: delivery?.stateBucket.name,
      OPS_SLACK_SECRET_ID: SLACK,
      OPS_PAGERDUTY_SECRET_ID: PAGERDUTY,
      OPS_SLACK_CHANNEL: "#ops",
      OPS_SNS_SMS_TOPIC_ARN: notify.smsTopic.arn,
      OPS_SNS_EMAIL_TOPIC_ARN: notify.emailTopic.arn,
    });
    expect(delivery?.topics.map((t) => t.name)).toEqual([
      "ops-autopilot-production-oncall-sms",
      "ops-autopilot-production-email",
    ]);
  });

  it("grants the alarm function its state prefix, the topics, the secrets and its remediations' permissions only", () => {
    const statements = delivery?.function.permissions ?? [];
    for (const s of statements) for (const a of s.actions) expect(a).not.toContain("*");
    const list = statements.find((s) => s.actions.includes("s3:ListBucket"));
    expect(list?.conditions).toEqual([{ test: "StringLike", variable: "s3:prefix", values: ["alarm-state/*"] }]);
    const objects = statements.find((s) => s.actions.includes("s3:PutObject"));
    expect(objects?.resources).toEqual([`${delivery?.stateBucket.arn}/alarm-state/*`]);
    expect(statements.find((s) => s.actions.includes("sns:Publish"))?.resources).toEqual([
      notify.smsTopic.arn,
      notify.emailTopic.arn,
    ]);
    expect(statements.find((s) => s.actions.includes("secretsmanager:GetSecretValue"))?.resources).toEqual([
      SLACK,
      PAGERDUTY,
    ]);
    // PartPal's CPU alarm remediates with scale-up (EKS): DescribeCluster on PartPal's cluster. Flash Sale's
    // latency alarm (rollback) is not deployed until loadBalancers[] binds it, so nothing may update ECS.
    const describe = statements.filter((s) => s.actions.includes("eks:DescribeCluster")).flatMap((s) => s.resources);
    expect(describe).toEqual([`arn:aws:eks:af-south-1:${DEPLOY_ACCOUNT_ID}:cluster/partpal-ims`]);
    expect(statements.some((s) => s.actions.includes("ecs:UpdateService"))).toBe(false);
  });

  it("every runbook function routes its own reports: the topics and secrets in its environment and policy", () => {
    for (const fn of plan.functions) {
      expect(fn.environment.OPS_SNS_SMS_TOPIC_ARN, fn.id).toBe(notify.smsTopic.arn);
      expect(fn.environment.OPS_SLACK_SECRET_ID, fn.id).toBe(SLACK);
      const publish = fn.permissions.filter((p) => p.actions.includes("sns:Publish"));
      expect(
        publish.flatMap((p) => p.resources),
        fn.id,
      ).toEqual([notify.smsTopic.arn, notify.emailTopic.arn]);
    }
  });

  it("a fleet without alarms deploys no alarm function", () => {
    const fleet = builtinFleet();
    const quiet = { ...fleet, systems: fleet.systems.map((s) => ({ ...s, alarms: [], databases: [] })) };
    expect(deploymentPlan(quiet, runbooks, options).alarmDelivery).toBeUndefined();
  });
});
