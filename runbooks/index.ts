import { backupRunbook } from "./backup/index.js";
import { drillContinueRunbook } from "./drill-continue/index.js";
import { drillJanitorRunbook } from "./drill-janitor/index.js";
import { ecrCleanupRunbook } from "./ecr-cleanup/index.js";
import { healthProbeRunbook } from "./health-probe/index.js";
import { keepAwakeRunbook } from "./keep-awake/index.js";
import { kubeRollbackRunbook } from "./kube-rollback/index.js";
import { pruneBackupsRunbook } from "./prune-backups/index.js";
import { restoreDrillRunbook } from "./restore-drill/index.js";
import { rollbackRunbook } from "./rollback/index.js";
import { scaleDownRunbook } from "./scale-down/index.js";
import { scaleUpRunbook } from "./scale-up/index.js";
import { statusRunbook } from "./status/index.js";
import type { AnyRunbook } from "./types.js";

/**
 * The registry: every runbook the CLI, the schedules and the Lambda handlers can name. `sst.config.ts`
 * and the wiring meta-test walk it.
 */
export const runbooks: readonly AnyRunbook[] = [
  backupRunbook,
  pruneBackupsRunbook,
  scaleDownRunbook,
  scaleUpRunbook,
  keepAwakeRunbook,
  restoreDrillRunbook,
  drillContinueRunbook,
  drillJanitorRunbook,
  ecrCleanupRunbook,
  rollbackRunbook,
  healthProbeRunbook,
  kubeRollbackRunbook,
  statusRunbook,
];
