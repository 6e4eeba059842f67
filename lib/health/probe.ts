import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { ProbeFailure, ProbeSample } from "./evaluate.js";

/** Options of {@link probeEndpoint}. */
export interface ProbeOptions {
  url: string;
  timeoutMs: number;
  now: () => Date;
  /** The run's abort signal: a probe in flight stops with it. */
  signal?: AbortSignal | undefined;
}

/** Bodies that say "down" although the status is 2xx (Spring's `/actuator/health`, many `/health`s). */
const DOWN_STATUSES = new Set(["down", "out_of_service", "fail", "unhealthy", "error"]);

/**
 * One HTTP GET of a health endpoint. Never throws: every way it can go wrong is a failed sample whose
 * `failure` says which (status, timeout, connection refused, a body that reports DOWN, anything else).
 * A fresh connection per probe (no keep-alive pool): a pooled socket would hide a refused connection
 * behind a reset, and each probe must see the endpoint as a new client does.
 */
export async function probeEndpoint(options: ProbeOptions): Promise<ProbeSample> {
  const at = options.now();
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const answer = await get(options);
  if ("error" in answer) {
    if (answer.error === "timeout") return fail(at, elapsed(), "timeout", `no answer within ${options.timeoutMs} ms`);
    if (answer.error === "ECONNREFUSED") return fail(at, elapsed(), "refused", "connection refused");
    return fail(at, elapsed(), "error", `request failed (${answer.error})`);
  }
  const { status, statusText, body } = answer;
  if (status < 200 || status > 299) return fail(at, elapsed(), "status", `${status} ${statusText}`.trim(), status);
  const reported = reportedStatus(body);
  if (reported && DOWN_STATUSES.has(reported.toLowerCase())) {
    return fail(at, elapsed(), "body", `${status} but the body reports status "${reported}"`, status);
  }
  return { ok: true, at, ms: elapsed(), status, detail: `${status} in ${elapsed()} ms` };
}

/** Health bodies are small; more than this is not read (the status decides). */
const MAX_BODY = 64 * 1024;

type Answer = { status: number; statusText: string; body: string } | { error: string };

function get(options: ProbeOptions): Promise<Answer> {
  return new Promise((resolve) => {
    const url = new URL(options.url);
    const request = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, {
      method: "GET",
      agent: false,
      headers: { accept: "application/json", connection: "close" },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const timer = setTimeout(() => {
      resolve({ error: "timeout" });
      request.destroy();
    }, options.timeoutMs);
    const done = (answer: Answer) => {
      clearTimeout(timer);
      resolve(answer);
    };
    request.on("error", (error: NodeJS.ErrnoException) => done({ error: error.code ?? error.name }));
    request.on("response", (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        if (body.length < MAX_BODY) body += chunk;
      });
      response.on("error", (error: NodeJS.ErrnoException) => done({ error: error.code ?? error.name }));
      response.on("end", () =>
        done({ status: response.statusCode ?? 0, statusText: response.statusMessage ?? "", body }),
      );
    });
    request.end();
  });
}

function fail(at: Date, ms: number, failure: ProbeFailure, detail: string, status?: number): ProbeSample {
  return { ok: false, at, ms, failure, detail, ...(status !== undefined ? { status } : {}) };
}

/** `status` of a JSON body (`{"status":"UP"}`), when there is one. */
function reportedStatus(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as unknown;
    if (parsed && typeof parsed === "object" && "status" in parsed && typeof parsed.status === "string") {
      return parsed.status;
    }
  } catch {
    // Not JSON: the status code alone decides.
  }
  return undefined;
}
