import { CloudWatchClient, DescribeAlarmsCommand } from "@aws-sdk/client-cloudwatch";
import { DescribeClusterCommand, EKSClient } from "@aws-sdk/client-eks";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { ROLLBACK_MARKS } from "../../runbooks/kube-rollback/apply.js";
import { formatRecord, KUBE_MARKS } from "../../runbooks/scaling/tags.js";
import { statusRunbook } from "../../runbooks/status/index.js";
import type { Report } from "../../runbooks/types.js";
import { type System, type SystemInput, systemSchema } from "../../systems/schema.js";
import { testClients, testContext } from "../helpers/context.js";
import { type KubeApiServer, startKubeApi } from "../helpers/kube-api.js";

// `/ops status` on an EKS system: the official Kubernetes client against the local HTTPS API server
// (tests/helpers/kube-api.ts), eks:DescribeCluster faked with the API reference's shape.

const CLUSTER = "ode-test";
const NS = "ode";
const NOW = new Date("2026-11-23T03:00:00Z");

let kube: KubeApiServer | undefined;
afterEach(async () => {
  await kube?.close();
  kube = undefined;
});

function system(names: string[]): System {
  return systemSchema.parse({
    id: "ode-test",
    name: "ODE test",
    account: { region: "us-east-1", accountId: "123456789012" },
    timezone: "America/New_York",
    runtime: { kind: "eks", cluster: CLUSTER, namespace: NS, deployments: names.map((name) => ({ name })) },
    databases: [],
    dr: { rtoMinutes: 60, rpoMinutes: 1440, drillSource: "pg_dump" },
    offHours: { enabled: false, reason: "test" },
  } satisfies SystemInput);
}

async function status(names: string[], setup: (api: KubeApiServer) => void): Promise<Report> {
  const api = await startKubeApi({ cluster: CLUSTER, namespace: NS });
  kube = api;
  setup(api);
  const eks = new EKSClient({
    region: "us-east-1",
    credentials: { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" },
  });
  mockClient(eks)
    .on(DescribeClusterCommand, { name: CLUSTER })
    .resolves({
      cluster: { name: CLUSTER, status: "ACTIVE", endpoint: api.url, certificateAuthority: { data: api.caData } },
    });
  const cloudwatch = new CloudWatchClient({ region: "us-east-1" });
  mockClient(cloudwatch).on(DescribeAlarmsCommand).resolves({ MetricAlarms: [], CompositeAlarms: [] });
  const ctx = testContext({ system: system(names), clients: { ...testClients(), eks, cloudwatch }, now: NOW });
  return statusRunbook.run(ctx, {});
}

const line = (report: Report, resource: string) => report.actions.find((a) => a.resource === resource);

describe("status on EKS: the deployments' replicas, off-hours record and last rollback", () => {
  it("reads each catalogue deployment with one list, and writes nothing", async () => {
    const record = formatRecord({
      desired: 4,
      bounds: { min: 2, max: 20 },
      floor: 1,
      at: new Date("2026-11-22T23:00:00Z"),
    });
    const rollback = "v1 from=h3 to=h2 at=2026-11-22T20:00:00Z";
    const report = await status(["ode-worker", "ode-api"], (api) => {
      api.addDeployment({ name: "ode-worker", replicas: 1, annotations: { [KUBE_MARKS.record]: record } });
      api.addDeployment({ name: "ode-api", replicas: 3, annotations: { [ROLLBACK_MARKS.lastRollback]: rollback } });
      api.addDeployment({ name: "someone-elses", replicas: 5 });
    });
    const worker = line(report, "capacity/ode-worker");
    expect(worker?.status).toBe("done");
    expect(worker?.reason).toMatch(/^1\/1 running; off-hours since 2026-11-22T23:00:00.000Z \(4.0 h\), restores to 4$/);
    expect(line(report, "capacity/ode-api")?.reason).toBe("3/3 running; not in off-hours");
    // Only the catalogue's deployments are shown.
    expect(report.actions.some((a) => a.resource.includes("someone-elses"))).toBe(false);
    const rolledBack = report.actions.find((a) => a.resource.startsWith("rollback/"));
    expect(rolledBack?.reason).toMatch(/h3.*h2|h2.*h3/);
    expect(kube?.writes()).toEqual([]);
  });

  it("a deployment missing from the namespace fails the capacity part only, naming it", async () => {
    const report = await status(["ode-worker", "ode-gone"], (api) => {
      api.addDeployment({ name: "ode-worker", replicas: 2 });
    });
    const capacity = report.actions.find((a) => a.resource.startsWith("capacity/"));
    expect(capacity?.status).toBe("failed");
    expect(capacity?.reason).toMatch(/namespace ode has no deployment ode-gone/);
    // The other parts are still read and shown.
    expect(report.actions.find((a) => a.resource.startsWith("alarms/"))?.status).toBe("done");
    expect(report.status).toBe("partial");
  });

  it("declares DescribeCluster on the cluster and a view-only access entry that may only list deployments", () => {
    const sys = system(["ode-worker"]);
    const actions = statusRunbook.permissions(sys).flatMap((p) => p.actions);
    expect(actions).toContain("eks:DescribeCluster");
    expect(actions.filter((a) => a.startsWith("eks:"))).toEqual(["eks:DescribeCluster"]);
    const access = statusRunbook.kubernetesAccess?.(sys) ?? [];
    expect(access).toHaveLength(1);
    expect(access[0]?.policyArn).toMatch(/AmazonEKSViewPolicy$/);
    expect(access[0]?.accessScope).toEqual({ type: "namespace", namespaces: [NS] });
    expect(access[0]?.rules).toEqual([{ apiGroups: ["apps"], resources: ["deployments"], verbs: ["list"] }]);
  });
});
