import { describe, expect, it } from "vitest";
import { foldText } from "../../lib/text.js";

describe("foldText", () => {
  it.each([
    ["short text", 20, "short text"],
    ["exactly twenty chars", 20, "exactly twenty chars"],
    // Cut before the word that does not fit, never inside it.
    ["restore failed: connection refused by the server", 30, "restore failed: connection…"],
    // The boundary right at the cut keeps the whole head.
    ["abc def ghi", 8, "abc def…"],
    // Trailing punctuation before the cut goes, so the ellipsis does not follow a dangling separator.
    ["first part; second part", 14, "first part…"],
    // One word longer than the room: cut inside it, still marked.
    ["aaaaaaaaaaaaaaaaaaaa", 8, "aaaaaaa…"],
  ])("folds %j to %i characters as %j", (text, max, expected) => {
    const folded = foldText(text, max);
    expect(folded).toBe(expected);
    expect(folded.length).toBeLessThanOrEqual(max);
  });
});
