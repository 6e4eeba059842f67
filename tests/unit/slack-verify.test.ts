import { describe, expect, it } from "vitest";
import { memoryReplayGuard, s3ReplayGuard } from "../../lib/slack/replay.js";
import { slackSignature, verifySlackSignature } from "../../lib/slack/verify.js";

const secret = "8f742231b10e8888abcd99yyyzzz85a5";
const now = new Date("2026-12-01T12:00:00Z");
const ts = String(now.getTime() / 1000);
const body = "token=x&team_id=T1&user_id=U123&command=%2Fops&text=help";

const verify = (over: Partial<Parameters<typeof verifySlackSignature>[0]> = {}) =>
  verifySlackSignature({
    signingSecret: secret,
    signature: slackSignature(secret, ts, body),
    timestamp: ts,
    rawBody: body,
    now,
    ...over,
  });

describe("verifySlackSignature", () => {
  it("accepts a request signed with the signing secret", () => {
    expect(verify()).toEqual({ ok: true, timestamp: Number(ts), signature: slackSignature(secret, ts, body) });
  });

  it("matches Slack's documented example signature", () => {
    // The example on Slack's "Verifying requests from Slack" page.
    const exampleBody =
      "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    expect(slackSignature("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", exampleBody)).toBe(
      "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    );
  });

  it.each([
    ["a signature made with another secret", { signature: slackSignature("other", ts, body) }],
    ["a body changed after signing", { rawBody: `${body}&text=scale-down` }],
    ["a signature of another length", { signature: "v0=abc" }],
    ["a signature of another scheme", { signature: slackSignature(secret, ts, body).replace("v0=", "v1=") }],
  ])("refuses %s as bad-signature", (_name, over) => {
    expect(verify(over)).toEqual({ ok: false, reason: "bad-signature" });
  });

  it("refuses a timestamp more than 5 minutes old or ahead, even when correctly signed", () => {
    const old = String(Number(ts) - 301);
    const ahead = String(Number(ts) + 301);
    expect(verify({ timestamp: old, signature: slackSignature(secret, old, body) })).toEqual({
      ok: false,
      reason: "stale-timestamp",
    });
    expect(verify({ timestamp: ahead, signature: slackSignature(secret, ahead, body) })).toEqual({
      ok: false,
      reason: "stale-timestamp",
    });
    const edge = String(Number(ts) - 300);
    expect(verify({ timestamp: edge, signature: slackSignature(secret, edge, body) }).ok).toBe(true);
  });

  it.each([
    ["no signature", { signature: undefined }, "missing-signature"],
    ["an empty signature", { signature: "" }, "missing-signature"],
    ["no timestamp", { timestamp: undefined }, "missing-timestamp"],
    ["a timestamp that is not a number", { timestamp: "12:00" }, "bad-timestamp"],
  ])("refuses %s", (_name, over, reason) => {
    expect(verify(over)).toEqual({ ok: false, reason });
  });
});

describe("replay guards", () => {
  it("memory: the first sight passes, a replay is refused", async () => {
    const guard = memoryReplayGuard({ now: () => now });
    expect(await guard.firstSeen("v0=aa", Number(ts))).toBe(true);
    expect(await guard.firstSeen("v0=aa", Number(ts))).toBe(false);
    expect(await guard.firstSeen("v0=bb", Number(ts))).toBe(true);
  });

  it("memory: holds no more than its capacity, dropping the oldest", async () => {
    const guard = memoryReplayGuard({ now: () => now, capacity: 2 });
    for (const s of ["a", "b", "c"]) await guard.firstSeen(s, Number(ts));
    expect(await guard.firstSeen("c", Number(ts))).toBe(false);
    expect(await guard.firstSeen("a", Number(ts))).toBe(true);
  });

  it("S3: a replay landing on another container (its own memory) is refused by the conditional create", async () => {
    // S3's conditional create (If-None-Match: *): the second create of a key is refused (412).
    const objects = new Map<string, string>();
    const s3 = {
      putObject: async (input: { key: string; body: string; ifNoneMatch?: "*" }) => {
        if (input.ifNoneMatch === "*" && objects.has(input.key)) return { written: false as const };
        objects.set(input.key, input.body);
        return { written: true as const };
      },
    };
    const containerA = s3ReplayGuard({
      s3,
      bucket: "b",
      prefix: "slack/seen",
      memory: memoryReplayGuard({ now: () => now }),
    });
    const containerB = s3ReplayGuard({
      s3,
      bucket: "b",
      prefix: "slack/seen",
      memory: memoryReplayGuard({ now: () => now }),
    });
    expect(await containerA.firstSeen("v0=aa", Number(ts))).toBe(true);
    expect(await containerB.firstSeen("v0=aa", Number(ts))).toBe(false);
    expect(await containerB.firstSeen("v0=bb", Number(ts))).toBe(true);
    expect(objects.size).toBe(2);
  });
});
