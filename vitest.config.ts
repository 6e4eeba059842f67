import { defineConfig } from "vitest/config";

// Three tiers (README, Development): unit (no network, fakes with real response shapes), wiring (catalogues and
// the deployment plan), integration (real PostgreSQL, real pg_dump/pg_restore, a real S3-protocol server).
export default defineConfig({
  test: {
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true", TZ: "UTC" },
    projects: [
      {
        extends: true,
        // Every runbook a unit test runs is held to its declared IAM permissions and to read-only dry runs.
        test: { name: "unit", include: ["tests/unit/**/*.test.ts"], setupFiles: ["tests/setup/meta.ts"] },
      },
      { extends: true, test: { name: "wiring", include: ["tests/wiring/**/*.test.ts"] } },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["tests/integration/**/*.test.ts"],
          setupFiles: ["tests/setup/meta.ts"],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // Each file starts its own PostgreSQL and S3 server; two cores, so not too many at once, and
          // after the fast tiers (a group of its own, as vitest requires for a different worker count).
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
