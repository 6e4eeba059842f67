import { z } from "zod";

/**
 * The manifest that makes a dump a backup: written only after pg_dump exited 0 and the upload
 * completed, it records what a restore needs to check (bytes, sha256) and what a person needs to know.
 */
export const manifestSchema = z
  .object({
    version: z.literal(1),
    system: z.string(),
    database: z.string(),
    databaseName: z.string(),
    bucket: z.string(),
    key: z.string(),
    bytes: z.number().int().min(0),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    /** `custom`: one object at `key`; `directory`: the files below `key/`, each in `files` (absent: custom). */
    format: z.enum(["custom", "directory"]),
    compression: z.number().int().min(0).max(9),
    serverVersion: z.string(),
    pgDumpVersion: z.string(),
    databaseBytes: z.number().min(0),
    startedAt: z.string(),
    finishedAt: z.string(),
    durationMs: z.number().min(0),
    tables: z.array(
      z.object({
        schema: z.string(),
        name: z.string(),
        rowsEstimate: z.number(),
        bytes: z.number(),
        /** Exact count in the dump's own snapshot (absent in older manifests, or when it could not be counted). */
        rows: z.number().int().min(0).optional(),
      }),
    ),
    encryption: z.enum(["aws:kms", "AES256"]),
    /**
     * A directory backup's files (`<key>/<name>`), each with its size and sha256. Then `bytes` is their
     * total and `sha256` the digest of this list (`runbooks/backup/directory.ts`), so a check of the whole
     * backup is one comparison, as for a custom dump.
     */
    files: z
      .array(
        z.object({
          name: z.string().regex(/^[A-Za-z0-9._-]+$/),
          bytes: z.number().int().min(0),
          sha256: z.string().regex(/^[0-9a-f]{64}$/),
        }),
      )
      .optional(),
    /** `pg_dump -j` of a directory backup. */
    jobs: z.number().int().min(1).optional(),
  })
  .superRefine((m, ctx) => {
    if (m.format === "directory" && !m.files?.length)
      ctx.addIssue({ code: "custom", path: ["files"], message: "a directory backup lists its files" });
    if (m.format === "custom" && m.files !== undefined)
      ctx.addIssue({ code: "custom", path: ["files"], message: "a custom-format backup is one object: no files" });
  });

/** A backup's manifest. */
export type Manifest = z.infer<typeof manifestSchema>;
