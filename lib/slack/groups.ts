/**
 * Slack user-group membership (`usergroups.users.list`), over plain fetch: the slash command must not
 * load @slack/web-api at cold start. Slash-command payloads carry no groups, so an entry that allows
 * a group costs one Web API call, cached per warm container for a minute.
 */
export interface GroupLookupOptions {
  /** Bot token with `usergroups:read`; read when first needed, never logged. */
  token: () => Promise<string>;
  /** `https://slack.com/api/` by default; a local server in tests. */
  apiUrl?: string;
  now: () => Date;
  fetch?: typeof fetch;
  /** How long a group's members are trusted before being read again. */
  ttlMs?: number;
}

/** Returns the groups, among `groups`, that `userId` is in. A lookup that fails counts as "in none". */
export function slackGroupLookup(options: GroupLookupOptions) {
  const cache = new Map<string, { members: Set<string>; at: number }>();
  const ttl = options.ttlMs ?? 60_000;
  const doFetch = options.fetch ?? fetch;
  const base = options.apiUrl ?? "https://slack.com/api/";
  async function members(group: string): Promise<Set<string>> {
    const hit = cache.get(group);
    const now = options.now().getTime();
    if (hit && now - hit.at < ttl) return hit.members;
    const url = new URL("usergroups.users.list", base);
    url.searchParams.set("usergroup", group);
    const res = await doFetch(url, {
      headers: { authorization: `Bearer ${await options.token()}` },
      signal: AbortSignal.timeout(1500),
    });
    const body = (await res.json()) as { ok?: boolean; users?: unknown; error?: string };
    if (!body.ok || !Array.isArray(body.users)) throw new Error(`usergroups.users.list: ${body.error ?? res.status}`);
    const set = new Set(body.users.filter((u): u is string => typeof u === "string"));
    cache.set(group, { members: set, at: now });
    return set;
  }
  return async (userId: string, groups: string[]): Promise<string[]> => {
    const found: string[] = [];
    for (const group of groups) {
      try {
        if ((await members(group)).has(userId)) found.push(group);
      } catch {
        // Fail closed: a group we cannot read grants nothing.
      }
    }
    return found;
  };
}
