import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { amzDate, signingKey, signRequest, uriEncode } from "../../lib/aws/sigv4.js";

/**
 * AWS's published SigV4 test vectors: the signature test suite (credentials AKIDEXAMPLE, 2015-08-30,
 * us-east-1, service "service", host example.amazonaws.com) and the S3 example of the S3 API reference
 * ("Signature Calculations for the Authorization Header", GET Object with a Range header).
 */
const SUITE = {
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
  region: "us-east-1",
  service: "service",
  now: new Date("2015-08-30T12:36:00Z"),
};
const signatureOf = (authorization: string | undefined) => authorization?.split("Signature=")[1];

describe("SigV4 signer against AWS's test vectors", () => {
  it("get-vanilla", () => {
    const headers = signRequest(
      { method: "GET", url: new URL("https://example.amazonaws.com/"), headers: {}, body: "" },
      SUITE,
    );
    expect(headers["x-amz-date"]).toBe("20150830T123600Z");
    expect(headers.authorization).toBe(
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
  });

  it("post-vanilla", () => {
    const headers = signRequest(
      { method: "POST", url: new URL("https://example.amazonaws.com/"), headers: {}, body: "" },
      SUITE,
    );
    expect(signatureOf(headers.authorization)).toBe("5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
  });

  it("S3 GET Object with a Range header (x-amz-content-sha256 signed)", () => {
    const headers = signRequest(
      {
        method: "GET",
        url: new URL("https://examplebucket.s3.amazonaws.com/test.txt"),
        headers: { Range: "bytes=0-9" },
        body: "",
      },
      {
        credentials: {
          accessKeyId: "AKIAIOSFODNN7EXAMPLE",
          secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        },
        region: "us-east-1",
        service: "s3",
        now: new Date("2013-05-24T00:00:00Z"),
        s3: true,
      },
    );
    expect(headers["x-amz-content-sha256"]).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(headers.authorization).toBe(
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
  });

  it("the signing key and signature of the 2011 suite's string to sign", () => {
    const stringToSign = [
      "AWS4-HMAC-SHA256",
      "20110909T233600Z",
      "20110909/us-east-1/host/aws4_request",
      "e25f777ba161a0f1baf778a87faf057187cf5987f17953320e3ca399feb5f00d",
    ].join("\n");
    const key = signingKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20110909", "us-east-1", "host");
    expect(createHmac("sha256", key).update(stringToSign).digest("hex")).toBe(
      "be7148d34ebccdc6423b19085378aa0bee970bdc61d144bd1a8c48c33079ab09",
    );
  });

  it("signs the session token, and a changed body changes the signature", () => {
    const request = { method: "PUT", url: new URL("https://b.s3.amazonaws.com/k"), headers: {}, body: "one" };
    const options = { ...SUITE, credentials: { ...SUITE.credentials, sessionToken: "token/+=" }, s3: true };
    const a = signRequest(request, options);
    const b = signRequest({ ...request, body: "two" }, options);
    expect(a["x-amz-security-token"]).toBe("token/+=");
    expect(a.authorization).toContain("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,");
    expect(signatureOf(a.authorization)).not.toBe(signatureOf(b.authorization));
  });

  it("encodes as RFC 3986 and formats the date as SigV4 wants", () => {
    expect(uriEncode("a b*(c)!'~")).toBe("a%20b%2A%28c%29%21%27~");
    expect(amzDate(new Date("2026-12-01T13:45:07.123Z"))).toBe("20261201T134507Z");
  });
});
