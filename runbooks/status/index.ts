import { z } from "zod";
import {
  arn,
  backupKeyPrefix,
  backupKmsReadPermissions,
  backupObjectArn,
  listBucketPermission,
  s3Arn,
} from "../../lib/iam.js";
import { drillPrefix } from "../../runbooks/backup/layout.js";
import type { System } from "../../systems/schema.js";
import { ReportBuilder } from "../report.js";
import { serviceArns } from "../rollback/index.js";
import type { Permission, Runbook } from "../types.js";
import { kubeStatusAccess, kubeStatusPermissions } from "./kube.js";
import { statusLines, statusSummary } from "./plan.js";
import { readStatus } from "./read.js";

/**
 * Read-only IAM: ECS DescribeServices on the system's services (on EKS: DescribeCluster and a view-only
 * access entry listing the namespace's deployments) (desired/running and their tags: the
 * off-hours record, the last rollback); ListBucket and GetObject under its backups and drill records
 * (manifests are read to verify); DescribeAlarms on our alarms. Nothing that writes.
 */
export function statusPermissions(system: System): Permission[] {
  const services = serviceArns(system);
  const backup = system.backup;
  return [
    ...(services.length ? [{ actions: ["ecs:DescribeServices"], resources: services }] : []),
    ...kubeStatusPermissions(system),
    ...listBucketPermission(system, [backupKeyPrefix(system), drillPrefix(system.id)].filter(Boolean)),
    ...(backup
      ? [
          {
            actions: ["s3:GetObject"],
            resources: [backupObjectArn(system), s3Arn(system, `${backup.bucket}/${drillPrefix(system.id)}*`)],
          },
        ]
      : []),
    ...backupKmsReadPermissions(system),
    { actions: ["cloudwatch:DescribeAlarms"], resources: [arn(system, "cloudwatch", "alarm:ops-autopilot-*")] },
  ];
}

const statusInput = z.strictObject({});

/**
 * `status`: what `/ops status <system>` shows — capacities and the off-hours state, the newest verified
 * backup against the age limit, the last drill's RTO/RPO verdicts, open alarms, the last rollback. Reads
 * only (a dry run is the same run); a part that cannot be read is reported failed with why, and the
 * other parts are still shown. Page: runbooks/status/status.md.
 */
export const statusRunbook: Runbook<typeof statusInput> = {
  name: "status",
  description: "Read-only status: capacity and off-hours, last backup vs its limit, last drill, alarms, last rollback",
  destructive: false,
  input: statusInput,
  permissions: statusPermissions,
  kubernetesAccess: kubeStatusAccess,
  // Asked for by people (`/ops status`), never scheduled: it serves every deployed system.
  serves: (system) => system.deploy,
  timeoutSeconds: 60,
  async run(ctx) {
    const report = new ReportBuilder(ctx, "status");
    const facts = await readStatus(ctx);
    const lines = statusLines(facts);
    for (const line of lines) {
      report.add({
        resource: `${line.part}/${line.resource}`,
        action: "read",
        status: line.ok ? "done" : "failed",
        reason: line.text,
      });
    }
    const unread = lines.filter((l) => !l.ok).length;
    const summary = `${ctx.system.id}: ${statusSummary(facts, lines)}`;
    return report.finish({ summary, ...(unread === lines.length ? { status: "failed" as const } : {}) });
  },
};
