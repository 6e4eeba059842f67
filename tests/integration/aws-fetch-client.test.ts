import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { slackHandlerFromEnv } from "../../functions/slack.js";
import { AwsHttpError, awsFetchClient, awsFetchClientFromEnv } from "../../lib/aws/fetch-client.js";
import { type LocalS3, startLocalS3 } from "../../lib/local/s3.js";
import { slackSignature } from "../../lib/slack/verify.js";
import { STAND_IN_CREDENTIALS, startAwsStandIn } from "../helpers/aws-stand-in.js";
import { serveFunctionUrl } from "../helpers/function-url.js";

/**
 * The command function's own AWS client against real servers: s3rver (an S3-protocol server: paths, bodies,
 * ETags; it does not check SigV4 signatures) and the stand-in (tests/helpers/aws-stand-in.ts), which
 * speaks Lambda Invoke, conditional S3 writes and Secrets Manager and refuses any request whose signature
 * our signer does not reproduce. The AWS SDK's own signer is the independent check: requests the SDK's
 * S3 and Lambda clients sign are accepted by the stand-in only if both signers agree.
 */
let dir: string;
let s3: LocalS3;
let standIn: Awaited<ReturnType<typeof startAwsStandIn>>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ops-fetch-"));
  s3 = await startLocalS3({ directory: join(dir, "s3"), buckets: ["state"] });
  standIn = await startAwsStandIn({
    secrets: { "ops-autopilot/test/slack": JSON.stringify({ signingSecret: "s3cr3t", token: "xoxb-t" }) },
  });
});
afterAll(async () => {
  await standIn.close();
  await s3.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("the SigV4 fetch client", () => {
  it("puts and gets an object on s3rver (keys with spaces and slashes, a session token)", async () => {
    const client = awsFetchClientFromEnv({ ...s3.env, AWS_REGION: "us-east-1", AWS_SESSION_TOKEN: "session/token+=" });
    const put = await client.putObject({ bucket: "state", key: "slack/seen/a b+c.json", body: '{"x":1}', md5: true });
    expect(put.written).toBe(true);
    expect(await client.getObject("state", "slack/seen/a b+c.json")).toMatchObject({ body: '{"x":1}' });
    expect(await client.getObject("state", "slack/seen/missing")).toBeUndefined();
  });

  it("agrees with the AWS SDK's signer: requests the SDK's S3 and Lambda clients sign are accepted", async () => {
    const common = { region: "us-east-1", credentials: STAND_IN_CREDENTIALS, maxAttempts: 1 };
    const sdkS3 = new S3Client({
      ...common,
      endpoint: `${standIn.url}/s3`,
      forcePathStyle: true,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    await sdkS3.send(
      new PutObjectCommand({ Bucket: "sdk", Key: "a/b c.json", Body: "{}", ContentType: "application/json" }),
    );
    const got = await sdkS3.send(new GetObjectCommand({ Bucket: "sdk", Key: "a/b c.json" }));
    expect(await got.Body?.transformToString()).toBe("{}");
    const sdkLambda = new LambdaClient({ ...common, endpoint: `${standIn.url}/lambda` });
    const out = await sdkLambda.send(
      new InvokeCommand({
        FunctionName: "sdk-signed",
        InvocationType: "Event",
        Payload: new TextEncoder().encode("{}"),
      }),
    );
    expect(out.StatusCode).toBe(202);
    expect(standIn.invokes.at(-1)?.functionName).toBe("sdk-signed");
  });

  it("is refused with the wrong secret: the stand-in really checks signatures", async () => {
    const client = awsFetchClient({
      region: "us-east-1",
      endpoints: { s3: `${standIn.url}/s3` },
      credentials: () => ({ accessKeyId: STAND_IN_CREDENTIALS.accessKeyId, secretAccessKey: "not-the-secret" }),
    });
    const error = await client.putObject({ bucket: "b", key: "forged", body: "x" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AwsHttpError);
    expect((error as AwsHttpError).name).toBe("SignatureDoesNotMatch");
    expect(standIn.objects.has("b/forged")).toBe(false);
  });

  it("conditional writes: If-None-Match refuses a second create, If-Match a stale ETag", async () => {
    const client = awsFetchClientFromEnv(standIn.env);
    const first = await client.putObject({ bucket: "b", key: "k", body: "1", ifNoneMatch: "*" });
    expect(first).toEqual({ written: true, etag: expect.any(String) });
    expect(await client.putObject({ bucket: "b", key: "k", body: "2", ifNoneMatch: "*" })).toEqual({ written: false });
    expect(await client.putObject({ bucket: "b", key: "k", body: "3", ifMatch: '"stale"' })).toEqual({
      written: false,
    });
    const etag = (first.written && first.etag) || "";
    expect((await client.putObject({ bucket: "b", key: "k", body: "4", ifMatch: etag })).written).toBe(true);
    expect(standIn.objects.get("b/k")?.body).toBe("4");
  });

  it("invokes asynchronously (202), and says why Lambda refused", async () => {
    const client = awsFetchClientFromEnv(standIn.env);
    await client.invokeEvent("ops-autopilot-test-worker-x", '{"a":1}');
    expect(standIn.invokes.at(-1)).toEqual({
      functionName: "ops-autopilot-test-worker-x",
      invocationType: "Event",
      payload: '{"a":1}',
    });
    standIn.failNextInvoke();
    await expect(client.invokeEvent("f", "{}")).rejects.toMatchObject({
      name: "TooManyRequestsException",
      status: 429,
    });
  });

  it("the deployed handler, built from the environment alone, reads its secret and answers a signed command", async () => {
    const handler = slackHandlerFromEnv({
      ...standIn.env,
      OPS_SLACK_SECRET_ID: "ops-autopilot/test/slack",
      OPS_SLACK_ACCESS: JSON.stringify({ systems: {}, workers: {} }),
      OPS_SLACK_REPLAY_BUCKET: "slack-state",
      OPS_AUDIT_BUCKET: "audit",
    });
    const served = await serveFunctionUrl(handler);
    try {
      const body = "user_id=U0ALICE01&channel_id=C0OPS0001&text=help";
      const ts = String(Math.floor(Date.now() / 1000));
      const res = await fetch(served.url, {
        method: "POST",
        headers: { "x-slack-request-timestamp": ts, "x-slack-signature": slackSignature("s3cr3t", ts, body) },
        body,
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { text: string }).text).toContain("/ops status");
      // The seen-signature object was created in the state bucket (replay protection across containers).
      expect([...standIn.objects.keys()].some((k) => k.startsWith("slack-state/slack/seen/"))).toBe(true);
    } finally {
      await served.close();
    }
  });
});
