import { DescribeAlarmsCommand } from "@aws-sdk/client-cloudwatch";
import { fleetAlarms } from "../../alarms/index.js";
import { errorMessage } from "../../lib/errors.js";
import { clusterName } from "../../lib/iam.js";
import { inspectBackups } from "../../runbooks/backup/catalog.js";
import { listDrillRecords } from "../../runbooks/restore-drill/record.js";
import { backupMaxAgeMinutes } from "../../systems/schema.js";
import { describeServices } from "../rollback/ecs.js";
import { LAST_ROLLBACK_TAG, parseLastRollback } from "../rollback/tags.js";
import { readRecord } from "../scaling/tags.js";
import type { RunbookContext } from "../types.js";
import { kubeCapacity } from "./kube.js";
import type { BackupNow, DrillNow, Part, ServiceNow, StatusFacts } from "./plan.js";

/** The prefix of every deployed alarm name (`ops-autopilot-<stage>-<id>`, alarms/index.ts). */
const ALARM_PREFIX = "ops-autopilot-";

/** Runs one read; a failure becomes the part's reason instead of failing the status. */
async function part<T>(what: string, read: () => Promise<T>): Promise<Part<T>> {
  try {
    return { ok: true, value: await read() };
  } catch (error) {
    return { ok: false, reason: `${what} could not be read: ${errorMessage(error)}` };
  }
}

async function capacity(ctx: RunbookContext): Promise<ServiceNow[]> {
  const { runtime } = ctx.system;
  if (runtime.kind === "eks") return kubeCapacity(ctx);
  if (runtime.kind !== "ecs") throw new Error(`the system runs no workloads here (${runtime.reason})`);
  const names = runtime.services.map((s) => s.name);
  const { found, missing } = await describeServices(ctx.clients.ecs, clusterName(runtime.cluster), names, ctx.signal);
  if (missing.size > 0) throw new Error(`ECS does not know ${[...missing.keys()].join(", ")}`);
  return names.flatMap((name) => {
    const state = found.get(name);
    if (!state) return [];
    const record = readRecord(state.tags);
    const lastRollback = parseLastRollback(state.tags.get(LAST_ROLLBACK_TAG));
    return [
      {
        name,
        desired: state.service.desiredCount ?? 0,
        running: state.service.runningCount ?? 0,
        offHours: record.kind === "invalid" ? { kind: "invalid", reason: record.error.message } : record,
        ...(lastRollback ? { lastRollback } : {}),
      },
    ];
  });
}

async function backups(ctx: RunbookContext): Promise<BackupNow[]> {
  const backup = ctx.system.backup;
  if (!backup) throw new Error("no backup section in the catalogue");
  const out: BackupNow[] = [];
  for (const database of ctx.system.databases) {
    const { newest } = await inspectBackups(ctx.clients.s3, {
      bucket: backup.bucket,
      prefix: backup.prefix,
      system: ctx.system.id,
      database: database.id,
      now: ctx.now(),
    });
    out.push({
      database: database.id,
      ...(newest ? { takenAt: newest.backup.takenAt, key: newest.backup.key } : {}),
    });
  }
  return out;
}

async function lastDrill(ctx: RunbookContext): Promise<DrillNow | undefined> {
  const backup = ctx.system.backup;
  if (!backup) throw new Error("no backup section in the catalogue (drill records live in the backup bucket)");
  const { records } = await listDrillRecords(ctx.clients.s3, { bucket: backup.bucket, system: ctx.system.id });
  const last = records.at(-1);
  if (!last) return undefined;
  return {
    startedAt: last.startedAt,
    database: last.database,
    outcome: last.outcome,
    rto: { verdict: last.rto.verdict, targetMs: last.rto.targetMs, measuredMs: last.rto.measuredMs },
    rpo: { verdict: last.rpo.verdict, targetMs: last.rpo.targetMs, measuredMs: last.rpo.measuredMs },
  };
}

/**
 * The system's alarms in ALARM: `DescribeAlarms` (StateValue ALARM, our name prefix, every page), kept
 * when the name ends in one of the system's alarm ids. The stage is not known here: two stages' alarms
 * of one system in one account both show.
 */
async function openAlarms(ctx: RunbookContext): Promise<string[]> {
  const ids = fleetAlarms([ctx.system]).map((a) => a.id);
  const open: string[] = [];
  let token: string | undefined;
  do {
    const page = await ctx.clients.cloudwatch.send(
      new DescribeAlarmsCommand({
        StateValue: "ALARM",
        AlarmNamePrefix: ALARM_PREFIX,
        AlarmTypes: ["MetricAlarm", "CompositeAlarm"],
        ...(token ? { NextToken: token } : {}),
      }),
    );
    const names = [...(page.MetricAlarms ?? []), ...(page.CompositeAlarms ?? [])].map((a) => a.AlarmName ?? "");
    open.push(...names.filter((n) => ids.some((id) => n.endsWith(`-${id}`))));
    token = page.NextToken;
  } while (token);
  return open;
}

/** Reads every part, side by side; none of them writes anything. */
export async function readStatus(ctx: RunbookContext): Promise<StatusFacts> {
  const [cap, bak, drill, alarms] = await Promise.all([
    part("capacity", () => capacity(ctx)),
    part("the backups", () => backups(ctx)),
    part("the drill history", () => lastDrill(ctx)),
    part("the alarms", () => openAlarms(ctx)),
  ]);
  return {
    now: ctx.now(),
    capacity: cap,
    backups: bak,
    backupMaxAgeMs: backupMaxAgeMinutes(ctx.system) * 60_000,
    drill,
    alarms,
  };
}
