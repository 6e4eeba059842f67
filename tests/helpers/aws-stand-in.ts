import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { signRequest } from "../../lib/aws/sigv4.js";

/** Credentials the stand-in accepts (and the clients under test sign with). */
export const STAND_IN_CREDENTIALS = { accessKeyId: "AKIDSTANDIN", secretAccessKey: "stand-in-secret" } as const;

/** A Lambda `Invoke` the stand-in received. */
export interface RecordedInvoke {
  functionName: string;
  invocationType: string | undefined;
  payload: string;
}

/**
 * A real HTTP server speaking the subset of three AWS APIs the slash command uses, the way the API
 * references describe them: S3 PutObject/GetObject path-style (`If-None-Match: *` → 412 when the key
 * exists, `If-Match` → 412 when the ETag differs, GET of a missing key → 404 NoSuchKey), Lambda Invoke
 * (`X-Amz-Invocation-Type: Event` → 202, no body), S3 ListObjectsV2 (`list-type=2`, `prefix`, one page) and Secrets Manager GetSecretValue (JSON 1.1). Every
 * request must carry a SigV4 signature that matches the bytes received, signed with
 * {@link STAND_IN_CREDENTIALS}: a header the client signed but sent differently fails here with 403.
 */
export async function startAwsStandIn(options: { secrets?: Record<string, string>; region?: string } = {}) {
  const objects = new Map<string, { body: string; etag: string; contentType?: string }>();
  const invokes: RecordedInvoke[] = [];
  const failInvoke = { next: false };
  let version = 0;
  const region = options.region ?? "us-east-1";

  const lambda = (req: IncomingMessage, res: ServerResponse, body: string) => {
    const name = decodeURIComponent(/\/functions\/([^/]+)\/invocations$/.exec(req.url ?? "")?.[1] ?? "");
    if (failInvoke.next) {
      failInvoke.next = false;
      return res.writeHead(429, { "x-amzn-errortype": "TooManyRequestsException" }).end("{}");
    }
    invokes.push({ functionName: name, invocationType: header(req, "x-amz-invocation-type"), payload: body });
    return res.writeHead(202).end();
  };
  const secretsManager = (res: ServerResponse, body: string) => {
    const value = options.secrets?.[(JSON.parse(body) as { SecretId?: string }).SecretId ?? ""];
    const type = { "content-type": "application/x-amz-json-1.1" };
    if (value === undefined) {
      return res
        .writeHead(400, type)
        .end(JSON.stringify({ __type: "ResourceNotFoundException", message: "not found" }));
    }
    return res.writeHead(200, type).end(JSON.stringify({ SecretString: value }));
  };
  const s3 = (req: IncomingMessage, res: ServerResponse, body: string) => {
    const key = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname.slice(1));
    const current = objects.get(key);
    if (req.method === "GET") {
      if (!current) return xmlError(res, 404, "NoSuchKey");
      return res.writeHead(200, { etag: current.etag, "content-type": current.contentType ?? "" }).end(current.body);
    }
    if (req.method !== "PUT") return xmlError(res, 405, "MethodNotAllowed");
    const refused = conditionFails(current?.etag, header(req, "if-none-match"), header(req, "if-match"));
    if (refused) return xmlError(res, refused.status, refused.code);
    const etag = `"v${++version}"`;
    const contentType = header(req, "content-type");
    objects.set(key, { body, etag, ...(contentType ? { contentType } : {}) });
    return res.writeHead(200, { etag }).end();
  };

  const s3List = (res: ServerResponse, bucket: string, query: URLSearchParams) =>
    res.writeHead(200, { "content-type": "application/xml" }).end(listing(objects, bucket, query));

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const service = serviceOf(req);
    if (!signatureMatches(req, body, service, region)) return xmlError(res, 403, "SignatureDoesNotMatch");
    if (service === "lambda") return lambda(req, res, body);
    if (service === "secretsmanager") return secretsManager(res, body);
    const url = new URL(req.url ?? "/", "http://x");
    if (req.method === "GET" && url.searchParams.get("list-type") === "2") {
      return s3List(res, decodeURIComponent(url.pathname.slice(1)), url.searchParams);
    }
    return s3(req, res, body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    objects,
    invokes,
    /** The next Invoke is refused (429), as Lambda does when throttled. */
    failNextInvoke: () => {
      failInvoke.next = true;
    },
    /** The environment that points the command function's client at this server. */
    env: {
      AWS_REGION: region,
      AWS_ENDPOINT_URL_S3: `${url}/s3`,
      AWS_ENDPOINT_URL_LAMBDA: `${url}/lambda`,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: `${url}/secretsmanager`,
      AWS_ACCESS_KEY_ID: STAND_IN_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: STAND_IN_CREDENTIALS.secretAccessKey,
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** ListObjectsV2's `ListBucketResult` of one bucket's keys under a prefix, in key order, one page. */
function listing(objects: Map<string, { etag: string }>, bucket: string, query: URLSearchParams): string {
  const prefix = `${bucket}/${query.get("prefix") ?? ""}`;
  const xml = (t: string) => t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/"/g, "&quot;");
  const contents = [...objects.entries()]
    .filter(([k]) => k.startsWith(prefix))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, o]) => `<Contents><Key>${xml(k.slice(bucket.length + 1))}</Key><ETag>${xml(o.etag)}</ETag></Contents>`);
  return `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>${bucket}</Name><KeyCount>${contents.length}</KeyCount><IsTruncated>false</IsTruncated>${contents.join("")}</ListBucketResult>`;
}

