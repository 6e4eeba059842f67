import { z } from "zod";

/**
 * The manifest that makes a dump a backup: written only after pg_dump exited 0 and the upload
 * completed, it records what a restore needs to check (bytes, sha256) and what a person needs to know.
 */
export const manifestSchema = z.object({
  version: z.literal(1),
  system: z.string(),
  database: z.string(),
  databaseName: z.string(),
  bucket: z.string(),
  key: z.string(),
  bytes: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  format: z.literal("custom"),
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
});

/** A backup's manifest. */
export type Manifest = z.infer<typeof manifestSchema>;
