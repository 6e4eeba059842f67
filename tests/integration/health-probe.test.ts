import { CloudWatchClient, DescribeAlarmsCommand } from "@aws-sdk/client-cloudwatch";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { evaluateSamples, INITIAL_PROBE_STATE, type ProbeSample, thresholdsOf } from "../../lib/health/evaluate.js";
import { probeEndpoint } from "../../lib/health/probe.js";
import { healthProbeRunbook } from "../../runbooks/health-probe/index.js";
import { KNOWN_GOOD_TAG, PROBE_TAG } from "../../runbooks/rollback/tags.js";
import { parseRunbookInput } from "../../runbooks/runner.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import type { System } from "../../systems/schema.js";
import { testContext } from "../helpers/context.js";
import { HealthServer } from "../helpers/health-server.js";
import { SimClock, SimulatedEcs, taskDefinitionArn } from "../helpers/simulated-ecs.js";

const server = new HealthServer();
beforeAll(() => server.start());
afterAll(() => server.stop());
afterEach(() => {
  server.mode = "up";
});

const probe = (timeoutMs = 1000) => probeEndpoint({ url: `${server.url}/health`, timeoutMs, now: () => new Date() });

describe("health probe against a real HTTP server", () => {
  it("passes on 200 with status UP", async () => {
    const sample = await probe();
    expect(sample).toMatchObject({ ok: true, status: 200 });
  });

  it("fails on a 503, naming the status", async () => {
    server.mode = "status";
    expect(await probe()).toMatchObject({
      ok: false,
      failure: "status",
      status: 503,
      detail: "503 Service Unavailable",
    });
  });

  it("fails on a 200 whose body reports DOWN", async () => {
    server.mode = "body-down";
    expect(await probe()).toMatchObject({ ok: false, failure: "body" });
  });

  it("fails on no answer within the timeout, and does not wait longer", async () => {
    server.mode = "hang";
    const started = Date.now();
    const sample = await probe(300);
    expect(sample).toMatchObject({ ok: false, failure: "timeout", detail: "no answer within 300 ms" });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("fails on a refused connection, then recovers when the server is back", async () => {
    await server.stop();
    const refused = await probe();
    await server.start();
    const back = await probe();
    expect(refused).toMatchObject({ ok: false, failure: "refused", detail: "connection refused" });
    expect(back.ok).toBe(true);
  });

  it("status, timeout, refused in a row make it unhealthy; two passes make it healthy again", async () => {
    const thresholds = thresholdsOf({
      intervalSeconds: 30,
      timeoutSeconds: 1,
      unhealthyThreshold: 3,
      healthyThreshold: 2,
    });
    const samples: ProbeSample[] = [];
    samples.push(await probe());
    server.mode = "status";
    samples.push(await probe());
    server.mode = "hang";
    samples.push(await probe(300));
    server.mode = "up";
    await server.stop();
    samples.push(await probe());
    await server.start();
    const down = evaluateSamples(INITIAL_PROBE_STATE, samples, thresholds);
    const one = evaluateSamples(down, [await probe()], thresholds);
    const two = evaluateSamples(one, [await probe()], thresholds);
    expect(samples.map((s) => s.failure ?? "ok")).toEqual(["ok", "status", "timeout", "refused"]);
    expect([down.verdict, one.verdict, two.verdict]).toEqual(["unhealthy", "recovering", "healthy"]);
  });
});

describe("the rollback in a simulated timeline (EZ Tracking Board: 30 s × 3, 3-min deployment, 5-min limit)", () => {
  const clock = new SimClock(Date.parse("2026-11-21T10:00:00Z"));
  const ecs = new SimulatedEcs({ clock, cluster: "ez-tracking", deployMs: 180_000, latencyMs: 50 });
  const cloudwatch = mockClient(CloudWatchClient);
  afterAll(() => {
    ecs.mock.restore();
    cloudwatch.restore();
  });

  it("first failed probe → trigger after 3 failures → rollback issued → healthy, within 5 minutes", async () => {
    // Prepare: backend's known-good is ez-backend:7; ez-backend:8 went out 4 minutes ago and now fails.
    cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [], $metadata: {} });
    const base = findSystem(builtinFleet(), "ez-tracking");
    const system: System = {
      ...base,
      health: [
        {
          target: "backend",
          path: "/health",
          baseUrl: server.url,
          intervalSeconds: 30,
          timeoutSeconds: 1,
          unhealthyThreshold: 3,
        },
      ],
    };
    ecs.addService({ name: "frontend", revision: "ez-frontend:3" });
    ecs.addService({
      name: "backend",
      revision: "ez-backend:8",
      deployedAgoMs: 4 * 60_000,
      tags: { [KNOWN_GOOD_TAG]: taskDefinitionArn("ez-backend:7") },
    });
    // The real endpoint serves 503 while ez-backend:8's tasks serve, 200 once ez-backend:7 is steady.
    server.mode = () => (ecs.running("backend") === "ez-backend:7" && ecs.steady("backend") ? "up" : "status");
    const ctx = { ...testContext({ system, now: clock.now }), sleep: clock.sleep };
    const firstFailure = clock.now().getTime();
    // Act: the schedule fires every simulated minute until a run reports the rollback.
    let report = await healthProbeRunbook.run(ctx, parseRunbookInput(healthProbeRunbook, { service: "backend" }));
    for (let minute = 1; minute < 6 && !report.details?.backend; minute++) {
      clock.advance(60_000 - ((clock.now().getTime() - firstFailure) % 60_000));
      report = await healthProbeRunbook.run(ctx, parseRunbookInput(healthProbeRunbook, { service: "backend" }));
    }
    // Assess
    const details = report.details?.backend as { firstFailureAt: string; timeline: Record<string, string | number> };
    const timeline = details.timeline;
    const at = (iso: unknown) => Date.parse(String(iso)) - firstFailure;
    expect(at(details.firstFailureAt)).toBe(0);
    expect(at(timeline.triggerAt)).toBeGreaterThanOrEqual(60_000);
    expect(at(timeline.triggerAt)).toBeLessThan(61_000);
    expect(Number(timeline.triggerToIssuedMs)).toBeLessThan(2000);
    expect(at(timeline.healthyAt)).toBeLessThanOrEqual(5 * 60_000);
    expect(Number(timeline.issuedToHealthyMs)).toBeGreaterThanOrEqual(180_000);
    expect(ecs.count("UpdateService")).toBe(1);
    expect(ecs.running("backend")).toBe("ez-backend:7");
    expect(report.actions.find((a) => a.action === "follow")).toMatchObject({ status: "done" });
    expect(ecs.services.get("backend")?.tags.get(PROBE_TAG)).toMatch(/verdict=unhealthy failures=3/);
    // The next scheduled run sees the endpoint pass again and records it.
    clock.advance(60_000);
    const after = await healthProbeRunbook.run(ctx, parseRunbookInput(healthProbeRunbook, { service: "backend" }));
    expect(after.actions.find((a) => a.action === "probe")?.reason).toMatch(/^healthy/);
    expect(ecs.count("UpdateService")).toBe(1);
  });
});
