import { OpsError } from "../errors.js";

/** PagerDuty's severities (Events API v2 `payload.severity`). */
export type PagerDutySeverity = "critical" | "error" | "warning" | "info";

/** Options of {@link PagerDuty.trigger}. */
export interface PageTrigger {
  /** One incident per alarm: a later `resolve` with the same key closes it; a repeated trigger is merged. */
  dedupKey: string;
  summary: string;
  /** The system (PagerDuty's `source`: where the problem is). */
  source: string;
  severity: PagerDutySeverity;
  component?: string;
  customDetails?: Record<string, unknown>;
}

/** What the notifier needs of PagerDuty's Events API v2. */
export interface PagerDuty {
  trigger(event: PageTrigger): Promise<void>;
  resolve(dedupKey: string): Promise<void>;
}

/** PagerDuty refused the event or could not be reached after the retries. */
export class PagerDutyError extends OpsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("pagerduty", message, options);
  }
}

/** The Events API v2 endpoint. */
export const PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue";

/** Options of {@link createPagerDuty}. */
export interface PagerDutyOptions {
  /** The integration's routing key, read when first needed (Secrets Manager); never logged. */
  routingKey: () => Promise<string>;
  /** `https://events.pagerduty.com/v2/enqueue` by default; a local server in tests. */
  url?: string;
  /** Retries of a 429, a 5xx or a network error (default 3), with backoff from `minTimeoutMs` (1 s). */
  retries?: number;
  minTimeoutMs?: number;
  fetch?: typeof fetch;
}

/**
 * PagerDuty Events API v2 over `fetch`: PagerDuty publishes no official Node client for it, and the API
 * is one POST. 202 is accepted; 400 is a bad event (not retried: it would fail the same way); 429 and 5xx
 * are retried, as PagerDuty's documentation asks.
 */
export function createPagerDuty(options: PagerDutyOptions): PagerDuty {
  const send = async (body: Record<string, unknown>) => {
    const routingKey = await options.routingKey();
    const retries = options.retries ?? 3;
    let last = "";
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await sleep((options.minTimeoutMs ?? 1000) * 2 ** (attempt - 1));
      const outcome = await sendEventOnce(options, { routing_key: routingKey, ...body });
      if (outcome.ok) return;
      last = outcome.reason;
      if (!outcome.retryable) break;
    }
    throw new PagerDutyError(`PagerDuty ${String(body.event_action)} failed: ${last}`);
  };
  return {
    trigger: (event) =>
      send({
        event_action: "trigger",
        dedup_key: event.dedupKey,
        payload: {
          summary: event.summary.slice(0, 1024),
          source: event.source,
          severity: event.severity,
          ...(event.component ? { component: event.component } : {}),
          ...(event.customDetails ? { custom_details: event.customDetails } : {}),
        },
      }),
    resolve: (dedupKey) => send({ event_action: "resolve", dedup_key: dedupKey }),
  };
}

type EventOutcome = { ok: true } | { ok: false; reason: string; retryable: boolean };

/** One POST of an event: a network error, a 429 or a 5xx is worth another attempt; a 400 would fail the same way. */
async function sendEventOnce(options: PagerDutyOptions, event: Record<string, unknown>): Promise<EventOutcome> {
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(options.url ?? PAGERDUTY_EVENTS_URL, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(event),
    });
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error), retryable: true };
  }
  if (response.status === 202 || response.status === 200) return { ok: true };
  const text = (await response.text()).slice(0, 300);
  return {
    ok: false,
    reason: `HTTP ${response.status} ${text}`,
    retryable: response.status === 429 || response.status >= 500,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
