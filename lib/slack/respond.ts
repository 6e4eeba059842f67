import type { SlackMessage } from "../notify/slack.js";

/**
 * Posts a message to a slash command's `response_url` (valid 30 minutes, 5 posts): the report of the
 * run that the command started, in the channel it was typed in. Only URLs under `allowedPrefix` are
 * posted to: the worker is invoked with what the command function passed on, and a URL elsewhere would
 * send a report (system names, resource ids) to whoever chose it.
 */
export async function postToResponseUrl(options: {
  url: string;
  message: SlackMessage;
  allowedPrefix: string;
  inChannel?: boolean;
  /** Replace the message the response URL belongs to (an approval request, once decided). */
  replaceOriginal?: boolean;
  fetch?: typeof fetch;
}): Promise<void> {
  if (!options.url.startsWith(options.allowedPrefix)) {
    throw new Error(`response URL is not under ${options.allowedPrefix}: nothing posted`);
  }
  const res = await (options.fetch ?? fetch)(options.url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      response_type: options.inChannel ? "in_channel" : "ephemeral",
      replace_original: options.replaceOriginal ?? false,
      ...options.message,
    }),
    signal: AbortSignal.timeout(5000),
  });
  if (!res.ok) throw new Error(`response URL answered ${res.status}`);
}
