import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A bench instrument, not an S3 server: answers the multipart-upload calls (and HeadBucket) on
 * 127.0.0.1 and throws the bytes away. Measuring the backup pipeline into it isolates the pipeline's own cost (pg_dump's pipe,
 * sha256, CRC32, HTTP) from the local S3 server's (s3rver hashes, writes, and at CompleteMultipartUpload
 * reads and writes the whole object again), which real S3 spends on its own machines.
 */
export async function startDiscardingS3(): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const state = { uploads: 0 };
  const server: Server = createServer((request, response) => {
    request.on("data", () => {});
    request.on("end", () => answer(request, response, state));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The answer S3 would give to each call the uploader makes, with nothing stored. */
function answer(request: IncomingMessage, response: ServerResponse, state: { uploads: number }): void {
  const url = new URL(request.url ?? "/", "http://127.0.0.1");
  const [, bucket = "", ...rest] = url.pathname.split("/");
  const key = rest.join("/");
  const xml = (body: string) => {
    response.writeHead(200, { "content-type": "application/xml" });
    response.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
  };
  const empty = (status: number, headers: Record<string, string> = {}) => {
    response.writeHead(status, headers);
    response.end();
  };
  const method = request.method;
  if (method === "POST" && url.searchParams.has("uploads")) {
    state.uploads += 1;
    xml(
      `<InitiateMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${key}</Key><UploadId>u${state.uploads}</UploadId></InitiateMultipartUploadResult>`,
    );
  } else if (method === "PUT" && url.searchParams.has("partNumber")) {
    empty(200, { etag: `"part-${url.searchParams.get("partNumber")}"` });
  } else if (method === "POST" && url.searchParams.has("uploadId")) {
    xml(
      `<CompleteMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${key}</Key><ETag>"done"</ETag></CompleteMultipartUploadResult>`,
    );
  } else if (method === "HEAD" && !key) {
    empty(200);
  } else {
    empty(method === "DELETE" ? 204 : 501);
  }
}
