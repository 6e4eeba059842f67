import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { alarmEventPattern, alarmFunctionPermissions, alarmFunctionTimeoutSeconds } from "../../alarms/deploy.js";
import {
  type AlarmDefinition,
  alarmName,
  findAlarmByName,
  fleetAlarms,
  fleetUnboundAlarms,
  metricAlarmArgs,
} from "../../alarms/index.js";
import { runbooks } from "../../runbooks/index.js";
import { parseRunbookInput } from "../../runbooks/runner.js";
import { builtinFleet, builtinSystems, parseFleet } from "../../systems/index.js";
import { ACCOUNT_ID } from "../helpers/aws-account.js";

type Published = Record<string, Record<string, string[][]>>;
const published = JSON.parse(
  readFileSync(join(import.meta.dirname, "../fixtures/cloudwatch-published-metrics.json"), "utf8"),
) as Published;

/** Each metric an alarm reads (one, or the inputs of its math), with its dimension names. */
function metricsRead(alarm: AlarmDefinition) {
  if (!alarm.metrics) return [{ namespace: alarm.namespace, name: alarm.metric, dimensions: alarm.dimensions }];
  return alarm.metrics.flatMap((q) => (q.metric ? [q.metric] : []));
}

function expectPublished(alarm: AlarmDefinition) {
  for (const m of metricsRead(alarm)) {
    const sets = published[m.namespace]?.[m.name];
    expect(sets, `${alarm.id}: ${m.namespace} ${m.name} is not a metric AWS publishes`).toBeDefined();
    const names = Object.keys(m.dimensions).sort();
    expect(
      sets?.map((s) => [...s].sort().join(",")),
      `${alarm.id}: ${m.namespace} ${m.name} is not published with [${names.join(", ")}]`,
    ).toContain(names.join(","));
    for (const value of Object.values(m.dimensions)) expect(value, alarm.id).not.toBe("");
  }
}

/** The built-in fleet with what the guides leave out filled in: EZ's load balancer and max_connections. */
function fleetWithLoadBalancers() {
  const systems = builtinSystems.map((s) =>
    s.id === "ez-tracking"
      ? {
          ...s,
          loadBalancers: [
            {
              id: "backend",
              loadBalancer: "app/ez-tracking/50dc6c495c0c9188",
              targetGroup: "targetgroup/ez-backend/73e2d6bc24d8a067",
            },
          ],
          databases: s.databases.map((d) => ({ ...d, maxConnections: 400 })),
        }
      : s,
  );
  return parseFleet({ systems }, { source: "test", runbooks: runbooks.map((r) => r.name) });
}

describe("deployed alarms against what AWS publishes", () => {
  it("every deployed alarm of the built-in fleet reads a metric with a dimension set AWS publishes", () => {
    const alarms = fleetAlarms(builtinFleet().systems);
    expect(alarms.length).toBeGreaterThan(10);
    for (const alarm of alarms) expectPublished(alarm);
  });

  it("with the load balancer and max_connections set, EZ's ALB and connection alarms bind too", () => {
    const alarms = fleetAlarms(fleetWithLoadBalancers().systems);
    for (const alarm of alarms) expectPublished(alarm);
    const errorRate = alarms.find((a) => a.id === "ez-tracking-error-rate-critical");
    expect(errorRate?.metrics?.at(-1)).toEqual({
      id: "e1",
      expression: "100 * FILL(m2, 0) / m1",
      label: "ErrorRate",
      returnData: true,
    });
    expect(errorRate?.metrics?.map((q) => q.metric?.name)).toEqual([
      "RequestCount",
      "HTTPCode_Target_5XX_Count",
      undefined,
    ]);
    expect(alarms.find((a) => a.id === "ez-tracking-db-connections-warning")?.metrics?.at(-1)?.expression).toBe(
      "100 * m1 / 400",
    );
    expect(fleetUnboundAlarms(fleetWithLoadBalancers().systems).filter((u) => u.system === "ez-tracking")).toEqual([]);
  });

  it("warning and critical of one guide line are two alarms on the same metric", () => {
    const alarms = fleetAlarms(builtinFleet().systems);
    const cpu = alarms.filter((a) => a.id.startsWith("ez-tracking-cpu-") && a.id.endsWith("-backend"));
    expect(cpu.map((a) => [a.severity, a.threshold])).toEqual([
      ["warning", 70],
      ["critical", 90],
    ]);
    expect(new Set(cpu.map((a) => JSON.stringify(a.dimensions))).size).toBe(1);
  });

  it("an alarm the catalogue cannot bind is not deployed, and the reason names what is missing", () => {
    const fleet = builtinFleet();
    const unbound = fleetUnboundAlarms(fleet.systems);
    const deployed = new Set(fleetAlarms(fleet.systems).map((a) => a.id));
    expect(unbound.find((u) => u.id === "ez-tracking-latency-critical")?.reason).toMatch(/loadBalancers\[\]/);
    expect(unbound.find((u) => u.id === "ez-tracking-db-connections-warning")?.reason).toMatch(/maxConnections/);
    for (const u of unbound) expect(deployed.has(u.id), u.id).toBe(false);
    // Every guide line is either deployed (under its id or per target) or reported unbound.
    for (const system of fleet.systems.filter((s) => s.deploy)) {
      for (const a of system.alarms) {
        const id = `${system.id}-${a.id}`;
        const accounted =
          deployed.has(id) || [...deployed].some((d) => d.startsWith(`${id}-`)) || unbound.some((u) => u.id === id);
        expect(accounted, id).toBe(true);
      }
    }
  });

  it("metric math deploys as metricQueries, a single metric with its statistic and dimensions", () => {
    const alarms = fleetAlarms(fleetWithLoadBalancers().systems);
    const math = metricAlarmArgs(alarms.find((a) => a.id === "ez-tracking-error-rate-warning") as AlarmDefinition);
    expect(math).not.toHaveProperty("metricName");
    expect("metricQueries" in math && math.metricQueries[0]).toMatchObject({
      metric: { namespace: "AWS/ApplicationELB", metricName: "RequestCount", stat: "Sum", period: 300 },
    });
    const single = metricAlarmArgs(alarms.find((a) => a.id === "flash-sale-db-read-latency") as AlarmDefinition);
    expect(single).toMatchObject({
      metricName: "ReadLatency",
      extendedStatistic: "p99",
      dimensions: { DBInstanceIdentifier: "flash-sale-db" },
    });
  });
});

