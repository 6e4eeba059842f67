import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fleetAlarms } from "../../alarms/index.js";
import { deploymentPlan, NO_RESOURCE_LEVEL } from "../../deploy/plan.js";
import { backupBucketLifecycleRules, PRUNED_VERSION_DAYS } from "../../lib/backup/bucket-lifecycle.js";
import { parseScheduleExpression } from "../../lib/cron.js";
import { isValidTimeZone } from "../../lib/timezone.js";
import { runbooks } from "../../runbooks/index.js";
import type { Permission } from "../../runbooks/types.js";
import { builtinSchedules } from "../../schedules/index.js";
import { builtinFleet } from "../../systems/index.js";
import { DEPLOYMENT } from "../helpers/aws-account.js";

const root = join(import.meta.dirname, "..", "..");
const fleet = builtinFleet();
const systemIds = fleet.systems.map((s) => s.id);
const plan = deploymentPlan(fleet, runbooks, DEPLOYMENT);

describe("schedules", () => {
  it("exist, and every one names a registered runbook and a known system", () => {
    expect(builtinSchedules.length).toBeGreaterThan(0);
    for (const schedule of builtinSchedules) {
      expect(
        runbooks.map((r) => r.name),
        `${schedule.system}/${schedule.runbook}`,
      ).toContain(schedule.runbook);
      expect(systemIds, `${schedule.system}/${schedule.runbook}`).toContain(schedule.system);
    }
  });

  it("every expression parses and every time zone is a real IANA zone", () => {
    for (const schedule of fleet.schedules) {
      expect(() => parseScheduleExpression(schedule.expression), schedule.id).not.toThrow();
      expect(isValidTimeZone(schedule.timezone), `${schedule.id}: ${schedule.timezone}`).toBe(true);
      expect(schedule.timezone).toBe(fleet.systems.find((s) => s.id === schedule.system)?.timezone);
    }
  });

  it("every system with backups is backed up daily and pruned", () => {
    for (const system of fleet.systems.filter((s) => s.backup && s.deploy)) {
      const mine = fleet.schedules.filter((s) => s.system === system.id).map((s) => s.runbook);
      expect(mine, system.id).toContain("backup");
      expect(mine, system.id).toContain("prune-backups");
    }
  });
});

