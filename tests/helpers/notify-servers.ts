import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One request a stand-in server received. */
export interface Recorded {
  path: string;
  body: Record<string, unknown>;
  authorization?: string;
}

/** A local HTTP server that records what it is sent; `failNext(n)` answers the next n requests with 500. */
export interface RecordingServer {
  url: string;
  requests: Recorded[];
  failNext(n: number): void;
  /** Every request answered 500 until {@link RecordingServer.recover}. */
  breakDown(): void;
  recover(): void;
  /** Requests that were answered with 500. */
  failures: number;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  if ((req.headers["content-type"] ?? "").includes("application/json")) return JSON.parse(text || "{}");
  // Slack's client sends form fields, objects (blocks) JSON-encoded inside them.
  const body: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(text)) {
    body[k] = k === "blocks" || k === "attachments" || k === "metadata" ? JSON.parse(v) : v;
  }
  return body;
}

async function startRecording(
  answer: (path: string, body: Record<string, unknown>, count: number) => { status: number; json: unknown },
): Promise<RecordingServer> {
  const requests: Recorded[] = [];
  let failing = 0;
  let broken = false;
  const state = { failures: 0 };
  const server: Server = createServer(async (req, res) => {
    const body = await readBody(req);
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (broken || failing > 0) {
      if (failing > 0) failing--;
      state.failures++;
      res.writeHead(500, { "content-type": "text/plain" }).end("internal error");
      return;
    }
    requests.push({ path, body, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    const { status, json } = answer(path, body, requests.length);
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(json));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    failNext: (n) => {
      failing = n;
    },
    breakDown: () => {
      broken = true;
    },
    recover: () => {
      broken = false;
    },
    get failures() {
      return state.failures;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Slack's Web API, the subset the notifier uses: chat.postMessage and chat.update. */
export function startSlackServer(): Promise<RecordingServer> {
  return startRecording((path, body, count) => {
    const channel = String(body.channel ?? "");
    if (path === "/api/chat.postMessage") {
      return { status: 200, json: { ok: true, channel, ts: `1700000000.${String(count).padStart(6, "0")}` } };
    }
    if (path === "/api/chat.update") return { status: 200, json: { ok: true, channel, ts: body.ts } };
    return { status: 200, json: { ok: false, error: "unknown_method" } };
  });
}

/** PagerDuty's Events API v2: POST /v2/enqueue answers 202 with the dedup key. */
export function startPagerDutyServer(): Promise<RecordingServer> {
  return startRecording((path, body) =>
    path === "/v2/enqueue"
      ? { status: 202, json: { status: "success", message: "Event processed", dedup_key: body.dedup_key } }
      : { status: 404, json: { status: "invalid", message: "not found" } },
  );
}
