import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Metrics } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createEcsEventHandler } from "../../functions/ecs-event.js";
import { createProbeHandler } from "../../functions/probe.js";
import { createRuntime } from "../../functions/runtime.js";
import { ReportBuilder } from "../../runbooks/report.js";
import type { Runbook } from "../../runbooks/types.js";
import { DEPLOY_ACCOUNT_ID } from "../helpers/aws-account.js";
import { memoryLogger, recordingNotifier, testClients } from "../helpers/context.js";

// biome-ignore lint/suspicious/noExplicitAny: fixtures are real payloads read as loose JSON
type Loose = Record<string, any>;
const fixture = (name: string) =>
  JSON.parse(readFileSync(join(import.meta.dirname, "..", "fixtures", name), "utf8")) as Loose;

const lambdaContext = {
  awsRequestId: "5f1c3a0e-1b6e-4c1e-9a0b-0d6f3c2b1a00",
  getRemainingTimeInMillis: () => 900_000,
  functionName: "ops-autopilot-ecs-event",
} as unknown as Context;

/** Runbooks named like the real ones that record what they were asked. */
function recorders() {
  const calls: { runbook: string; system: string; input: unknown }[] = [];
  const make = (name: string): Runbook => ({
    name,
    description: "records its input",
    destructive: false,
    input: z.record(z.string(), z.unknown()),
    permissions: () => [],
    async run(ctx, input) {
      calls.push({ runbook: name, system: ctx.system.id, input });
      const report = new ReportBuilder(ctx, name);
      report.add({ resource: "x", action: name, status: "done" });
      return report.finish({ summary: name });
    },
  });
  return { calls, registry: [make("rollback"), make("health-probe")] };
}

function runtimeWith(registry: readonly Runbook[]) {
  const { logger } = memoryLogger();
  return createRuntime({
    registry,
    logger,
    metrics: new Metrics({ namespace: "Test", serviceName: "t", logger: { log: () => {}, warn: () => {} } as never }),
    notify: recordingNotifier(),
    now: () => new Date("2026-11-21T10:00:05Z"),
    clientsFor: () => testClients(),
  });
}

describe("ECS deployment event handler", () => {
  it("SERVICE_DEPLOYMENT_FAILED runs rollback with a deployment-failed trigger for the service", async () => {
    const { calls, registry } = recorders();
    await createEcsEventHandler(runtimeWith(registry))(fixture("ecs-deployment-failed.json"), lambdaContext);
    expect(calls).toEqual([
      {
        runbook: "rollback",
        system: "ez-tracking",
        input: {
          service: "backend",
          trigger: {
            kind: "deployment-failed",
            deploymentId: "ecs-svc/4920184731",
            reason: "ECS deployment circuit breaker: task failed to start.",
            at: "2026-11-21T09:59:58.000Z",
          },
        },
      },
    ]);
  });

  it("SERVICE_DEPLOYMENT_COMPLETED starts the bake (health-probe)", async () => {
    const { calls, registry } = recorders();
    await createEcsEventHandler(runtimeWith(registry))(fixture("ecs-deployment-completed.json"), lambdaContext);
    expect(calls).toEqual([
      {
        runbook: "health-probe",
        system: "ez-tracking",
        input: {
          deploymentCompleted: {
            service: "backend",
            deploymentId: "ecs-svc/4920184731",
            at: "2026-11-21T09:59:58.000Z",
          },
        },
      },
    ]);
  });

  it.each(["ecs-deployment-in-progress.json", "ecs-deployment-in-progress-rollback.json"])(
    "%s is ignored (runs nothing)",
    async (name) => {
      const { calls, registry } = recorders();
      const result = await createEcsEventHandler(runtimeWith(registry))(fixture(name), lambdaContext);
      expect(result).toBeUndefined();
      expect(calls).toEqual([]);
    },
  );

  it("rejects a service of no system, and a malformed event, running nothing", async () => {
    const { calls, registry } = recorders();
    const handler = createEcsEventHandler(runtimeWith(registry));
    const stranger = {
      ...fixture("ecs-deployment-failed.json"),
      resources: [`arn:aws:ecs:us-east-1:${DEPLOY_ACCOUNT_ID}:service/other/api`],
    };
    await expect(handler(stranger, lambdaContext)).rejects.toThrow(/belongs to no deployed ECS system/);
    const broken = fixture("ecs-deployment-failed.json");
    delete broken.detail.deploymentId;
    await expect(handler(broken, lambdaContext)).rejects.toThrow(
      /invalid ECS deployment event[\s\S]*detail.deploymentId/,
    );
    expect(calls).toEqual([]);
  });

  it("the probe handler runs health-probe for the system it names, and rejects a bad event", async () => {
    const { calls, registry } = recorders();
    const handler = createProbeHandler(runtimeWith(registry));
    await handler({ system: "flash-sale", scheduleId: "flash-sale-health-probe" }, lambdaContext);
    expect(calls).toEqual([{ runbook: "health-probe", system: "flash-sale", input: {} }]);
    await expect(handler({ runbook: "backup", system: "flash-sale" }, lambdaContext)).rejects.toThrow(
      /invalid probe event/,
    );
  });
});
