import { DescribeAlarmsCommand } from "@aws-sdk/client-cloudwatch";
import { alarmName, alarmNamePrefix, fleetAlarms } from "../../alarms/index.js";
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

/** The prefix of every deployed alarm name (`ops-autopilot-<stage>-<id>`, alarms/index.ts), whatever the stage. */
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
 * Which alarm names are the system's: with the deployment's stage known (`OPS_STAGE`, set on every
 * function), exactly `ops-autopilot-<stage>-<id>` for its alarm ids, so another stage deployed in the
 * same account (staging beside production) never shows; without it (the CLI), the name's end only.
 */
function systemAlarms(ctx: RunbookContext): { prefix: string; matches: (name: string) => boolean } {
  const ids = fleetAlarms([ctx.system]).map((a) => a.id);
  const stage = ctx.settings.stage;
  if (!stage) return { prefix: ALARM_PREFIX, matches: (name) => ids.some((id) => name.endsWith(`-${id}`)) };
  const names = new Set(ids.map((id) => alarmName(stage, id)));
  return { prefix: alarmNamePrefix(stage), matches: (name) => names.has(name) };
}

/** The system's alarms in ALARM ({@link systemAlarms}): `DescribeAlarms` (StateValue ALARM, the prefix, every page). */
async function openAlarms(ctx: RunbookContext): Promise<string[]> {
  const { prefix, matches } = systemAlarms(ctx);
  const open: string[] = [];
  let token: string | undefined;
  do {
    const page = await ctx.clients.cloudwatch.send(
      new DescribeAlarmsCommand({
        StateValue: "ALARM",
        AlarmNamePrefix: prefix,
        AlarmTypes: ["MetricAlarm", "CompositeAlarm"],
        ...(token ? { NextToken: token } : {}),
      }),
    );
    const names = [...(page.MetricAlarms ?? []), ...(page.CompositeAlarms ?? [])].map((a) => a.AlarmName ?? "");
    open.push(...names.filter(matches));
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
