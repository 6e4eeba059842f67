import {
  GetObjectCommand,
  type GetObjectCommandInput,
  ListObjectsV2Command,
  type ListObjectsV2CommandInput,
  PutObjectCommand,
  type PutObjectCommandInput,
  S3Client,
} from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";

const s3Error = (name: string, status: number, message: string) =>
  Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });

/**
 * S3 with conditional-write semantics, in memory, behind aws-sdk-client-mock: `If-None-Match: *` fails
 * with 412 when the key exists, `If-Match` with 412 when the ETag differs (S3's documented behaviour for
 * conditional writes); GetObject answers 404 NoSuchKey for a missing key.
 */
export function conditionalS3() {
  const mock = mockClient(S3Client);
  const objects = new Map<string, { body: string; etag: string }>();
  let version = 0;
  mock.on(PutObjectCommand).callsFake((input: PutObjectCommandInput) => {
    const current = objects.get(String(input.Key));
    if (input.IfNoneMatch === "*" && current) throw s3Error("PreconditionFailed", 412, "key exists");
    if (input.IfMatch && current?.etag !== input.IfMatch) {
      throw current ? s3Error("PreconditionFailed", 412, "etag differs") : s3Error("NoSuchKey", 404, "gone");
    }
    const etag = `"v${++version}"`;
    objects.set(String(input.Key), { body: String(input.Body), etag });
    return { ETag: etag };
  });
  mock.on(GetObjectCommand).callsFake((input: GetObjectCommandInput) => {
    const current = objects.get(String(input.Key));
    if (!current) throw s3Error("NoSuchKey", 404, "The specified key does not exist.");
    return { ETag: current.etag, Body: { transformToString: async () => current.body } as never };
  });
  mock.on(ListObjectsV2Command).callsFake((input: ListObjectsV2CommandInput) => ({
    IsTruncated: false,
    Contents: [...objects.keys()].filter((k) => k.startsWith(input.Prefix ?? "")).map((Key) => ({ Key })),
  }));
  return { mock, objects, s3: new S3Client({ region: "us-east-1" }) };
}
