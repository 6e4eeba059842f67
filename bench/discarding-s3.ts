import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A bench instrument, not an S3 server: answers the multipart-upload calls (and HeadBucket) on
 * 127.0.0.1 and throws the bytes away. Measuring the backup pipeline into it isolates the pipeline's own cost (pg_dump's pipe,
 * sha256, CRC32, HTTP) from the local S3 server's (s3rver hashes, writes, and at CompleteMultipartUpload
 * reads and writes the whole object again), which real S3 spends on its own machines.
 */
export async function startDiscardingS3(): Promise<{ endpoint: string; stop(): Promise<void> }> {
  let uploads = 0;
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    const [, bucket = "", ...rest] = url.pathname.split("/");
    const key = rest.join("/");
    request.on("data", () => {});
    request.on("end", () => {
      const xml = (body: string) => {
        response.writeHead(200, { "content-type": "application/xml" });
        response.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
      };
      if (request.method === "POST" && url.searchParams.has("uploads")) {
        uploads += 1;
        xml(
          `<InitiateMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${key}</Key><UploadId>u${uploads}</UploadId></InitiateMultipartUploadResult>`,
        );
      } else if (request.method === "PUT" && url.searchParams.has("partNumber")) {
        response.writeHead(200, { etag: `"part-${url.searchParams.get("partNumber")}"` });
        response.end();
      } else if (request.method === "POST" && url.searchParams.has("uploadId")) {
        xml(
          `<CompleteMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${key}</Key><ETag>"done"</ETag></CompleteMultipartUploadResult>`,
        );
      } else if (request.method === "HEAD" && !key) {
        response.writeHead(200);
        response.end();
      } else if (request.method === "DELETE") {
        response.writeHead(204);
        response.end();
      } else {
        response.writeHead(501);
        response.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
