import { Hash } from "@smithy/core/serde";
import { SignatureV4 } from "@smithy/signature-v4";
import type { AwsCredentialIdentity } from "@smithy/types";

/**
 * The bearer token an EKS cluster accepts from an IAM identity, made the way `aws eks get-token` makes it:
 * a presigned STS `GetCallerIdentity` URL with the cluster's name in the signed `x-k8s-aws-id` header,
 * base64url-encoded without padding behind `k8s-aws-v1.`. The cluster's authenticator calls that URL to learn
 * who we are; signing the header binds the token to one cluster (a token for another cluster is refused).
 */

/** Prefix of every EKS token. */
export const TOKEN_PREFIX = "k8s-aws-v1.";
/** The header naming the cluster; the authenticator refuses a token that did not sign it. */
export const CLUSTER_ID_HEADER = "x-k8s-aws-id";
/**
 * `X-Amz-Expires` of the presigned URL. STS honours 15 minutes after `X-Amz-Date` whatever this says;
 * `aws eks get-token` sends 60, and authenticators up to 0.3.0 refuse anything above 60.
 */
export const PRESIGN_EXPIRES_SECONDS = 60;
/** How long the cluster accepts a token after it was signed (the authenticator's rule). */
export const TOKEN_LIFETIME_MS = 15 * 60_000;

/** Options of {@link eksToken}. */
export interface EksTokenOptions {
  /** The cluster's name (what `aws eks get-token --cluster-name` takes). */
  cluster: string;
  /** Region of the STS endpoint signed for: the cluster's region. */
  region: string;
  credentials: AwsCredentialIdentity | (() => Promise<AwsCredentialIdentity>);
  /** Signing time: the injected clock. */
  now: Date;
}

/** A token and the instant after which it must not be sent (a minute before the cluster stops accepting it). */
export interface EksToken {
  token: string;
  expiresAt: Date;
}

/** The regional STS host (`sts.<region>.amazonaws.com`; `.com.cn` in China), which the authenticator accepts. */
export function stsHost(region: string): string {
  return `sts.${region}.amazonaws.com${region.startsWith("cn-") ? ".cn" : ""}`;
}

/** Makes a token for `cluster` (see the module comment). Secrets stay inside the signature: log nothing of it. */
export async function eksToken(options: EksTokenOptions): Promise<EksToken> {
  const host = stsHost(options.region);
  const signer = new SignatureV4({
    credentials: options.credentials,
    region: options.region,
    service: "sts",
    sha256: Hash.bind(null, "sha256"),
  });
  const signed = await signer.presign(
    {
      method: "GET",
      protocol: "https:",
      hostname: host,
      path: "/",
      query: { Action: "GetCallerIdentity", Version: "2011-06-15" },
      headers: { host, [CLUSTER_ID_HEADER]: options.cluster },
    },
    { expiresIn: PRESIGN_EXPIRES_SECONDS, signingDate: options.now },
  );
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(signed.query ?? {})) {
    for (const item of Array.isArray(value) ? value : [value]) if (item !== null) query.append(key, item);
  }
  const url = `https://${host}/?${query.toString()}`;
  return {
    token: TOKEN_PREFIX + Buffer.from(url, "utf8").toString("base64url"),
    expiresAt: new Date(options.now.getTime() + TOKEN_LIFETIME_MS - 60_000),
  };
}
