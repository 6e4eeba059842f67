import { z } from "zod";

/**
 * A database's dump format (`databases[].backup`): a file of its own so the schema, the backup runbook and
 * the drill share one definition.
 *
 * - `custom` (default): `pg_dump -Fc` streamed straight into one S3 object, no local disk.
 * - `directory`: `pg_dump -Fd -j N` into a local directory, each file uploaded as it completes; a restore
 *   runs `pg_restore -j N`. It needs local disk, so it runs in the Fargate task or a plain process only.
 */
export const DUMP_FORMATS = ["custom", "directory"] as const;

/** Parallel pg_dump workers of a directory dump: each holds a connection and a core's worth of work. */
export const DUMP_JOBS = { min: 1, max: 16, default: 2 } as const;

const jobsMessage = `must be a whole number of pg_dump workers from ${DUMP_JOBS.min} to ${DUMP_JOBS.max} (default ${DUMP_JOBS.default})`;

export const databaseBackupSchema = z
  .strictObject({
    format: z
      .enum(DUMP_FORMATS, { message: `must be one of ${DUMP_FORMATS.map((f) => `"${f}"`).join(", ")}` })
      .default("custom"),
    /** `pg_dump -j` / `pg_restore -j` of a directory dump. */
    jobs: z
      .number({ message: jobsMessage })
      .int({ message: jobsMessage })
      .min(DUMP_JOBS.min, { message: jobsMessage })
      .max(DUMP_JOBS.max, { message: jobsMessage })
      .optional(),
  })
  .superRefine((value, ctx) => {
    if (value.format === "custom" && value.jobs !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["jobs"],
        message: `jobs applies to format "directory" only (pg_dump -Fc writes one stream, with one worker); remove it or set format: "directory"`,
      });
    }
  });

/** A database's dump format and workers, defaults filled in. */
export interface DumpFormat {
  format: (typeof DUMP_FORMATS)[number];
  jobs: number;
}

/** The format a database is dumped in: its `backup` section, else custom with one worker. */
export function dumpFormatOf(database: {
  backup?: { format?: DumpFormat["format"]; jobs?: number | undefined } | undefined;
}): DumpFormat {
  const format = database.backup?.format ?? "custom";
  return { format, jobs: format === "directory" ? (database.backup?.jobs ?? DUMP_JOBS.default) : 1 };
}
