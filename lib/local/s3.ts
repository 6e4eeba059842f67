import { mkdir } from "node:fs/promises";
import { S3Client } from "@aws-sdk/client-s3";
import S3rver from "s3rver";

/** An S3-protocol server on 127.0.0.1 that this process started. */
export interface LocalS3 {
  endpoint: string;
  /** Environment that points the standard AWS SDK clients at this server. */
  env: Record<string, string>;
  /** A client configured like the SDK would be from {@link LocalS3.env}. */
  client(): S3Client;
  stop(): Promise<void>;
}

/** Options of {@link startLocalS3}. */
export interface LocalS3Options {
  /** Where objects are stored; reused across runs so history accumulates. */
  directory: string;
  buckets: string[];
  port?: number;
}

export const LOCAL_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

/**
 * Starts s3rver on 127.0.0.1. Clients must address it path-style, and must not add streaming checksums
 * (`WHEN_REQUIRED`): with the SDK's default trailing checksums, the server stores corrupted bodies.
 */
export async function startLocalS3(options: LocalS3Options): Promise<LocalS3> {
  await mkdir(options.directory, { recursive: true });
  const server = new S3rver({
    address: "127.0.0.1",
    port: options.port ?? 0,
    directory: options.directory,
    silent: true,
    configureBuckets: options.buckets.map((name) => ({ name, configs: [] })),
  });
  const address = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  const env = {
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_REQUEST_CHECKSUM_CALCULATION: "WHEN_REQUIRED",
    AWS_RESPONSE_CHECKSUM_VALIDATION: "WHEN_REQUIRED",
    OPS_S3_FORCE_PATH_STYLE: "1",
  };
  return {
    endpoint,
    env,
    client: () =>
      new S3Client({
        region: "us-east-1",
        endpoint,
        forcePathStyle: true,
        credentials: LOCAL_CREDENTIALS,
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
      }),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
