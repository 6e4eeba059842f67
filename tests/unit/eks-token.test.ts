import { createHash, createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { eksToken } from "../../lib/kube/token.js";
import { CREDENTIALS } from "../helpers/aws-account.js";

// The token checked against AWS's Signature Version 4 rules for presigned URLs (query-string authentication:
// canonical request → string to sign → HMAC-SHA256 key chain), recomputed here independently, and against the
// checks the cluster's authenticator makes (aws-iam-authenticator's verifier: https, an STS host, path "/",
// only the whitelisted query parameters, Action=GetCallerIdentity, x-k8s-aws-id among the signed headers,
// X-Amz-Expires within 0..900).

const NOW = new Date("2026-11-23T16:00:30.250Z");
const WHITELIST = new Set([
  "action",
  "version",
  "x-amz-algorithm",
  "x-amz-credential",
  "x-amz-date",
  "x-amz-expires",
  "x-amz-security-token",
  "x-amz-signature",
  "x-amz-signedheaders",
]);

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");
const hmac = (key: Buffer | string, text: string) => createHmac("sha256", key).update(text, "utf8").digest();
/** RFC 3986 percent-encoding, as SigV4 requires (unreserved characters stay). */
const encode = (text: string) =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function decode(token: string): URL {
  expect(token.startsWith("k8s-aws-v1.")).toBe(true);
  const body = token.slice("k8s-aws-v1.".length);
  expect(body).toMatch(/^[A-Za-z0-9_-]+$/); // base64url, no padding
  return new URL(Buffer.from(body, "base64url").toString("utf8"));
}

/** The signature SigV4 gives this URL with these headers, computed from the rules. */
function expectedSignature(url: URL, headers: Record<string, string>, secret: string): string {
  const params = [...url.searchParams.entries()].filter(([k]) => k !== "X-Amz-Signature");
  const query = params
    .map(([k, v]) => [encode(k), encode(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const names = Object.keys(headers).sort();
  const canonicalHeaders = names.map((n) => `${n}:${headers[n]?.trim()}\n`).join("");
  const canonical = ["GET", "/", query, canonicalHeaders, names.join(";"), sha256("")].join("\n");
  const date = url.searchParams.get("X-Amz-Date") ?? "";
  const [, day, region, service] = (url.searchParams.get("X-Amz-Credential") ?? "").split("/");
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", date, scope, sha256(canonical)].join("\n");
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day ?? ""), region ?? ""), service ?? ""), "aws4_request");
  return createHmac("sha256", key).update(stringToSign, "utf8").digest("hex");
}

describe("EKS token", () => {
  it("is a presigned STS GetCallerIdentity URL for the cluster's region, as the authenticator requires", async () => {
    const { token } = await eksToken({
      cluster: "partpal-ims",
      region: "af-south-1",
      credentials: CREDENTIALS,
      now: NOW,
    });
    const url = decode(token);
    expect(url.protocol).toBe("https:");
    expect(url.host).toBe("sts.af-south-1.amazonaws.com");
    expect(url.pathname).toBe("/");
    const keys = [...url.searchParams.keys()];
    expect(keys.every((k) => WHITELIST.has(k.toLowerCase()))).toBe(true);
    expect(new Set(keys).size).toBe(keys.length);
    expect(url.searchParams.get("Action")).toBe("GetCallerIdentity");
    expect(url.searchParams.get("Version")).toBe("2011-06-15");
    expect(url.searchParams.get("X-Amz-Algorithm")).toBe("AWS4-HMAC-SHA256");
    expect(url.searchParams.get("X-Amz-Credential")).toBe("AKIAIOSFODNN7EXAMPLE/20261123/af-south-1/sts/aws4_request");
    expect(url.searchParams.get("X-Amz-Date")).toBe("20261123T160030Z");
  });

  it("signs x-k8s-aws-id (and host) and expires in 60 seconds", async () => {
    const { token } = await eksToken({
      cluster: "partpal-ims",
      region: "af-south-1",
      credentials: CREDENTIALS,
      now: NOW,
    });
    const url = decode(token);
    expect(url.searchParams.get("X-Amz-SignedHeaders")?.split(";")).toEqual(["host", "x-k8s-aws-id"]);
    expect(url.searchParams.get("X-Amz-Expires")).toBe("60");
  });

  it("carries the signature SigV4's rules give, over the cluster name in x-k8s-aws-id", async () => {
    const { token } = await eksToken({
      cluster: "partpal-ims",
      region: "af-south-1",
      credentials: CREDENTIALS,
      now: NOW,
    });
    const url = decode(token);
    const headers = { host: url.host, "x-k8s-aws-id": "partpal-ims" };
    expect(url.searchParams.get("X-Amz-Signature")).toBe(expectedSignature(url, headers, CREDENTIALS.secretAccessKey));
    // Bound to the cluster: the same URL presented for another cluster does not verify.
    expect(url.searchParams.get("X-Amz-Signature")).not.toBe(
      expectedSignature(url, { ...headers, "x-k8s-aws-id": "other" }, CREDENTIALS.secretAccessKey),
    );
  });

  it("with a session (the function's role) puts the session token in the URL, still signed by the rules", async () => {
    const credentials = { ...CREDENTIALS, accessKeyId: "ASIAEXAMPLE", sessionToken: "IQoJb3JpZ2luX2VjE+/=token" };
    const { token, expiresAt } = await eksToken({
      cluster: "ode-production-cluster",
      region: "us-east-1",
      credentials: async () => credentials,
      now: NOW,
    });
    const url = decode(token);
    expect(url.host).toBe("sts.us-east-1.amazonaws.com");
    expect(url.searchParams.get("X-Amz-Security-Token")).toBe("IQoJb3JpZ2luX2VjE+/=token");
    const headers = { host: url.host, "x-k8s-aws-id": "ode-production-cluster" };
    expect(url.searchParams.get("X-Amz-Signature")).toBe(expectedSignature(url, headers, CREDENTIALS.secretAccessKey));
    // The cluster accepts it 15 minutes after X-Amz-Date; we stop using it a minute before.
    expect(expiresAt.toISOString()).toBe("2026-11-23T16:14:30.250Z");
  });
});
