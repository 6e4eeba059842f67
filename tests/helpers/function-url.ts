import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";

/**
 * Serves a Function URL handler on 127.0.0.1, turning each HTTP request into the event Lambda Function
 * URLs send (payload format 2.0: lower-case headers, `requestContext.http`, the body base64-encoded
 * with `isBase64Encoded`) and its result back into the HTTP response. Real sockets, real headers, the
 * raw bytes the client sent: what a signature check must be tested over.
 */
export async function serveFunctionUrl(
  handler: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>,
  options: { base64?: boolean } = {},
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(async (req, res) => {
    try {
      const result = await handler(await toEvent(req, options.base64 ?? true));
      const body = result.isBase64Encoded ? Buffer.from(result.body ?? "", "base64") : (result.body ?? "");
      res.writeHead(result.statusCode ?? 200, (result.headers ?? {}) as Record<string, string>).end(body);
    } catch {
      // What a Function URL answers when the function throws.
      res.writeHead(502, { "content-type": "application/json" }).end('{"Message":"Internal Server Error"}');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function toEvent(req: IncomingMessage, base64: boolean): Promise<APIGatewayProxyEventV2> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  const url = new URL(req.url ?? "/", "http://localhost");
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k.toLowerCase()] = String(v);
  const now = new Date();
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    requestContext: {
      accountId: "anonymous",
      apiId: "abcdefghijklmnopqrstuvwxyz",
      domainName: "abcdefghijklmnopqrstuvwxyz.lambda-url.us-east-1.on.aws",
      domainPrefix: "abcdefghijklmnopqrstuvwxyz",
      http: {
        method: req.method ?? "GET",
        path: url.pathname,
        protocol: "HTTP/1.1",
        sourceIp: req.socket.remoteAddress ?? "127.0.0.1",
        userAgent: headers["user-agent"] ?? "",
      },
      requestId: randomUUID(),
      routeKey: "$default",
      stage: "$default",
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(raw.length ? { body: base64 ? raw.toString("base64") : raw.toString("utf8"), isBase64Encoded: base64 } : {}),
    isBase64Encoded: base64 && raw.length > 0,
  } as APIGatewayProxyEventV2;
}
