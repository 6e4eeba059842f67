import { createHash } from "node:crypto";
import { type AwsCredentials, signRequest } from "./sigv4.js";

/**
 * The three AWS APIs the `/ops` command function calls, over `fetch` and our own SigV4 signer
 * (lib/aws/sigv4.ts) instead of the SDK's clients, which were most of its 755 KB bundle:
 * Lambda Invoke (`InvocationType: Event`), S3 PutObject/GetObject (with `If-None-Match`/`If-Match`),
 * ListObjectsV2 (the approvals' expiry sweep) and
 * Secrets Manager GetSecretValue. Configured from the standard environment: the Lambda credentials
 * (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), `AWS_REGION`, and
 * `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` like the SDK, so a local S3 server stands in.
 */

/** An AWS API answered with an error status; `name` is AWS's error code where the body has one. */
export class AwsHttpError extends Error {
  override name: string;
  constructor(
    readonly service: string,
    readonly status: number,
    code: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(`${service} answered ${status}${code ? ` ${code}` : ""}`, options);
    this.name = code ?? `Http${status}`;
  }
}

/** Options of {@link awsFetchClient}. */
export interface AwsFetchOptions {
  region: string;
  credentials: () => AwsCredentials;
  /** Per service (`s3`, `lambda`, `secretsmanager`): the endpoint to use instead of AWS's. */
  endpoints?: Partial<Record<Service, string>>;
  now?: () => Date;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

type Service = "s3" | "lambda" | "secretsmanager";

/** What a conditional put did: written, or refused by its condition (412 / 409). */
export type PutOutcome = { written: true; etag?: string } | { written: false };

/** The small AWS client of the command function. */
export interface AwsFetchClient {
  invokeEvent(functionName: string, payload: string): Promise<void>;
  getSecretString(secretId: string): Promise<string>;
  putObject(input: PutObjectInput): Promise<PutOutcome>;
  /** The object's body and ETag, or undefined when there is no such key. */
  getObject(bucket: string, key: string): Promise<{ body: string; etag?: string } | undefined>;
  /** One page of ListObjectsV2 under `prefix` (the approvals' expiry sweep); `nextToken` when there are more. */
  listObjects(bucket: string, options: { prefix: string; token?: string }): Promise<ListedPage>;
}

/** One key of a listing. */
export interface ListedObject {
  key: string;
  etag?: string;
}

/** One page of a listing. */
export interface ListedPage {
  objects: ListedObject[];
  nextToken?: string;
}

/** A PutObject of a small text body. */
export interface PutObjectInput {
  bucket: string;
  key: string;
  body: string;
  contentType?: string;
  ifNoneMatch?: "*";
  ifMatch?: string;
  /** Send Content-MD5: buckets with Object Lock refuse writes without an integrity header. */
  md5?: boolean;
  serverSideEncryption?: "AES256";
}

/** The client, configured from the environment as Lambda sets it. */
export function awsFetchClientFromEnv(env: Record<string, string | undefined>): AwsFetchClient {
  const endpoint = (service: string) => env[`AWS_ENDPOINT_URL_${service.toUpperCase()}`] ?? env.AWS_ENDPOINT_URL;
  const endpoints: Partial<Record<Service, string>> = {};
  for (const service of ["s3", "lambda", "secretsmanager"] as const) {
    const url = endpoint(service === "secretsmanager" ? "SECRETS_MANAGER" : service);
    if (url) endpoints[service] = url;
  }
  return awsFetchClient({
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1",
    endpoints,
    credentials: () => {
      const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = env;
      if (!accessKeyId || !secretAccessKey) {
        throw new Error("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are required (Lambda sets them)");
      }
      return {
        accessKeyId,
        secretAccessKey,
        ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
      };
    },
  });
}

/** Builds the client. */
export function awsFetchClient(options: AwsFetchOptions): AwsFetchClient {
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? (() => new Date());
  const base = (service: Service) =>
    options.endpoints?.[service]?.replace(/\/+$/, "") ?? `https://${service}.${options.region}.amazonaws.com`;

  async function send(service: Service, method: string, url: URL, headers: Record<string, string>, body = "") {
    const signed = signRequest(
      { method, url, headers, body },
      { service, region: options.region, credentials: options.credentials(), now: now(), s3: service === "s3" },
    );
    // fetch sets Host from the URL itself and refuses to be told.
    const { host: _host, ...sent } = signed;
    return doFetch(url, {
      method,
      headers: sent,
      ...(method === "GET" ? {} : { body }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 2000),
    });
  }

  /** S3 addresses a bucket by host at AWS and by path on a stand-in (no wildcard DNS on 127.0.0.1). */
  const objectUrl = (bucket: string, key: string) => {
    const path = key.split("/").map(encodeURIComponent).join("/");
    const custom = options.endpoints?.s3;
    return custom
      ? new URL(`${base("s3")}/${bucket}/${path}`)
      : new URL(`https://${bucket}.s3.${options.region}.amazonaws.com/${path}`);
  };

  return {
    async invokeEvent(functionName, payload) {
      const url = new URL(`${base("lambda")}/2015-03-31/functions/${encodeURIComponent(functionName)}/invocations`);
      const res = await send(
        "lambda",
        "POST",
        url,
        { "content-type": "application/json", "x-amz-invocation-type": "Event" },
        payload,
      );
      // An accepted asynchronous invocation is 202 with no payload.
      if (res.status !== 202) throw await errorOf("lambda", res);
    },
    async getSecretString(secretId) {
      const res = await send(
        "secretsmanager",
        "POST",
        new URL(`${base("secretsmanager")}/`),
        { "content-type": "application/x-amz-json-1.1", "x-amz-target": "secretsmanager.GetSecretValue" },
        JSON.stringify({ SecretId: secretId }),
      );
      if (!res.ok) throw await errorOf("secretsmanager", res);
      const out = (await res.json()) as { SecretString?: unknown };
      if (typeof out.SecretString !== "string") throw new Error(`secret ${secretId} has no SecretString`);
      return out.SecretString;
    },
    async putObject(input) {
      const res = await send("s3", "PUT", objectUrl(input.bucket, input.key), putHeaders(input), input.body);
      // 412: the condition failed; 409: a conditional write of the same key was in flight; 404 on If-Match: gone.
      if (res.status === 412 || res.status === 409 || (res.status === 404 && input.ifMatch)) {
        await res.body?.cancel();
        return { written: false };
      }
      if (!res.ok) throw await errorOf("s3", res);
      await res.body?.cancel();
      const etag = res.headers.get("etag");
      return etag ? { written: true, etag } : { written: true };
    },
    async getObject(bucket, key) {
      const res = await send("s3", "GET", objectUrl(bucket, key), {});
      if (res.status === 404) {
        await res.body?.cancel();
        return undefined;
      }
      if (!res.ok) throw await errorOf("s3", res);
      const etag = res.headers.get("etag");
      return { body: await res.text(), ...(etag ? { etag } : {}) };
    },
    async listObjects(bucket, { prefix, token }) {
      const custom = options.endpoints?.s3;
      const url = custom
        ? new URL(`${base("s3")}/${bucket}`)
        : new URL(`https://${bucket}.s3.${options.region}.amazonaws.com/`);
      url.searchParams.set("list-type", "2");
      url.searchParams.set("prefix", prefix);
      if (token) url.searchParams.set("continuation-token", token);
      const res = await send("s3", "GET", url, {});
      if (!res.ok) throw await errorOf("s3", res);
      return parseListing(await res.text());
    },
  };
}

/** XML entities S3 escapes in keys and ETags. */
const unescapeXml = (text: string) =>
  text
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");

/** ListObjectsV2's `ListBucketResult`: keys, ETags, and the continuation token of a truncated page. */
export function parseListing(xml: string): ListedPage {
  const objects: ListedObject[] = [];
  for (const [, contents = ""] of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
    const key = /<Key>([\s\S]*?)<\/Key>/.exec(contents)?.[1];
    const etag = /<ETag>([\s\S]*?)<\/ETag>/.exec(contents)?.[1];
    if (key !== undefined) objects.push({ key: unescapeXml(key), ...(etag ? { etag: unescapeXml(etag) } : {}) });
  }
  const truncated = /<IsTruncated>true<\/IsTruncated>/.test(xml);
  const next = /<NextContinuationToken>([\s\S]*?)<\/NextContinuationToken>/.exec(xml)?.[1];
  return { objects, ...(truncated && next ? { nextToken: unescapeXml(next) } : {}) };
}

/** PutObject's headers: content type, conditions, integrity, encryption. */
function putHeaders(input: PutObjectInput): Record<string, string> {
  const headers: Record<string, string> = { "content-type": input.contentType ?? "application/octet-stream" };
  if (input.ifNoneMatch) headers["if-none-match"] = input.ifNoneMatch;
  if (input.ifMatch) headers["if-match"] = input.ifMatch;
  if (input.md5) headers["content-md5"] = createHash("md5").update(input.body).digest("base64");
  if (input.serverSideEncryption) headers["x-amz-server-side-encryption"] = input.serverSideEncryption;
  return headers;
}

/** AWS's error code from an XML (S3) or JSON (Lambda, Secrets Manager) error body. */
async function errorOf(service: string, res: Response): Promise<AwsHttpError> {
  const text = await res.text().catch(() => "");
  const code =
    /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ??
    res.headers.get("x-amzn-errortype")?.split(":")[0] ??
    /"__type"\s*:\s*"(?:[^"#]*#)?([^"]+)"/.exec(text)?.[1];
  return new AwsHttpError(service, res.status, code);
}
