import { type KnownBlock, LogLevel, WebAPIPlatformError, WebClient } from "@slack/web-api";
import { OpsError } from "../errors.js";

/** Where a message is in Slack: what a reply in its thread or an update of it needs. */
export interface SlackThread {
  channel: string;
  ts: string;
}

/** One Slack message: a plain-text fallback (notifications, screen readers) and its Block Kit blocks. */
export interface SlackMessage {
  text: string;
  blocks: KnownBlock[];
}

/** What the notifier needs of Slack's Web API (`chat.postMessage`, `chat.update`). */
export interface SlackPoster {
  /** Posts to a channel, or in a thread when `thread` is given (`broadcast`: also shown in the channel). */
  post(options: { channel: string; message: SlackMessage; thread?: string; broadcast?: boolean }): Promise<SlackThread>;
  /** Replaces a message (the alarm's first post, marked resolved). */
  update(options: { at: SlackThread; message: SlackMessage }): Promise<void>;
}

/** Slack refused or could not be reached after the retries. */
export class SlackError extends OpsError {
  /** Slack's own error when it answered `ok: false` (`message_not_found`, …); absent when it was not reached. */
  readonly refusal: string | undefined;

  constructor(message: string, options?: { cause?: unknown; refusal?: string }) {
    super("slack", message, options);
    this.refusal = options?.refusal;
  }
}

/** Options of {@link createSlackPoster}. */
export interface SlackPosterOptions {
  /** The bot token (`xoxb-…`), read when first needed (Secrets Manager) and never logged. */
  token: () => Promise<string>;
  /** Slack's Web API base URL (`https://slack.com/api/` by default); a local server in tests. */
  apiUrl?: string;
  /**
   * Retries of a failed call (network error, 5xx, 429), with exponential backoff from `minTimeoutMs`.
   * Default 3 retries from 1 s: an outage of a few seconds is ridden out within a Lambda's time.
   */
  retries?: number;
  minTimeoutMs?: number;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
}

/**
 * Slack through the official `@slack/web-api` client: it retries failed calls itself (5xx, network
 * errors, and 429 after the `Retry-After` Slack gives), so a short Slack outage costs a delay, not the
 * message. The token is fetched once and kept only inside the client (a failed fetch is tried again by the next
 * call).
 */
export function createSlackPoster(options: SlackPosterOptions): SlackPoster {
  let client: Promise<WebClient> | undefined;
  const web = () => {
    if (!client) {
      const created = options.token().then((token) => webClient(token, options));
      // A rejected token read is not kept: one transient Secrets Manager failure must not silence Slack for
      // the rest of a warm container's life; the next call reads the token again.
      created.catch(() => {
        if (client === created) client = undefined;
      });
      client = created;
    }
    return client;
  };
  return {
    async post({ channel, message, thread, broadcast }) {
      try {
        const base = { channel, text: message.text, blocks: message.blocks, unfurl_links: false };
        const client = await web();
        const result = await (thread
          ? client.chat.postMessage({ ...base, thread_ts: thread, reply_broadcast: broadcast ?? false })
          : client.chat.postMessage(base));
        if (!result.ts || !result.channel) throw new Error("chat.postMessage answered without ts or channel");
        return { channel: result.channel, ts: result.ts };
      } catch (error) {
        throw new SlackError(`Slack chat.postMessage to ${channel} failed: ${slackReason(error)}`, { cause: error });
      }
    },
    async update({ at, message }) {
      try {
        await (await web()).chat.update({ channel: at.channel, ts: at.ts, text: message.text, blocks: message.blocks });
      } catch (error) {
        throw new SlackError(`Slack chat.update in ${at.channel} failed: ${slackReason(error)}`, {
          cause: error,
          ...refusalOf(error),
        });
      }
    },
  };
}

/** The official client over `token`, with the poster's endpoint, timeout and retries. */
function webClient(token: string, options: SlackPosterOptions): WebClient {
  return new WebClient(token, {
    ...(options.apiUrl ? { slackApiUrl: options.apiUrl } : {}),
    logLevel: LogLevel.ERROR,
    timeout: options.timeoutMs ?? 10_000,
    retryConfig: {
      retries: options.retries ?? 3,
      factor: 2,
      minTimeout: options.minTimeoutMs ?? 1000,
      randomize: false,
    },
  });
}

/** Slack's `error` of an `ok: false` answer (the client's platform error), when that is what it was. */
function refusalOf(error: unknown): { refusal?: string } {
  return error instanceof WebAPIPlatformError && error.data.error ? { refusal: error.data.error } : {};
}

/** The part of a Slack client error worth a log line (never the request, which carries the token). */
function slackReason(error: unknown): string {
  if (error && typeof error === "object") {
    const e = error as { code?: string; data?: { error?: string }; statusCode?: number; message?: string };
    if (e.data?.error) return e.data.error;
    if (e.statusCode) return `HTTP ${e.statusCode}`;
    if (e.code) return e.code;
    if (e.message) return e.message;
  }
  return String(error);
}

/** Options of {@link createWebhookPoster}. */
export interface WebhookPosterOptions {
  /** The incoming webhook URL (a secret: whoever has it can post), read when first needed. */
  url: () => Promise<string>;
  retries?: number;
  minTimeoutMs?: number;
  fetch?: typeof fetch;
}

/**
 * Slack through an incoming webhook, for a workspace that grants no bot token: the same Block Kit
 * message to the webhook's one channel. A webhook returns no message id, so replies cannot go in a
 * thread (they are posted as messages of their own) and the first post cannot be marked resolved.
 */
export function createWebhookPoster(options: WebhookPosterOptions): SlackPoster {
  return {
    async post({ message }) {
      const url = await options.url();
      const retries = options.retries ?? 3;
      let last = "";
      for (let attempt = 0; attempt <= retries; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, (options.minTimeoutMs ?? 1000) * 2 ** (attempt - 1)));
        const outcome = await postToWebhookOnce(options.fetch ?? fetch, url, message);
        if (outcome.ok) return { channel: "", ts: "" };
        last = outcome.reason;
        if (!outcome.retryable) break;
      }
      // The URL is the secret: the error names neither it nor the request.
      throw new SlackError(`Slack incoming webhook failed: ${last}`);
    },
    async update() {
      // A webhook message cannot be edited.
    },
  };
}

type WebhookOutcome = { ok: true } | { ok: false; reason: string; retryable: boolean };

/** One POST to the webhook; a network error, a 429 or a 5xx is worth another attempt, other refusals are not. */
async function postToWebhookOnce(fetchFn: typeof fetch, url: string, message: SlackMessage): Promise<WebhookOutcome> {
  try {
    const response = await fetchFn(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: message.text, blocks: message.blocks }),
    });
    if (response.ok) return { ok: true };
    const reason = `HTTP ${response.status} ${(await response.text()).slice(0, 100)}`;
    return { ok: false, reason, retryable: response.status >= 500 || response.status === 429 };
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error), retryable: true };
  }
}
