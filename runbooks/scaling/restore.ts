import type { ReportBuilder } from "../report.js";
import type { RestoreDecision, Workload, WorkloadBackend } from "./backend.js";
import { capacityJson, decideScaleUp } from "./decide.js";
import { type RecordState, readRecord } from "./tags.js";

/**
 * scale-up's decision for one workload (restore exactly what was recorded), shared by scale-up and
 * keep-awake's wake: when it restores nothing, the skip or failure is reported under `action` with the
 * capacity found, and nothing is returned.
 */
export function restoreOrReport(options: {
  report: ReportBuilder;
  backend: WorkloadBackend;
  service: Workload;
  resource: string;
  action: string;
  record?: RecordState;
}): RestoreDecision | undefined {
  const { backend, service } = options;
  const decision = decideScaleUp({
    current: service.capacity,
    record: options.record ?? readRecord(service.marks, backend.marks),
    autoscaler: backend.autoscaler,
    noun: backend.noun,
  });
  if (decision.kind === "restore") return decision;
  options.report.add({
    resource: options.resource,
    action: options.action,
    status: decision.kind === "fail" ? "failed" : "skipped",
    reason: decision.reason,
    before: capacityJson(service.capacity),
  });
  return undefined;
}
