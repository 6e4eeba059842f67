import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
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
    request.on("data", () => {});
    request.on("end", () =>
      answer(request, response, () => {
        uploads += 1;
        return `u${uploads}`;
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The answer to one request, once its body has been read and dropped; anything else is 501. */
function answer(request: IncomingMessage, response: ServerResponse, nextUploadId: () => string): void {
  const url = new URL(request.url ?? "/", "http://127.0.0.1");
  const [, bucket = "", ...rest] = url.pathname.split("/");
  const key = rest.join("/");
  const xml = (body: string) => {
    response.writeHead(200, { "content-type": "application/xml" });
    response.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
  };
  const status = (code: number, headers: Record<string, string> = {}) => {
    response.writeHead(code, headers);
    response.end();
  };
  const { method } = request;
  if (method === "POST" && url.searchParams.has("uploads")) {
    xml(
      `<InitiateMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${key}</Key><UploadId>${nextUploadId()}</UploadId></InitiateMultipartUploadResult>`,
    );
  } else if (method === "PUT" && url.searchParams.has("partNumber")) {
    status(200, { etag: `"part-${url.searchParams.get("partNumber")}"` });
  } else if (method === "POST" && url.searchParams.has("uploadId")) {
    xml(
      `<CompleteMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${key}</Key><ETag>"done"</ETag></CompleteMultipartUploadResult>`,
    );
  } else if (method === "HEAD" && !key) {
    status(200);
  } else if (method === "DELETE") {
    status(204);
  } else {
    status(501);
  }
}
