import { describeSpan } from "../../runbooks/backup/catalog.js";
import type { LastRollback } from "../rollback/tags.js";
import type { CapacityRecord } from "../scaling/tags.js";

/**
 * `/ops status` as lines, pure over what was read (read.ts). Each part is either what it found or why it
 * could not be read: one unreadable part never hides the others.
 */

/** A part that could be read, or the reason it could not. */
export type Part<T> = { ok: true; value: T } | { ok: false; reason: string };

/** One ECS service now. */
export interface ServiceNow {
  name: string;
  desired: number;
  running: number;
  /** The off-hours record scale-down left (present: the service is in its off-hours state). */
  offHours: { kind: "none" } | { kind: "present"; record: CapacityRecord } | { kind: "invalid"; reason: string };
  lastRollback?: LastRollback;
}

/** The newest verified backup of one database. */
export interface BackupNow {
  database: string;
  takenAt?: Date;
  key?: string;
}

/** The last drill's verdicts. */
export interface DrillNow {
  startedAt: string;
  database: string;
  outcome: string;
  rto: { verdict: string; targetMs: number; measuredMs?: number | undefined };
  rpo: { verdict: string; targetMs: number; measuredMs?: number | undefined };
}

/** Everything status read, part by part. */
export interface StatusFacts {
  now: Date;
  capacity: Part<ServiceNow[]>;
  backups: Part<BackupNow[]>;
  /** How old the newest backup may be (the system's RPO for pg_dump systems, `backup.maxAgeMinutes`). */
  backupMaxAgeMs: number;
  drill: Part<DrillNow | undefined>;
  alarms: Part<string[]>;
}

/** One line of the status. */
export interface StatusLine {
  part: "capacity" | "backup" | "drill" | "alarms" | "rollback";
  resource: string;
  ok: boolean;
  text: string;
}

const span = (ms: number) => describeSpan(Math.max(0, ms));

function serviceLine(s: ServiceNow, now: Date): string {
  const counts = `${s.running}/${s.desired} running`;
  if (s.offHours.kind === "present") {
    const r = s.offHours.record;
    return `${counts}; off-hours since ${r.at.toISOString()} (${span(now.getTime() - r.at.getTime())}), restores to ${r.desired}`;
  }
  if (s.offHours.kind === "invalid") return `${counts}; off-hours record unreadable: ${s.offHours.reason}`;
  return `${counts}; not in off-hours`;
}

function capacityLines(facts: StatusFacts): StatusLine[] {
  if (!facts.capacity.ok) return [{ part: "capacity", resource: "services", ok: false, text: facts.capacity.reason }];
  return facts.capacity.value.map((s) => ({
    part: "capacity",
    resource: s.name,
    ok: true,
    text: serviceLine(s, facts.now),
  }));
}

function backupLines(facts: StatusFacts): StatusLine[] {
  if (!facts.backups.ok) return [{ part: "backup", resource: "backups", ok: false, text: facts.backups.reason }];
  const limit = span(facts.backupMaxAgeMs);
  return facts.backups.value.map((b) => {
    if (!b.takenAt)
      return { part: "backup", resource: b.database, ok: true, text: `no verified backup (limit ${limit})` };
    const age = facts.now.getTime() - b.takenAt.getTime();
    const verdict = age <= facts.backupMaxAgeMs ? "within" : "OVER";
    return {
      part: "backup",
      resource: b.database,
      ok: true,
      text: `last verified ${b.takenAt.toISOString()}, ${span(age)} old: ${verdict} the ${limit} limit`,
    };
  });
}

function verdictText(name: string, v: DrillNow["rto"]): string {
  const measured = v.measuredMs === undefined ? "not measured" : span(v.measuredMs);
  return `${name} ${v.verdict} (${measured} against ${span(v.targetMs)})`;
}

function drillLine(facts: StatusFacts): StatusLine {
  const d = facts.drill;
  if (!d.ok) return { part: "drill", resource: "drills", ok: false, text: d.reason };
  if (!d.value) return { part: "drill", resource: "drills", ok: true, text: "no drill recorded yet" };
  const { value } = d;
  return {
    part: "drill",
    resource: value.database,
    ok: true,
    text: `last drill ${value.startedAt} ${value.outcome}: ${verdictText("RTO", value.rto)}, ${verdictText("RPO", value.rpo)}`,
  };
}

function alarmLine(facts: StatusFacts): StatusLine {
  const a = facts.alarms;
  if (!a.ok) return { part: "alarms", resource: "alarms", ok: false, text: a.reason };
  const text = a.value.length === 0 ? "no alarm in ALARM" : `${a.value.length} in ALARM: ${a.value.join(", ")}`;
  return { part: "alarms", resource: "alarms", ok: true, text };
}

function rollbackLine(facts: StatusFacts): StatusLine {
  if (!facts.capacity.ok) {
    return { part: "rollback", resource: "rollbacks", ok: false, text: `not read: ${facts.capacity.reason}` };
  }
  const last = facts.capacity.value
    .flatMap((s) => (s.lastRollback ? [{ service: s.name, ...s.lastRollback }] : []))
    .sort((x, y) => y.at.getTime() - x.at.getTime())[0];
  if (!last) return { part: "rollback", resource: "rollbacks", ok: true, text: "no rollback recorded" };
  return {
    part: "rollback",
    resource: last.service,
    ok: true,
    text: `last rollback ${last.at.toISOString()} from ${last.from} to ${last.to} (${last.trigger})`,
  };
}

/** The status, one line per part (per service, per database), in the order a person reads it. */
export function statusLines(facts: StatusFacts): StatusLine[] {
  return [...capacityLines(facts), ...backupLines(facts), drillLine(facts), alarmLine(facts), rollbackLine(facts)];
}

/** The one-line summary (`/ops status` of the fleet shows only this). */
export function statusSummary(facts: StatusFacts, lines: StatusLine[]): string {
  const parts: string[] = [];
  if (facts.capacity.ok) {
    const running = facts.capacity.value.reduce((n, s) => n + s.running, 0);
    const desired = facts.capacity.value.reduce((n, s) => n + s.desired, 0);
    const off = facts.capacity.value.some((s) => s.offHours.kind === "present");
    parts.push(`${running}/${desired} tasks${off ? " (off-hours)" : ""}`);
  }
  const over = lines.filter((l) => l.part === "backup" && l.text.includes(": OVER"));
  if (facts.backups.ok)
    parts.push(over.length ? `backup OVER limit (${over.map((l) => l.resource).join(", ")})` : "backups fresh");
  if (facts.drill.ok && facts.drill.value)
    parts.push(`drill RTO ${facts.drill.value.rto.verdict}, RPO ${facts.drill.value.rpo.verdict}`);
  if (facts.alarms.ok) parts.push(`${facts.alarms.value.length} alarm(s)`);
  const unread = lines.filter((l) => !l.ok).map((l) => l.part);
  if (unread.length) parts.push(`unreadable: ${[...new Set(unread)].join(", ")}`);
  return parts.join("; ");
}
