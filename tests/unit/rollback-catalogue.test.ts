import { describe, expect, it } from "vitest";
import { ezTracking } from "../../systems/ez-tracking.js";
import { flashSale } from "../../systems/flash-sale.js";
import { builtinFleet, findSystem, parseFleet } from "../../systems/index.js";

const parse = (system: Record<string, unknown>) => () => parseFleet({ systems: [system] }, { source: "test.json" });

describe("catalogue: health endpoints and rollback policy", () => {
  it("carries the guides' numbers and the defaults where they are silent", () => {
    const fleet = builtinFleet();
    const flash = findSystem(fleet, "flash-sale");
    expect(flash.health[0]).toMatchObject({
      path: "/actuator/health",
      intervalSeconds: 30,
      timeoutSeconds: 5,
      unhealthyThreshold: 3,
    });
    expect(findSystem(fleet, "partpal-ims").health[0]?.path).toBe("/api/health");
    expect(findSystem(fleet, "ims-2").health[0]?.path).toBe("/health");
    const ez = findSystem(fleet, "ez-tracking");
    expect(ez.rollback).toEqual({
      enabled: true,
      bakeMinutes: 10,
      windowMinutes: 60,
      cooldownMinutes: 30,
      followMinutes: 10,
      maxMinutes: 5,
    });
  });

  it("names the system, the field, the bad value and what is allowed", () => {
    expect(parse({ ...ezTracking, health: [{ target: "api", path: "/health" }] })).toThrow(
      /system "ez-tracking"\.health\.0\.target: "api" is not a service of the system; use one of frontend, backend/,
    );
    expect(
      parse({
        ...flashSale,
        health: [{ target: "flash-sale-service", path: "/actuator/health", intervalSeconds: 5, timeoutSeconds: 5 }],
      }),
    ).toThrow(/health\.0\.timeoutSeconds: must be shorter than intervalSeconds \(5\)/);
    expect(parse({ ...flashSale, rollback: { bakeMinutes: 1 } })).toThrow(
      /system "flash-sale"\.rollback\.bakeMinutes: must be at least the time health\[0\] needs to see a failure \(interval × unhealthyThreshold = 90 s\)/,
    );
    expect(
      parse({
        ...ezTracking,
        health: [{ target: "backend", path: "/health", baseUrl: "https://ez.example.com/health" }],
      }),
    ).toThrow(/baseUrl: must be an http\(s\) origin without a path/);
    expect(parse({ ...ezTracking, rollback: { cooldownMinutes: -1 } })).toThrow(/rollback\.cooldownMinutes/);
  });
});
