/**
 * Installed for every unit test (vitest `setupFiles`): each registered runbook is watched while the test
 * runs it, and a command outside its declared permissions, or a write during a dry run, fails the test
 * that made the runbook send it — so every scenario the unit tests cover is also a permissions test.
 */
import { afterEach } from "vitest";
import { runbooks } from "../../runbooks/index.js";
import { watchRunbook } from "../helpers/iam-meta.js";

const violations: string[] = [];
for (const runbook of runbooks) watchRunbook(runbook, (message) => violations.push(message));

afterEach(() => {
  if (violations.length === 0) return;
  const found = [...new Set(violations.splice(0))];
  throw new Error(`IAM meta-check: ${found.length} violation(s)\n  - ${found.join("\n  - ")}`);
});
