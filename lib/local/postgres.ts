import { execFile, spawnSync } from "node:child_process";
import { chmod, chown, copyFile, mkdir, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { basename, dirname, join } from "node:path";
import { promisify } from "node:util";
import { errorMessage, PrerequisiteError } from "../errors.js";
import type { PgConnection } from "../postgres/connection.js";
import { connect } from "../postgres/server.js";
import { findTools } from "../postgres/tools.js";

const run = promisify(execFile);

/** A PostgreSQL server this process started, for the demo, the integration tests and the benchmarks. */
export interface LocalPostgres {
  port: number;
  dataDir: string;
  /** Superuser connection to a database of this server. */
  connection(database?: string): PgConnection;
  url(database?: string): string;
  stop(): Promise<void>;
}

/** Options of {@link startLocalPostgres}. */
export interface LocalPostgresOptions {
  /** Cluster directory; created with `initdb` when empty, reused otherwise (state persists). */
  dataDir: string;
  port?: number;
  /** Skip fsync: for throwaway test clusters only. */
  durable?: boolean;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string>;
  /**
   * Serve TLS with this certificate and key (tests of verify-full): TCP connections must then use TLS —
   * `postgres` without a password, other roles with SCRAM — and {@link LocalPostgres.connection} returns
   * verify-full connections to `hostname` against `caFile`.
   */
  tls?: { certFile: string; keyFile: string; caFile: string; hostname: string };
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

const isRoot = () => process.getuid?.() === 0;

/** uid and gid of the `postgres` user, who owns clusters started as root. */
function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) => spawnSync("id", [flag, "postgres"], { encoding: "utf8" });
  const uid = id("-u");
  const gid = id("-g");
  if (uid.status !== 0 || gid.status !== 0) {
    throw new PrerequisiteError(
      "running as root needs a `postgres` user to own the cluster: apt-get install postgresql creates it",
    );
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/**
 * `initdb` and `postgres` refuse to run as root: as root, the cluster belongs to the `postgres` user and
 * every server program runs through `runuser`; as anyone else, directly.
 */
async function asServerUser(program: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  if (!isRoot()) return run(program, args, { timeout: 120_000 });
  return run("runuser", ["-u", "postgres", "--", program, ...args], { timeout: 120_000 });
}

async function serverBinDir(): Promise<string> {
  const tools = await findTools({ name: "initdb", path: process.env.PATH ?? "" });
  const newest = tools.sort((a, b) => b.major - a.major)[0];
  if (!newest) {
    throw new PrerequisiteError(
      "PostgreSQL server binaries (initdb) not found: run `bash scripts/ensure-deps.sh` (installs Debian's postgresql as root) or install PostgreSQL",
    );
  }
  return dirname(newest.path);
}

/** Makes every parent of `dir` traversable so the postgres user can reach a cluster created by root. */
async function openParents(dir: string): Promise<void> {
  let current = dirname(dir);
  while (current !== dirname(current)) {
    const info = await stat(current);
    if ((info.mode & 0o001) === 0) await chmod(current, info.mode | 0o001);
    current = dirname(current);
  }
}

/**
 * Server settings for TLS: the certificate and key copied into the cluster (the server insists on a key
 * only its owner can read) and an hba file under which TCP without TLS matches no line, so is refused.
 */
async function tlsSettings(
  dataDir: string,
  tls: NonNullable<LocalPostgresOptions["tls"]>,
): Promise<Record<string, string>> {
  const cert = join(dataDir, "server.crt");
  const key = join(dataDir, "server.key");
  const hba = join(dataDir, "pg_hba_tls.conf");
  await copyFile(tls.certFile, cert);
  await copyFile(tls.keyFile, key);
  await writeFile(
    hba,
    [
      "local all all trust",
      "hostssl all postgres 127.0.0.1/32 trust",
      "hostssl all all 127.0.0.1/32 scram-sha-256",
      "",
    ].join("\n"),
  );
  await chmod(key, 0o600);
  if (isRoot()) {
    const owner = postgresUser();
    for (const path of [cert, key, hba]) await chown(path, owner.uid, owner.gid);
  }
  return { ssl: "on", ssl_cert_file: cert, ssl_key_file: key, hba_file: hba };
}

/** Starts (initialising if needed) a PostgreSQL server on 127.0.0.1 with trust authentication. */
export async function startLocalPostgres(options: LocalPostgresOptions): Promise<LocalPostgres> {
  const bin = await serverBinDir();
  const dataDir = options.dataDir;
  const socketDir = join(dataDir, "..", `${basename(dataDir)}-socket`);
  const logFile = join(dataDir, "..", `${basename(dataDir)}.log`);
  await mkdir(dataDir, { recursive: true });
  await mkdir(socketDir, { recursive: true });
  await writeFile(logFile, "", { flag: "a" });
  if (isRoot()) {
    const owner = postgresUser();
    await openParents(dataDir);
    for (const path of [dataDir, socketDir, logFile]) await chown(path, owner.uid, owner.gid);
  }
  await chmod(dataDir, 0o700);
  const initialised = await stat(join(dataDir, "PG_VERSION")).then(
    () => true,
    () => false,
  );
  if (!initialised) {
    try {
      await asServerUser(join(bin, "initdb"), [
        "-D",
        dataDir,
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-sync",
      ]);
    } catch (error) {
      throw new PrerequisiteError(`initdb failed in ${dataDir}: ${errorMessage(error)}`, { cause: error });
    }
  }
  const port = options.port ?? (await freePort());
  const settings = {
    listen_addresses: "127.0.0.1",
    unix_socket_directories: socketDir,
    ...(options.durable === false ? { fsync: "off", synchronous_commit: "off", full_page_writes: "off" } : {}),
    ...(options.tls ? await tlsSettings(dataDir, options.tls) : {}),
    ...options.settings,
  };
  const serverOptions = [`-p ${port}`, ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`)].join(" ");
  try {
    await asServerUser(join(bin, "pg_ctl"), [
      "-D",
      dataDir,
      "-o",
      serverOptions,
      "-l",
      logFile,
      "-w",
      "-t",
      "60",
      "start",
    ]);
  } catch (error) {
    throw new PrerequisiteError(`PostgreSQL did not start (log: ${logFile}): ${errorMessage(error)}`, { cause: error });
  }
  // Without a certificate the server listens on 127.0.0.1 only, in clear: its connections say so.
  const tls = options.tls;
  const connection = (database = "postgres"): PgConnection =>
    tls
      ? { host: tls.hostname, port, user: "postgres", database, sslmode: "verify-full", sslrootcert: tls.caFile }
      : { host: "127.0.0.1", port, user: "postgres", database, sslmode: "disable" };
  // pg_ctl -w returns when the server accepts connections; one round trip proves it for TCP.
  const probe = await connect(connection());
  await probe.end();
  return {
    port,
    dataDir,
    connection,
    url: (database = "postgres") =>
      tls
        ? `postgres://postgres@${tls.hostname}:${port}/${database}?sslmode=verify-full`
        : `postgres://postgres@127.0.0.1:${port}/${database}?sslmode=disable`,
    stop: () => stopLocalPostgres(dataDir),
  };
}

/** Stops the server of a cluster directory (fast shutdown); nothing when it is not running. */
export async function stopLocalPostgres(dataDir: string): Promise<void> {
  const bin = await serverBinDir();
  await asServerUser(join(bin, "pg_ctl"), ["-D", dataDir, "-m", "fast", "-w", "stop"]).catch(() => {});
}
