import { builtinSystems } from "../systems/builtin.js";
import type { ScheduleInput } from "./schema.js";

/**
 * Backups and retention for every system with a backup section (systems with `deploy: false`, like the
 * demo, run from `npm start`, not on a schedule). Times are local to each system: 03:00 is PartPal's RDS backup window (SAST) and IMS 2.0's
 * stated "3 AM UTC"; the other guides give no time, and 03:00 local is the quiet hour they share.
 */
export const backupSchedules: ScheduleInput[] = builtinSystems
  .filter((s) => s.backup && s.deploy !== false)
  .flatMap((s) => [
    {
      system: s.id,
      runbook: "backup",
      expression: "cron(0 3 * * ? *)",
      description: "daily pg_dump of every database to S3 with a manifest, 03:00 local",
    },
    {
      // Every 6 hours from 03:30, half an hour after the backup: each run publishes BackupAgeSeconds for
      // the freshness alarm, and pruning is idempotent (it deletes only what retention says).
      system: s.id,
      runbook: "prune-backups",
      expression: "cron(30 3/6 * * ? *)",
      description: "retention and backup-age metric, every 6 h from 03:30 local",
    },
  ]);
