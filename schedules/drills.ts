import { builtinSystems } from "../systems/builtin.js";
import type { ScheduleInput } from "./schema.js";

/**
 * Restore drills and their janitor, for every deployed system with databases (the demo is drilled by
 * `npm start`). Cadence: monthly where the guide asks for it — PartPal IMS: "Test backup restoration",
 * monthly — weekly by default elsewhere, so a regression in restore time shows within days. Drills run at
 * 04:30 local: after the 03:00 backup and the 03:30 retention run, on a weekday morning (first Sunday of
 * the month for PartPal, outside its working week) so a failure is read the same day. The janitor runs
 * hourly: a drill's leftovers never outlive their deadline by more than an hour.
 */

/** Systems whose guide sets a monthly restore test. */
const MONTHLY: Record<string, string> = {
  "partpal-ims": "monthly restore test (guide: 'Test backup restoration')",
};

export const drillSchedules: ScheduleInput[] = builtinSystems
  .filter((s) => s.databases.length > 0 && s.deploy !== false)
  .flatMap((s): ScheduleInput[] => {
    const monthly = MONTHLY[s.id];
    const how = `${s.dr.drillSource}, RTO ${s.dr.rtoMinutes} min / RPO ${s.dr.rpoMinutes} min`;
    return [
      {
        system: s.id,
        runbook: "restore-drill",
        expression: monthly ? "cron(30 4 ? * SUN#1 *)" : "cron(30 4 ? * TUE *)",
        description: monthly
          ? `${monthly}: ${how}, first Sunday 04:30 local`
          : `weekly restore drill (default cadence): ${how}, Tuesday 04:30 local`,
      },
      {
        system: s.id,
        runbook: "drill-janitor",
        expression: "cron(15 * * * ? *)",
        description: "remove drill scratch copies past their deadline; continue RDS drills whose event was lost",
      },
    ];
  });
