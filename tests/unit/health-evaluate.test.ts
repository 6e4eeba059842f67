import { describe, expect, it } from "vitest";
import {
  evaluateSamples,
  formatProbeState,
  INITIAL_PROBE_STATE,
  type ProbeSample,
  parseProbeState,
  thresholdsOf,
} from "../../lib/health/evaluate.js";

const flashSale = thresholdsOf({ intervalSeconds: 30, timeoutSeconds: 5, unhealthyThreshold: 3, healthyThreshold: 2 });
const t0 = Date.parse("2026-11-21T10:00:00Z");
const sample = (ok: boolean, i: number): ProbeSample => ({
  ok,
  at: new Date(t0 + i * 30_000),
  ms: 3,
  detail: ok ? "200" : "503",
  ...(ok ? {} : { failure: "status" as const }),
});
const run = (pattern: string) => [...pattern].map((c, i) => sample(c === "+", i));

describe("evaluateProbe", () => {
  it.each([
    ["", "healthy", 0],
    ["+", "healthy", 0],
    ["-", "failing", 1],
    ["--", "failing", 2],
    ["---", "unhealthy", 3],
    ["--+--", "failing", 2],
    ["---+", "recovering", 0],
    ["---++", "healthy", 0],
    ["---+-", "unhealthy", 1],
  ])("%s → %s with %i failures in a row", (pattern, verdict, failures) => {
    const state = evaluateSamples(INITIAL_PROBE_STATE, run(pattern), flashSale);
    expect(state.verdict).toBe(verdict);
    expect(state.failures).toBe(failures);
  });

  it("remembers when the run of failures began", () => {
    const state = evaluateSamples(INITIAL_PROBE_STATE, run("+---"), flashSale);
    expect(state.since?.toISOString()).toBe(new Date(t0 + 30_000).toISOString());
  });

  it("a healthy endpoint keeps the same state from run to run (no write each minute)", () => {
    const once = evaluateSamples(INITIAL_PROBE_STATE, run("++"), flashSale);
    const again = evaluateSamples(once, run("++"), flashSale);
    expect(formatProbeState(again)).toBe(formatProbeState(once));
  });

  it("round-trips through its tag value, and an unreadable one starts afresh", () => {
    const state = evaluateSamples(INITIAL_PROBE_STATE, run("--"), flashSale);
    expect(parseProbeState(formatProbeState(state))).toEqual(state);
    expect(parseProbeState("v2 what=ever")).toEqual(INITIAL_PROBE_STATE);
    expect(parseProbeState("v1 verdict=bogus failures=1 successes=0")).toEqual(INITIAL_PROBE_STATE);
  });

  it("fills what a guide leaves out with the ALB defaults", () => {
    expect(thresholdsOf({})).toEqual({
      intervalSeconds: 30,
      timeoutSeconds: 5,
      unhealthyThreshold: 3,
      healthyThreshold: 2,
    });
  });
});
