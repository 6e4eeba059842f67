import { describe, expect, it } from "vitest";
import type { CheckedBackup } from "../../runbooks/backup/catalog.js";
import { dumpKey, manifestKey } from "../../runbooks/backup/layout.js";
import type { Manifest } from "../../runbooks/backup/manifest.js";
import { type PrunePlan, type PruneSnapshot, planPrune } from "../../runbooks/prune-backups/plan.js";
import { type PruneOutcome, summarize } from "../../runbooks/prune-backups/report.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import { backupMaxAgeMinutes } from "../../systems/schema.js";

const NOW = new Date("2026-11-21T10:00:00Z");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const system = findSystem(builtinFleet(), "partpal-ims");

type Check = CheckedBackup["check"];
const VERIFIED = { state: "verified", manifest: {} as Manifest } satisfies Check;
const NO_MANIFEST = { state: "no-manifest", reason: "no manifest" } satisfies Check;
const BROKEN = { state: "bad-manifest", reason: "manifest is not JSON" } satisfies Check;
const AHEAD = { state: "future", reason: "key dated 2026-11-23T10:00:00.000Z, 48.0 h ahead of now" } satisfies Check;

function dump(agoMs: number, check: Check): CheckedBackup {
  const takenAt = new Date(NOW.getTime() - agoMs);
  const key = dumpKey("pg_dump", "partpal-ims", "main", takenAt);
  return {
    key,
    takenAt,
    bytes: 1000,
    ...(check.state === "no-manifest" ? {} : { manifestKey: manifestKey(key) }),
    check,
  };
}

/** The snapshot the read step would give for these dumps (oldest first), as checkAllBackups builds it. */
function snapshot(checked: CheckedBackup[], more: Partial<PruneSnapshot> = {}): PruneSnapshot {
  const sorted = [...checked].sort((a, b) => a.takenAt.getTime() - b.takenAt.getTime());
  const newest = sorted.findLast((b) => b.check.state === "verified");
  return {
    database: "main",
    backups: sorted,
    checked: sorted,
    danglingManifests: [],
    foreign: [],
    newest: newest?.check.state === "verified" ? { backup: newest, manifest: newest.check.manifest } : undefined,
    ...more,
  };
}

/** Daily verified backups at 01:00 UTC for `days` days back from the newest, `newestAgo` before NOW. */
function daily(days: number, newestAgo = 9 * HOUR): CheckedBackup[] {
  return Array.from({ length: days }, (_, d) => dump(newestAgo + d * DAY, VERIFIED));
}

const stopReasons = (plan: PrunePlan) => (plan.kind === "stop" ? plan.stops.map((s) => s.reason) : []);

describe("planPrune: what stops pruning, in order", () => {
  const cases: [string, CheckedBackup[], RegExp | undefined][] = [
    [
      "a dump dated in the future stops it (a clock is wrong), even with fresh verified backups",
      [...daily(10), dump(-2 * DAY, AHEAD)],
      /^key dated 2026-11-23T10:00:00.000Z, 48.0 h ahead of now: a clock is wrong .* nothing deleted until it is explained$/,
    ],
    [
      "no verified backup stops it",
      [dump(2 * DAY, BROKEN), dump(3 * DAY, NO_MANIFEST)],
      /^no verified backup among 2 dumps: nothing deleted; check the backup job$/,
    ],
    ["no dump at all stops it", [], /^no verified backup among 0 dumps/],
    [
      "a newest verified backup past the age limit stops it",
      daily(10, backupMaxAgeMinutes(system) * 60_000 + HOUR),
      /^newest verified backup is .* old, older than the .* limit: nothing deleted; check the backup job$/,
    ],
    ["fresh verified backups are pruned", daily(10), undefined],
    [
      "a newer unverified dump does not make stale backups fresh",
      [...daily(5, 3 * DAY), dump(HOUR, NO_MANIFEST)],
      /older than the/,
    ],
  ];
  it.each(cases)("%s", (_name, dumps, stop) => {
    const plan = planPrune(snapshot(dumps), system, NOW);
    if (stop) {
      expect(plan.kind).toBe("stop");
      expect(stopReasons(plan)).toEqual([expect.stringMatching(stop)]);
    } else expect(plan.kind).toBe("prune");
  });

  it("with nothing verified, each unverified dump is listed with why", () => {
    const plan = planPrune(snapshot([dump(2 * DAY, BROKEN), dump(3 * DAY, NO_MANIFEST)]), system, NOW);
    expect(plan.kind === "stop" && plan.unverified).toEqual([
      { key: dump(3 * DAY, NO_MANIFEST).key, reason: "unverified (no manifest)" },
      { key: dump(2 * DAY, BROKEN).key, reason: "unverified (manifest is not JSON)" },
    ]);
  });

  it("the published age is the newest verified backup's, never negative, and absent without one", () => {
    expect(planPrune(snapshot(daily(3)), system, NOW).ageSeconds).toBe(9 * 3600);
    // A verified backup a few seconds ahead (within the tolerance) is age 0, not negative.
    expect(planPrune(snapshot([dump(-30_000, VERIFIED)]), system, NOW).ageSeconds).toBe(0);
    expect(planPrune(snapshot([dump(HOUR, BROKEN)]), system, NOW).ageSeconds).toBeUndefined();
    // A future-dated dump never becomes the newest: the age is the real one.
    expect(planPrune(snapshot([...daily(3), dump(-2 * DAY, AHEAD)]), system, NOW).ageSeconds).toBe(9 * 3600);
  });

  it("counts what it found, by state", () => {
    const plan = planPrune(snapshot([...daily(3), dump(HOUR, BROKEN), dump(2 * HOUR, NO_MANIFEST)]), system, NOW);
    expect(plan.counts).toEqual({ backups: 5, verified: 3, unverified: 2, future: 0 });
  });

  it("keys not in the layout are carried as foreign, never decided on", () => {
    const foreign = ["pg_dump/partpal-ims/main/nested/x/2026/11/20/20261120T010000Z.dump"];
    const plan = planPrune(snapshot(daily(3), { foreign }), system, NOW);
    expect(plan.foreign).toEqual(foreign);
    expect(plan.kind === "prune" && [...plan.keep, ...plan.remove].map((d) => d.key)).not.toContain(foreign[0]);
  });
});

