import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { createPostgresPort, type PostgresPort } from "./postgres/port.js";
import { createPgTools, type PgToolsPort } from "./postgres/tools.js";
import { parseSettings, type Settings } from "./settings.js";
import { createTempDirPort, type TempDirPort } from "./tempdir.js";

/** The ports of a runbook's context that are not AWS clients. */
export interface Ports {
  settings: Settings;
  postgres: PostgresPort;
  pgTools: PgToolsPort;
  tempDir: TempDirPort;
}

/**
 * The real ports for one run, from the edge's environment (parsed once: a bad variable throws a
 * `ValidationError` naming it) and the system's Secrets Manager client; `overrides` replace any of them
 * (a test's fake PostgreSQL, a fixed temp root).
 */
export function createPorts(options: {
  env: Readonly<Record<string, string | undefined>>;
  secrets: SecretsManagerClient;
  overrides?: Partial<Ports>;
}): Ports {
  const settings = options.overrides?.settings ?? parseSettings(options.env);
  return {
    settings,
    postgres: options.overrides?.postgres ?? createPostgresPort({ secrets: options.secrets, env: options.env }),
    pgTools:
      options.overrides?.pgTools ??
      createPgTools({ extraDirs: settings.pgBinDirs, path: settings.path, env: options.env }),
    tempDir: options.overrides?.tempDir ?? createTempDirPort(settings.tempDir),
  };
}