describe("remediation wiring", () => {
  it("every remediation names a registered runbook whose input accepts what the alarm passes", () => {
    const alarms = fleetAlarms(builtinFleet().systems).filter((a) => a.remediation);
    expect(alarms.map((a) => a.id)).toContain("partpal-ims-cpu-high-partpal-api");
    for (const a of alarms) {
      const runbook = runbooks.find((r) => r.name === a.remediation?.runbook);
      expect(runbook, a.id).toBeDefined();
      if (runbook) expect(() => parseRunbookInput(runbook, a.remediation?.input)).not.toThrow();
    }
  });

  it("PartPal's and EZ's critical thresholds either run a runbook or say why none fits", () => {
    for (const id of ["partpal-ims", "ez-tracking"]) {
      const system = builtinFleet().systems.find((s) => s.id === id);
      const critical = system?.alarms.filter((a) => a.severity !== "warning") ?? [];
      expect(critical.length, id).toBeGreaterThan(0);
      for (const a of critical) expect(a.remediation, `${id}/${a.id}`).toBeDefined();
    }
  });

  it("a remediation naming an unknown runbook is a catalogue error", () => {
    const systems = builtinSystems.map((s) =>
      s.id === "partpal-ims"
        ? {
            ...s,
            alarms: (s.alarms ?? []).map((a) => ({ ...a, remediation: { runbook: "reboot-everything", input: {} } })),
          }
        : s,
    );
    const names = runbooks.map((r) => r.name);
    expect(() => parseFleet({ systems }, { source: "bad.json", runbooks: names, remediations: names })).toThrow(
      /invalid fleet catalogue/,
    );
  });

  it("a deployed alarm name leads back to its definition", () => {
    const alarms = fleetAlarms(builtinFleet().systems);
    const name = alarmName("production", "ez-tracking-cpu-critical-backend");
    expect(findAlarmByName(alarms, name)?.id).toBe("ez-tracking-cpu-critical-backend");
    expect(findAlarmByName(alarms, "SomeoneElsesAlarm")).toBeUndefined();
  });
});

describe("alarm function deployment data (alarms/deploy.ts)", () => {
  const resources = {
    stateBucketArn: "arn:aws:s3:::ops-autopilot-state",
    smsTopicArn: `arn:aws:sns:us-east-1:${ACCOUNT_ID}:ops-oncall-sms`,
    slackSecretArn: `arn:aws:secretsmanager:us-east-1:${ACCOUNT_ID}:secret:ops/slack-AbCdEf`,
  };

  it("the rule matches this stage's alarm state changes only", () => {
    expect(alarmEventPattern("production")).toEqual({
      source: ["aws.cloudwatch"],
      "detail-type": ["CloudWatch Alarm State Change"],
      detail: { alarmName: [{ prefix: "ops-autopilot-production-" }] },
    });
  });

  it("permissions: its state objects, its topics and secrets, and each remediation runbook's own, no wider", () => {
    const fleet = builtinFleet();
    const permissions = alarmFunctionPermissions({ systems: fleet.systems, registry: runbooks, resources });
    const actions = permissions.flatMap((p) => p.actions);
    expect(permissions[0]).toEqual({
      actions: ["s3:GetObject", "s3:PutObject"],
      resources: ["arn:aws:s3:::ops-autopilot-state/alarm-state/*"],
    });
    expect(permissions).toContainEqual({ actions: ["sns:Publish"], resources: [resources.smsTopicArn] });
    expect(permissions).toContainEqual({
      actions: ["secretsmanager:GetSecretValue"],
      resources: [resources.slackSecretArn],
    });
    const scaleUp = runbooks.find((r) => r.name === "scale-up");
    const partpal = fleet.systems.find((s) => s.id === "partpal-ims");
    for (const p of scaleUp && partpal ? scaleUp.permissions(partpal) : []) expect(permissions).toContainEqual(p);
    expect(actions.every((a) => !a.includes("*"))).toBe(true);
    expect(alarmFunctionTimeoutSeconds(fleet.systems, runbooks)).toBeLessThanOrEqual(900);
  });
});