describe("runbooks", () => {
  it("have unique names, a description, an input schema and a page for people", () => {
    expect(new Set(runbooks.map((r) => r.name)).size).toBe(runbooks.length);
    for (const runbook of runbooks) {
      expect(runbook.description.length, runbook.name).toBeGreaterThan(20);
      expect(runbook.input.safeParse({}).success, `${runbook.name} runs with default input`).toBe(true);
      // A runbook is a file (runbooks/<name>.ts + .md) or a folder (runbooks/<name>/<name>.md).
      const flat = join(root, "runbooks", `${runbook.name}.md`);
      const doc = existsSync(flat) ? flat : join(root, "runbooks", runbook.name, `${runbook.name}.md`);
      expect(existsSync(doc), `runbooks/${runbook.name}.md or runbooks/${runbook.name}/${runbook.name}.md`).toBe(true);
      expect(readFileSync(doc, "utf8")).toMatch(new RegExp(`^# ${runbook.name}\\b`));
    }
  });

  it("fit Lambda's limits, and the ones that run pg_dump/pg_restore beside Node get two vCPUs", () => {
    for (const runbook of runbooks) {
      const timeout = runbook.timeoutSeconds ?? 300;
      const memory = runbook.memoryMB ?? 1024;
      expect(timeout, runbook.name).toBeLessThanOrEqual(900);
      expect(memory, runbook.name).toBeGreaterThanOrEqual(128);
      expect(memory, runbook.name).toBeLessThanOrEqual(10_240);
    }
    // 1,769 MB is one vCPU: two so the dump (or restore) and the Node pipeline do not share one.
    for (const name of ["backup", "restore-drill"]) {
      expect(runbooks.find((r) => r.name === name)?.memoryMB, name).toBeGreaterThanOrEqual(2 * 1769);
    }
    // The deployed functions get exactly that memory and timeout.
    for (const fn of plan.functions) {
      const runbook = runbooks.find((r) => r.name === fn.runbook);
      expect(fn.memoryMB, fn.id).toBe(runbook?.memoryMB ?? 1024);
      expect(fn.timeoutSeconds, fn.id).toBe(Math.min(runbook?.timeoutSeconds ?? 300, 900));
    }
    for (const name of ["ScheduledBackup", "WorkerBackup", "ScheduledRestoreDrill"]) {
      expect(plan.functions.find((f) => f.id === name)?.memoryMB, name).toBeGreaterThanOrEqual(2 * 1769);
    }
  });

  it("declare least-privilege IAM for every system they are scheduled for", () => {
    for (const { schedule, runbook, system } of scheduledRuns()) {
      const permissions = runbook.permissions(system);
      // A run that will only report "skipped" (e.g. EKS targets) needs no permission at all.
      const skipped = runbook.planNote?.(system, schedule.input)?.startsWith("skipped:") ?? false;
      if (skipped) expect(permissions, schedule.id).toEqual([]);
      else expect(permissions.length, schedule.id).toBeGreaterThan(0);
      for (const statement of permissions) expectLeastPrivilege(statement, schedule.id);
    }
  });

  it("scaling IAM for an ECS system is scoped to its cluster and includes RegisterScalableTarget", () => {
    const scaleDown = runbooks.find((r) => r.name === "scale-down");
    const ezBase = fleet.systems.find((s) => s.id === "ez-tracking");
    if (!scaleDown || !ezBase) throw new Error("fixture");
    const offHours = {
      enabled: true as const,
      start: "20:00",
      end: "07:00",
      floor: 1,
      weekendsOff: false,
      holidays: [],
    };
    const statements = scaleDown.permissions({ ...ezBase, offHours });
    const actions = statements.flatMap((s) => s.actions);
    expect(actions).toContain("application-autoscaling:RegisterScalableTarget");
    expect(actions).toContain("ecs:UpdateService");
    const update = statements.find((s) => s.actions.includes("ecs:UpdateService"));
    expect(update?.resources.length).toBeGreaterThan(0);
    expect(update?.resources.every((r) => r.includes("service/ez-tracking/"))).toBe(true);
  });

  it("name the region's ARN partition: China and GovCloud systems get arn:aws-cn / arn:aws-us-gov", () => {
    const cases = [
      { region: "cn-northwest-1", partition: "aws-cn" },
      { region: "us-gov-west-1", partition: "aws-us-gov" },
      { region: "af-south-1", partition: "aws" },
    ];
    for (const { region, partition } of cases) {
      let checked = 0;
      for (const { schedule, runbook, system: base } of scheduledRuns()) {
        const system = { ...base, account: { ...base.account, region } };
        // ARNs the catalogue spells out in full are the operator's to get right; built ones are ours.
        const given = JSON.stringify(base);
        for (const resource of runbook.permissions(system).flatMap((p) => p.resources)) {
          if (resource === "*" || given.includes(resource)) continue;
          expect(resource, `${schedule.id} in ${region}`).toMatch(new RegExp(`^arn:${partition}:`));
          checked++;
        }
      }
      expect(checked, region).toBeGreaterThan(10);
    }
  });

  it("backup IAM is scoped to the system's own bucket prefix and secret", () => {
    const backup = runbooks.find((r) => r.name === "backup");
    const partpal = fleet.systems.find((s) => s.id === "partpal-ims");
    if (!backup || !partpal) throw new Error("fixture");
    const resources = backup.permissions(partpal).flatMap((p) => p.resources);
    expect(resources).toContain("arn:aws:s3:::partpal-ims-backups/pg_dump/partpal-ims/*");
    expect(resources).toContain("arn:aws:secretsmanager:af-south-1:*:secret:partpal-ims/rds-??????");
    expect(resources.some((r) => r.includes("flash-sale"))).toBe(false);
  });
});

/** Every schedule with the runbook and the system it names (a name that resolves to nothing fails here). */
function scheduledRuns() {
  return fleet.schedules.map((schedule) => {
    const runbook = runbooks.find((r) => r.name === schedule.runbook);
    const system = fleet.systems.find((s) => s.id === schedule.system);
    if (!runbook || !system) throw new Error(schedule.id);
    return { schedule, runbook, system };
  });
}

