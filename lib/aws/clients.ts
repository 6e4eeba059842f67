import { ApplicationAutoScalingClient } from "@aws-sdk/client-application-auto-scaling";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { ECRClient } from "@aws-sdk/client-ecr";
import { ECSClient } from "@aws-sdk/client-ecs";
import { EKSClient } from "@aws-sdk/client-eks";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { RDSClient } from "@aws-sdk/client-rds";
import { S3Client } from "@aws-sdk/client-s3";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { fromTemporaryCredentials } from "@aws-sdk/credential-providers";
import type { System } from "../../systems/schema.js";

/** The AWS clients a runbook may use, for one system's account and region. */
export interface AwsClients {
  readonly s3: S3Client;
  readonly ecs: ECSClient;
  readonly eks: EKSClient;
  readonly autoscaling: ApplicationAutoScalingClient;
  readonly ecr: ECRClient;
  readonly rds: RDSClient;
  readonly cloudwatch: CloudWatchClient;
  readonly secrets: SecretsManagerClient;
  /** Read by ecr-cleanup: which functions run which container images. */
  readonly lambda: LambdaClient;
}

/** Options of {@link createAwsClients}. */
export interface AwsClientOptions {
  region: string;
  /** Assumed for every call: one deployment can serve systems in other accounts. */
  roleArn?: string;
  externalId?: string;
  /** Path-style S3 addressing, for S3-protocol servers on 127.0.0.1. */
  s3ForcePathStyle?: boolean;
  /** Retries, SDK adaptive mode (client-side rate limiting on throttling). */
  maxAttempts?: number;
}

/**
 * Builds the clients lazily: a runbook that only touches S3 never pays for constructing the others
 * at cold start. Clients are made the standard way, so `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>`
 * and the SDK's checksum settings (`AWS_REQUEST_CHECKSUM_CALCULATION`) apply unchanged.
 */
export function createAwsClients(options: AwsClientOptions): AwsClients {
  const common = {
    region: options.region,
    retryMode: "adaptive",
    maxAttempts: options.maxAttempts ?? 6,
    ...(options.roleArn
      ? {
          credentials: fromTemporaryCredentials({
            params: {
              RoleArn: options.roleArn,
              RoleSessionName: "ops-autopilot",
              ...(options.externalId ? { ExternalId: options.externalId } : {}),
            },
            clientConfig: { region: options.region },
          }),
        }
      : {}),
  } as const;
  const cache = new Map<string, unknown>();
  const lazy = <T>(key: string, make: () => T): T => {
    if (!cache.has(key)) cache.set(key, make());
    return cache.get(key) as T;
  };
  return {
    get s3() {
      return lazy("s3", () => new S3Client({ ...common, forcePathStyle: options.s3ForcePathStyle ?? false }));
    },
    get ecs() {
      return lazy("ecs", () => new ECSClient(common));
    },
    get eks() {
      return lazy("eks", () => new EKSClient(common));
    },
    get autoscaling() {
      return lazy("autoscaling", () => new ApplicationAutoScalingClient(common));
    },
    get ecr() {
      return lazy("ecr", () => new ECRClient(common));
    },
    get rds() {
      return lazy("rds", () => new RDSClient(common));
    },
    get cloudwatch() {
      return lazy("cloudwatch", () => new CloudWatchClient(common));
    },
    get secrets() {
      return lazy("secrets", () => new SecretsManagerClient(common));
    },
    get lambda() {
      return lazy("lambda", () => new LambdaClient(common));
    },
  };
}

const perAccount = new Map<string, AwsClients>();

/**
 * Clients for a system, built once per cold start and per account/region (systems sharing both share
 * connections).
 */
export function clientsForSystem(system: System, extra: Pick<AwsClientOptions, "s3ForcePathStyle"> = {}): AwsClients {
  const key = [system.account.region, system.account.roleArn ?? "", extra.s3ForcePathStyle ? "path" : ""].join("|");
  let clients = perAccount.get(key);
  if (!clients) {
    clients = createAwsClients({
      region: system.account.region,
      ...(system.account.roleArn ? { roleArn: system.account.roleArn } : {}),
      ...(system.account.externalId ? { externalId: system.account.externalId } : {}),
      ...extra,
    });
    perAccount.set(key, clients);
  }
  return clients;
}
