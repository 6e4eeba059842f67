import { createHash, createHmac } from "node:crypto";

/**
 * AWS Signature Version 4 for the few requests the `/ops` command function makes (Lambda Invoke, S3
 * Put/Get, Secrets Manager GetSecretValue). Hand-written instead of the SDK's signer because the SDK's
 * clients are what made the command function's bundle 755 KB (@smithy/core, the S3 and Lambda clients):
 * Slack's 3 s bites at cold start (bolt-js #1643). Checked against AWS's published SigV4 test vectors
 * (tests/unit/aws-sigv4.test.ts) and against a server that verifies signatures (s3rver).
 */

/** Credentials as Lambda puts them in the environment. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** A request to sign: the URL as sent, its headers (any case) and its body. */
export interface SignableRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: string | Uint8Array;
}

/** Options of {@link signRequest}. */
export interface SignOptions {
  service: string;
  region: string;
  credentials: AwsCredentials;
  now: Date;
  /** S3 signs the payload hash as `x-amz-content-sha256` and does not double-encode the path. */
  s3?: boolean;
}

const sha256Hex = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data, "utf8").digest();

/** RFC 3986 percent-encoding, as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
export function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `20150830T123600Z`: the ISO basic format SigV4 uses. */
export function amzDate(now: Date): string {
  return now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

function canonicalPath(url: URL, s3: boolean): string {
  // The URL's pathname is already encoded once; S3 signs that, other services encode it again.
  const segments = url.pathname.split("/").map((s) => uriEncode(decodeURIComponent(s)));
  const once = segments.join("/") || "/";
  return s3 ? once : once.split("/").map(uriEncode).join("/");
}

function canonicalQuery(url: URL): string {
  return [...url.searchParams]
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([ak, av], [bk, bv]) => (ak === bk ? (av < bv ? -1 : 1) : ak < bk ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

/** The canonical request of SigV4 (exported for the test vectors). */
export function canonicalRequest(request: SignableRequest, options: { s3?: boolean; payloadHash: string }) {
  const headers = new Map<string, string>();
  for (const [name, value] of Object.entries(request.headers)) {
    headers.set(name.toLowerCase(), value.trim().replace(/\s+/g, " "));
  }
  const names = [...headers.keys()].sort();
  const signedHeaders = names.join(";");
  const text = [
    request.method.toUpperCase(),
    canonicalPath(request.url, options.s3 ?? false),
    canonicalQuery(request.url),
    ...names.map((n) => `${n}:${headers.get(n)}`),
    "",
    signedHeaders,
    options.payloadHash,
  ].join("\n");
  return { text, signedHeaders };
}

/** The signing key: HMAC chain over date, region, service and `aws4_request`. */
export function signingKey(secretAccessKey: string, day: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, day), region), service), "aws4_request");
}

/**
 * Returns the headers to send: the given ones plus `host`, `x-amz-date`, the session token and the
 * `authorization` header (and `x-amz-content-sha256` for S3). Every given header is signed.
 */
export function signRequest(request: SignableRequest, options: SignOptions): Record<string, string> {
  const date = amzDate(options.now);
  const day = date.slice(0, 8);
  const payloadHash = sha256Hex(request.body);
  const headers: Record<string, string> = {
    ...request.headers,
    host: request.url.host,
    "x-amz-date": date,
    ...(options.s3 ? { "x-amz-content-sha256": payloadHash } : {}),
    ...(options.credentials.sessionToken ? { "x-amz-security-token": options.credentials.sessionToken } : {}),
  };
  const canonical = canonicalRequest({ ...request, headers }, { s3: options.s3 ?? false, payloadHash });
  const scope = `${day}/${options.region}/${options.service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", date, scope, sha256Hex(canonical.text)].join("\n");
  const key = signingKey(options.credentials.secretAccessKey, day, options.region, options.service);
  const signature = createHmac("sha256", key).update(stringToSign, "utf8").digest("hex");
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${options.credentials.accessKeyId}/${scope}, SignedHeaders=${canonical.signedHeaders}, Signature=${signature}`;
  return headers;
}