describe("planPrune: what is kept, and why", () => {
  it("keeps the retention slots and the newest, deletes the rest, each with its reason", () => {
    const plan = planPrune(snapshot(daily(40)), system, NOW);
    if (plan.kind !== "prune") throw new Error(`stopped: ${stopReasons(plan).join("; ")}`);
    const { keepDaily, keepWeekly, keepMonthly } = system.backup?.retention ?? {
      keepDaily: 0,
      keepWeekly: 0,
      keepMonthly: 0,
    };
    expect(plan.keep.length).toBeGreaterThanOrEqual(keepDaily);
    expect(plan.keep.length).toBeLessThanOrEqual(keepDaily + keepWeekly + keepMonthly);
    expect(plan.keep.length + plan.remove.length).toBe(40);
    expect(plan.keep.at(-1)?.reasons[0]).toBe("newest verified backup");
    for (const d of plan.keep) expect(d.reasons.join(", ")).toMatch(/daily|weekly|monthly|newest/);
    for (const d of plan.remove) expect(d.reasons).toEqual(["outside every retention period"]);
  });

  it("unverified dumps never fill a slot: kept in their grace period (1 day without a manifest, 7 with a bad one), then go", () => {
    const dumps = [
      ...daily(10),
      dump(9 * HOUR + 60_000, NO_MANIFEST), // beside the newest: young, kept
      dump(2 * DAY + HOUR, NO_MANIFEST), // past a day: goes
      dump(3 * DAY + HOUR, BROKEN), // within the week: kept
      dump(8 * DAY + HOUR, BROKEN), // past the week: goes
    ];
    const plan = planPrune(snapshot(dumps), system, NOW);
    if (plan.kind !== "prune") throw new Error("stopped");
    const kept = new Set(plan.keep.map((d) => d.key));
    expect(kept.has(dumps[10]?.key ?? "")).toBe(true);
    expect(kept.has(dumps[11]?.key ?? "")).toBe(false);
    expect(kept.has(dumps[12]?.key ?? "")).toBe(true);
    expect(kept.has(dumps[13]?.key ?? "")).toBe(false);
    expect(plan.keep.find((d) => d.key === dumps[12]?.key)?.reasons).toEqual([
      expect.stringMatching(/^unverified \(manifest is not JSON\): not counted, kept until /),
    ]);
    // Only the verified backups fill the daily slots: all 7 of them are verified dumps.
    const daysKept = plan.keep.filter((d) => d.reasons.some((r) => r.startsWith("daily")));
    expect(daysKept.every((d) => d.state === "verified")).toBe(true);
  });

  it("manifests whose dump is gone are deleted", () => {
    const dangling = ["pg_dump/partpal-ims/main/2026/11/01/20261101T010000Z.dump.manifest.json"];
    const plan = planPrune(snapshot(daily(3), { danglingManifests: dangling }), system, NOW);
    expect(plan.kind === "prune" && plan.danglingManifests).toEqual(dangling);
  });
});

describe("the prune summary, from typed outcomes", () => {
  const outcome: PruneOutcome = {
    resource: "partpal-ims/main",
    failures: [],
    deleted: 6,
    strays: 1,
    kept: 7,
    unverified: [],
  };
  const cases: [string, PruneOutcome[], boolean, string][] = [
    ["deleted and kept", [outcome], false, "deleted 6 backups and 1 manifest without a dump, kept 7 backups"],
    ["a dry run says would", [{ ...outcome, strays: 0 }], true, "would delete 6 backups, kept 7 backups"],
    [
      "unverified dumps are named",
      [{ ...outcome, strays: 0, unverified: ["a", "b", "c", "d"] }],
      false,
      "deleted 6 backups, kept 7 backups; 4 unverified dumps kept and not counted (a, b, c, ...): check the backup job",
    ],
    [
      "failures come first",
      [outcome, { ...outcome, resource: "x/y", failures: ["no verified backup among 0 dumps"] }],
      false,
      "pruning stopped or failed: no verified backup among 0 dumps",
    ],
  ];
  it.each(cases)("%s", (_name, outcomes, dryRun, line) => {
    expect(summarize(outcomes, dryRun)).toBe(line);
  });
});
