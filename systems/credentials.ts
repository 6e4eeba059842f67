import { z } from "zod";

/** Where a database's credentials come from; never the credentials themselves. */
export const credentialsSchema = z.discriminatedUnion("source", [
  z.strictObject({
    source: z.literal("secrets-manager"),
    /** An RDS-format secret: {username, password, host, port, dbname}. */
    secretId: z.string().min(1),
  }),
  z.strictObject({
    source: z.literal("env"),
    /** Name of an environment variable holding a postgres:// URL. */
    variable: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "must be an environment variable name"),
    /**
     * Name of an environment variable holding the password, for a URL that carries none (a password
     * kept out of the URL stays out of every place a URL gets copied to). Else PGPASSWORD, then .pgpass.
     */
    passwordVariable: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/, "must be an environment variable name")
      .optional(),
  }),
]);