/** Real-looking actions on named resources; `*` only for actions that support no resource. */
function expectLeastPrivilege(statement: Permission, where: string): void {
  for (const action of statement.actions) expect(action, where).toMatch(/^[a-z0-9-]+:[A-Z][A-Za-z]+$/);
  expect(statement.resources.length, where).toBeGreaterThan(0);
  if (statement.resources.includes("*")) {
    expect(
      statement.actions.every((a) => NO_RESOURCE_LEVEL.has(a)),
      `${where} ${statement.actions}`,
    ).toBe(true);
  }
}

describe("alarms", () => {
  it("every system with backups has a freshness alarm at its limit; missing data breaches", () => {
    const alarms = fleetAlarms(fleet.systems);
    const partpal = alarms.find((a) => a.id === "partpal-ims-backup-age-main");
    expect(partpal).toMatchObject({ metric: "BackupAgeSeconds", threshold: 24 * 3600, treatMissingData: "breaching" });
    // Flash Sale's 5-minute RPO is met by point-in-time restore; its daily dump is held to 26 h.
    expect(alarms.find((a) => a.id === "flash-sale-backup-age-main")?.threshold).toBe(26 * 3600);
    expect(alarms.some((a) => a.system === "demo")).toBe(false);
  });

  it("the guides' thresholds are alarms with their severities", () => {
    const alarms = fleetAlarms(fleet.systems);
    expect(alarms.find((a) => a.id === "ez-tracking-cpu-critical-backend")).toMatchObject({
      threshold: 90,
      severity: "critical",
    });
    expect(alarms.find((a) => a.id === "partpal-ims-cpu-high-partpal-api")).toMatchObject({
      threshold: 80,
      periodSeconds: 300,
      comparison: "GreaterThanThreshold",
    });
  });
});

describe("deployment plan and sst.config.ts", () => {
  const config = readFileSync(join(root, "sst.config.ts"), "utf8");
  it("sst.config.ts writes nothing by hand per system; the plan has one schedule per catalogue entry", () => {
    for (const id of systemIds) expect(config, id).not.toContain(`"${id}"`);
    expect(config).toMatch(/deploymentPlan\(builtinFleet\(\), runbooks,/);
    expect(config).toMatch(/removal: input\?\.stage === "production" \? "retain"/);
    const deployedSchedules = fleet.schedules.filter((s) => fleet.systems.find((x) => x.id === s.system)?.deploy);
    expect(plan.schedules.map((s) => s.scheduleId).sort()).toEqual(deployedSchedules.map((s) => s.id).sort());
    for (const schedule of plan.schedules) {
      const fn = plan.functions.find((f) => f.id === schedule.function);
      expect(fn?.kind, schedule.id).toBe("scheduled");
      expect(fn?.runbook, schedule.id).toBe(schedule.event.runbook);
      expect(fn?.systems, schedule.id).toContain(schedule.event.system);
    }
  });

  it("backup buckets abort stale multipart uploads and let pruned versions expire", () => {
    const rules = backupBucketLifecycleRules();
    const backups = plan.buckets.filter((b) => b.kind === "backup");
    expect(backups.map((b) => b.system).sort()).toEqual(
      fleet.systems
        .filter((s) => s.deploy && s.backup && !s.account.roleArn)
        .map((s) => s.id)
        .sort(),
    );
    for (const bucket of backups) {
      expect(bucket.lifecycleRules, bucket.id).toEqual(rules);
      expect(bucket.versioning && bucket.enforceHttps, bucket.id).toBe(true);
    }
    expect(new Set(rules.map((r) => r.id)).size).toBe(rules.length);
    const abort = rules.find((r) => r.abortIncompleteMultipartUpload);
    expect(abort?.abortIncompleteMultipartUpload?.daysAfterInitiation).toBeGreaterThanOrEqual(1);
    // Versioned buckets: without this, prune-backups would only add delete markers and free nothing.
    const expire = rules.find((r) => r.noncurrentVersionExpiration);
    expect(expire?.noncurrentVersionExpiration?.noncurrentDays).toBe(PRUNED_VERSION_DAYS);
    expect(expire?.expiration?.expiredObjectDeleteMarker).toBe(true);
  });
});
