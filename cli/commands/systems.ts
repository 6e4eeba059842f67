import { bindGuideAlarms } from "../../alarms/index.js";
import { plural } from "../../lib/text.js";
import type { Fleet } from "../../systems/index.js";
import type { System } from "../../systems/schema.js";
import { type CliIo, EXIT, foldLine, table, writeJson } from "../io.js";

function hours(minutes: number): string {
  return minutes % 60 === 0 && minutes >= 60 ? `${minutes / 60} h` : `${minutes} min`;
}

function runtimeLine(system: System): string {
  const r = system.runtime;
  if (r.kind === "ecs") return `ecs ${r.cluster}: ${r.services.map((s) => s.name).join(", ")}`;
  if (r.kind === "eks") return `eks ${r.cluster}/${r.namespace}: ${r.deployments.map((d) => d.name).join(", ")}`;
  return `none (${r.reason})`;
}

/** A system with its policies, as `ops systems --json` prints it. */
export function describeSystem(system: System, fleet: Fleet) {
  return {
    id: system.id,
    name: system.name,
    guide: system.guide,
    account: system.account,
    timezone: system.timezone,
    runtime: system.runtime,
    databases: system.databases.map(({ credentials, ...rest }) => ({ ...rest, credentialsFrom: credentials.source })),
    dr: { ...system.dr, rto: hours(system.dr.rtoMinutes), rpo: hours(system.dr.rpoMinutes) },
    policies: {
      offHours: system.offHours,
      backup: system.backup ?? null,
      ecr: system.ecr ?? null,
      health: system.health,
      alarms: system.alarms,
      notifications: system.notifications,
    },
    /** Which guide alarms deploy (bound to the system's resources) and why the others do not. */
    deployedAlarms: system.deploy ? bindGuideAlarms(system).alarms.map((a) => a.id) : [],
    alarmsNotDeployed: system.deploy
      ? bindGuideAlarms(system).unbound.map((u) => ({ id: u.id, reason: u.reason }))
      : [{ id: "*", reason: "local-only system (deploy: false)" }],
    schedules: fleet.schedules
      .filter((s) => s.system === system.id)
      .map((s) => ({ id: s.id, runbook: s.runbook, expression: s.expression, timezone: s.timezone })),
    defaults: system.defaults,
  };
}

/** `ops systems [--json]`: the fleet with runtime, DR targets and policies. */
export function systemsCommand(io: CliIo, fleet: Fleet, options: { json: boolean }): number {
  if (options.json) {
    writeJson(
      io,
      fleet.systems.map((s) => describeSystem(s, fleet)),
    );
    return EXIT.ok;
  }
  const rows = fleet.systems.map((s) => [
    s.id,
    s.account.region,
    s.timezone,
    runtimeLine(s),
    hours(s.dr.rtoMinutes),
    hours(s.dr.rpoMinutes),
    s.dr.drillSource,
    s.offHours.enabled ? `${s.offHours.start}-${s.offHours.end} floor ${s.offHours.floor}` : "off",
    s.backup
      ? `${s.backup.retention.keepDaily}d/${s.backup.retention.keepWeekly}w/${s.backup.retention.keepMonthly}m`
      : "-",
  ]);
  io.out.write(
    `${table(["system", "region", "timezone", "runtime", "RTO", "RPO", "drill", "off-hours", "retention"], rows)}\n`,
  );
  const unbound = fleet.systems.filter((s) => s.deploy).flatMap((s) => bindGuideAlarms(s).unbound);
  if (unbound.length > 0) {
    io.out.write("\nalarms not deployed (the catalogue cannot bind them to a resource):\n");
    for (const u of unbound) io.out.write(`${foldLine(`  ${u.id}: `, u.reason, "      ")}\n`);
  }
  io.out.write(`\n${plural(fleet.systems.length, "system")} from ${fleet.source}\n`);
  return EXIT.ok;
}