/** S3's conditional writes: `If-None-Match: *` on an existing key, `If-Match` on a missing or changed one. */
function conditionFails(etag: string | undefined, ifNoneMatch: string | undefined, ifMatch: string | undefined) {
  if (ifNoneMatch === "*" && etag) return { status: 412, code: "PreconditionFailed" };
  if (ifMatch && !etag) return { status: 404, code: "NoSuchKey" };
  if (ifMatch && etag !== ifMatch) return { status: 412, code: "PreconditionFailed" };
  return undefined;
}

const header = (req: IncomingMessage, name: string) => {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(",") : v;
};

function serviceOf(req: IncomingMessage): "s3" | "lambda" | "secretsmanager" {
  if (req.url?.startsWith("/lambda/")) return "lambda";
  if (req.url?.startsWith("/secretsmanager")) return "secretsmanager";
  // Strip the "/s3" endpoint prefix so that the bucket is the first segment.
  req.url = req.url?.replace(/^\/s3/, "") ?? "/";
  return "s3";
}

/** Re-signs what was received with the headers the client says it signed; the signatures must agree. */
function signatureMatches(req: IncomingMessage, body: string, service: string, region: string): boolean {
  const auth = header(req, "authorization") ?? "";
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
      auth,
    );
  if (!m || m[1] !== STAND_IN_CREDENTIALS.accessKeyId || m[3] !== region || m[4] !== service) return false;
  const date = header(req, "x-amz-date") ?? "";
  // What signRequest adds itself; other services' clients may sign x-amz-content-sha256 as a plain header.
  const added = ["host", "x-amz-date", ...(service === "s3" ? ["x-amz-content-sha256"] : [])];
  const signed = (m[5] ?? "").split(";").filter((n) => !added.includes(n));
  const headers = Object.fromEntries(signed.map((n) => [n, header(req, n) ?? ""]));
  const path = service === "s3" ? `/s3${req.url}` : (req.url ?? "/");
  const again = signRequest(
    { method: req.method ?? "GET", url: new URL(path, `http://${header(req, "host")}`), headers, body },
    {
      service,
      region,
      credentials: STAND_IN_CREDENTIALS,
      now: new Date(
        `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}T${date.slice(9, 11)}:${date.slice(11, 13)}:${date.slice(13, 15)}Z`,
      ),
      s3: service === "s3",
    },
  );
  return again.authorization === auth;
}

function xmlError(res: ServerResponse, status: number, code: string) {
  res
    .writeHead(status, { "content-type": "application/xml" })
    .end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`);
}
