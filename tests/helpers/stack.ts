import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, type S3Client } from "@aws-sdk/client-s3";
import { type AwsClients, createAwsClients } from "../../lib/aws/clients.js";
import { type LocalPostgres, startLocalPostgres } from "../../lib/local/postgres.js";
import { type LocalS3, startLocalS3 } from "../../lib/local/s3.js";
import { makeTestCertificates, type TestCertificates } from "./certs.js";

/** A real PostgreSQL and a real S3-protocol server in a temp dir, for one test file. */
export interface TestStack {
  postgres: LocalPostgres;
  s3server: LocalS3;
  s3: S3Client;
  /** Standard clients whose S3 points at the local server (other services are not reachable). */
  clients: AwsClients;
  dir: string;
  /** The CA and server certificate when started with `tls`. */
  certs?: TestCertificates;
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** Options of {@link startTestStack}. */
export interface TestStackOptions {
  /** Serve PostgreSQL over TLS only, with a throwaway CA and certificate made here (see `certs`). */
  tls?: boolean;
}

/** Starts the stack; call `stop()` in `afterAll`. */
export async function startTestStack(buckets: string[] = [], options: TestStackOptions = {}): Promise<TestStack> {
  const dir = await mkdtemp(join(tmpdir(), "ops-it-"));
  const certs = options.tls ? await makeTestCertificates(dir) : undefined;
  const postgres = await startLocalPostgres({
    dataDir: join(dir, "pg"),
    durable: false,
    ...(certs ? { tls: certs } : {}),
  });
  const s3server = await startLocalS3({ directory: join(dir, "s3"), buckets });
  const s3 = s3server.client();
  // Standard clients for the services that are not reachable here; S3 is the local server's.
  const clients: AwsClients = { ...createAwsClients({ region: "us-east-1", maxAttempts: 2 }), s3 };
  return {
    postgres,
    s3server,
    s3,
    clients,
    dir,
    ...(certs ? { certs } : {}),
    createBucket: async (name) => {
      await s3.send(new CreateBucketCommand({ Bucket: name }));
    },
    stop: async () => {
      await s3server.stop().catch(() => {});
      await postgres.stop().catch(() => {});
      await rm(dir, { recursive: true, force: true }).catch(() => {});
    },
  };
}
