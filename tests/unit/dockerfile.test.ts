import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

/**
 * The backup task's image cannot be built here (no Docker engine): these checks read the Dockerfile for
 * what a review would look for.
 */
const text = readFileSync(new URL("../../Dockerfile", import.meta.url), "utf8");
/** Instructions with continuation lines joined, comments dropped. */
const instructions = text
  .replace(/\\\n/g, " ")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"));
const args = Object.fromEntries(
  instructions.flatMap((l) => {
    const m = /^ARG\s+([A-Z_]+)=(\S+)/.exec(l);
    return m ? [[m[1], m[2]]] : [];
  }),
);
/** A FROM's image with `${ARG}` resolved. */
const images = instructions
  .filter((l) => /^FROM\s/i.test(l))
  .map((l) => (l.split(/\s+/)[1] ?? "").replace(/^\$\{(\w+)\}$/, (_m, name: string) => args[name] ?? ""));

describe("the backup task's Dockerfile", () => {
  it("builds on Node 22, every stage pinned by a sha256 digest", () => {
    expect(images.length).toBeGreaterThan(0);
    for (const image of images) expect(image).toMatch(/^node:22[\w.-]*@sha256:[0-9a-f]{64}$/);
  });

  it("runs as a user that is not root", () => {
    const users = instructions.filter((l) => /^USER\s/i.test(l)).map((l) => l.split(/\s+/)[1] ?? "");
    const last = users.at(-1);
    expect(last).toBeDefined();
    expect(last?.split(":")[0]).not.toMatch(/^(root|0)$/);
    // Nothing after the last USER switches back.
    const after = instructions.slice(instructions.findLastIndex((l) => /^USER\s/i.test(l)) + 1);
    expect(after.some((l) => /^USER\s/i.test(l))).toBe(false);
  });

  it("installs the PostgreSQL clients of majors 14, 15 and 16 from the PGDG repository, signed", () => {
    const install = instructions.find((l) => /apt-get install[^;&]*postgresql-client-/.test(l)) ?? "";
    for (const major of [14, 15, 16]) expect(install).toMatch(new RegExp(`postgresql-client-${major}\\b`));
    expect(text).toMatch(/deb \[signed-by=[^\]]+\] https:\/\/apt\.postgresql\.org\/pub\/repos\/apt \S+-pgdg main/);
  });

  it("points the runbook at each major's tools", () => {
    const env = instructions.find((l) => /^ENV\s.*OPS_PG_BIN_DIRS=/.test(l)) ?? "";
    const dirs = /OPS_PG_BIN_DIRS=(\S+)/.exec(env)?.[1]?.split(":") ?? [];
    expect(dirs.sort()).toEqual([
      "/usr/lib/postgresql/14/bin",
      "/usr/lib/postgresql/15/bin",
      "/usr/lib/postgresql/16/bin",
    ]);
  });

  it("runs `node bin/ops.js`, so RunTask's command override is `run backup --system S database=D`", () => {
    const entry = instructions.filter((l) => /^ENTRYPOINT\s/i.test(l)).at(-1) ?? "";
    expect(JSON.parse(entry.replace(/^ENTRYPOINT\s+/i, ""))).toEqual(["node", "bin/ops.js"]);
  });
});
