import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSlackPoster, SlackError } from "../../lib/notify/slack.js";
import { type RecordingServer, startSlackServer } from "../helpers/notify-servers.js";

/** The bot poster (lib/notify/slack.ts) against a local server speaking Slack's Web API. */

let slack: RecordingServer;
beforeAll(async () => {
  slack = await startSlackServer();
});
afterAll(async () => {
  await slack.close();
});

const message = { text: "hello", blocks: [] };

describe("createSlackPoster's token", () => {
  it("a failed token read (Secrets Manager, once) is read again by the next post, which goes out", async () => {
    // Prepare
    let reads = 0;
    const poster = createSlackPoster({
      token: async () => {
        reads++;
        if (reads === 1) throw new Error("ThrottlingException: Rate exceeded");
        return "xoxb-test";
      },
      apiUrl: `${slack.url}/api/`,
      retries: 0,
    });

    // Act
    const first = await poster.post({ channel: "C0OPS", message }).catch((e: unknown) => e);
    const second = await poster.post({ channel: "C0OPS", message });

    // Assess
    expect(first).toBeInstanceOf(SlackError);
    expect(String((first as Error).message)).toContain("ThrottlingException");
    expect(second).toEqual({ channel: "C0OPS", ts: expect.stringMatching(/^1700000000\.\d{6}$/) });
    expect(reads).toBe(2);
    const posted = slack.requests.filter((r) => r.path === "/api/chat.postMessage");
    expect(posted).toHaveLength(1);
    expect(posted[0]?.authorization).toBe("Bearer xoxb-test");
  });

  it("a token read that succeeded is kept: later posts do not read it again", async () => {
    let reads = 0;
    const poster = createSlackPoster({
      token: async () => {
        reads++;
        return "xoxb-test";
      },
      apiUrl: `${slack.url}/api/`,
      retries: 0,
    });
    await poster.post({ channel: "C0OPS", message });
    await poster.update({ at: { channel: "C0OPS", ts: "1700000000.000001" }, message });
    expect(reads).toBe(1);
  });
});
