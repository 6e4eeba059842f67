import { DescribeClusterCommand, type DescribeClusterCommandOutput, type EKSClient } from "@aws-sdk/client-eks";
import type { AwsCredentialIdentity } from "@smithy/types";
import { RunbookError } from "../errors.js";
import { connectKube, type KubeApi } from "./client.js";
import { eksToken } from "./token.js";

/** The cluster could not be reached: not found, not ACTIVE, or DescribeCluster gave no endpoint or CA. */
export class EksClusterError extends RunbookError {}

/** Options of {@link connectEks}. */
export interface ConnectEksOptions {
  eks: EKSClient;
  /** The cluster's name in the catalogue (an ARN's last segment is used as the name). */
  cluster: string;
  region: string;
  /** Signing time of the token: the run's clock. */
  now: Date;
  /** The identity the token is signed with; default: the EKS client's own credentials (the function's role). */
  credentials?: () => Promise<AwsCredentialIdentity>;
}

/** A connection to one cluster and when its token stops being accepted. */
export interface EksConnection {
  api: KubeApi;
  server: string;
  tokenExpiresAt: Date;
}

/**
 * Connects to an EKS cluster as the function's IAM identity: `eks:DescribeCluster` gives the API server's
 * endpoint and CA (the server is verified against that CA, never skipped), and a token from
 * {@link eksToken} authenticates. The token lives 14 minutes, longer than any scaling run (≤ 5 min), so one
 * connection per run needs no refresh; a caller that runs longer stops before `tokenExpiresAt`.
 */
export async function connectEks(options: ConnectEksOptions): Promise<EksConnection> {
  const name = options.cluster.startsWith("arn:")
    ? (options.cluster.split("/").pop() ?? options.cluster)
    : options.cluster;
  let described: DescribeClusterCommandOutput;
  try {
    described = await options.eks.send(new DescribeClusterCommand({ name }));
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new EksClusterError(`eks:DescribeCluster ${name} failed: ${detail}`, { cause: error });
  }
  const { cluster } = described;
  if (!cluster) throw new EksClusterError(`eks:DescribeCluster returned no cluster for ${name}`);
  if (cluster.status && cluster.status !== "ACTIVE") {
    throw new EksClusterError(`cluster ${name} is ${cluster.status}, not ACTIVE: its API cannot be used now`);
  }
  if (!cluster.endpoint || !cluster.certificateAuthority?.data) {
    throw new EksClusterError(`eks:DescribeCluster gave no endpoint or certificate authority for ${name}`);
  }
  const credentials = options.credentials ?? (options.eks.config.credentials as () => Promise<AwsCredentialIdentity>);
  const token = await eksToken({ cluster: name, region: options.region, credentials, now: options.now });
  return {
    api: connectKube({ server: cluster.endpoint, caData: cluster.certificateAuthority.data, token: token.token }),
    server: cluster.endpoint,
    tokenExpiresAt: token.expiresAt,
  };
}
