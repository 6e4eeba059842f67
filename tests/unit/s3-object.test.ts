import { Readable } from "node:stream";
import { GetObjectCommand, ListObjectsV2Command, S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { readAlarmState } from "../../alarms/state.js";
import { getObjectIfPresent } from "../../lib/s3-object.js";

const s3 = mockClient(S3Client);
const client = new S3Client({ region: "eu-west-1" });
const where = { bucket: "state", key: "alarm-state/ops-autopilot-production-ode-api-latency.json" };

/** What S3 sends a caller without an unconditioned s3:ListBucket for a key: 403, code AccessDenied. */
const denied = () =>
  new S3ServiceException({
    name: "AccessDenied",
    $fault: "client",
    $metadata: { httpStatusCode: 403 },
    message: "Access Denied",
  });
const noSuchKey = () =>
  new S3ServiceException({ name: "NoSuchKey", $fault: "client", $metadata: { httpStatusCode: 404 }, message: "" });
const body = (text: string) =>
  Object.assign(Readable.from([Buffer.from(text)]), { transformToString: async () => text });

beforeEach(() => s3.reset());

describe("getObjectIfPresent", () => {
  it("returns the object when it is there, listing nothing", async () => {
    s3.on(GetObjectCommand).resolves({ Body: body("{}") as never, ETag: '"e1"' });
    expect((await getObjectIfPresent(client, where))?.ETag).toBe('"e1"');
    expect(s3.commandCalls(ListObjectsV2Command)).toHaveLength(0);
  });

  it("a 404 is absent, listing nothing", async () => {
    s3.on(GetObjectCommand).rejects(noSuchKey());
    expect(await getObjectIfPresent(client, where)).toBeUndefined();
    expect(s3.commandCalls(ListObjectsV2Command)).toHaveLength(0);
  });

  it("a 403 for a key the prefix-limited listing does not show is absent: one listing of exactly that key", async () => {
    s3.on(GetObjectCommand).rejects(denied());
    // The next key in order (a longer one) is what a one-key listing returns when the key itself is missing.
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: `${where.key}.old` }], KeyCount: 1 });
    expect(await getObjectIfPresent(client, where)).toBeUndefined();
    expect(s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input)).toEqual([
      { Bucket: "state", Prefix: where.key, MaxKeys: 1 },
    ]);
  });

  it("a 403 for a key that is listed is a real denial: the original error is thrown", async () => {
    s3.on(GetObjectCommand).rejects(denied());
    s3.on(ListObjectsV2Command).resolves({ Contents: [{ Key: where.key }], KeyCount: 1 });
    await expect(getObjectIfPresent(client, where)).rejects.toThrow(/Access Denied/);
  });

  it("a 403 whose listing is denied too keeps the original error", async () => {
    s3.on(GetObjectCommand).rejects(denied());
    s3.on(ListObjectsV2Command).rejects(denied());
    await expect(getObjectIfPresent(client, where)).rejects.toMatchObject({ name: "AccessDenied" });
  });

  it("other errors (throttling) are thrown as they are, listing nothing", async () => {
    s3.on(GetObjectCommand).rejects(
      new S3ServiceException({ name: "SlowDown", $fault: "server", $metadata: { httpStatusCode: 503 }, message: "" }),
    );
    await expect(getObjectIfPresent(client, where)).rejects.toMatchObject({ name: "SlowDown" });
    expect(s3.commandCalls(ListObjectsV2Command)).toHaveLength(0);
  });
});

describe("the first alarm ever, on a role that lists only alarm-state/", () => {
  it("reads as no state yet, not as access denied", async () => {
    s3.on(GetObjectCommand).rejects(denied());
    s3.on(ListObjectsV2Command).resolves({ KeyCount: 0 });
    const store = { s3: client, bucket: "state", prefix: "alarm-state" };
    expect(await readAlarmState(store, "ops-autopilot-production-ode-api-latency")).toBeUndefined();
  });
});
