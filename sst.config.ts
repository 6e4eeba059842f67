/// <reference path="./.sst/platform/config.d.ts" />

/**
 * Deploys ops-autopilot. Nothing here is written per system: it loops over the catalogues (systems,
 * schedules, alarms) and the runbook registry. Each runbook gets its own pair of functions (scheduled +
 * worker) whose IAM policy is exactly what that runbook declares for the systems it serves.
 */
export default $config({
  app(input) {
    return {
      name: "ops-autopilot",
      home: "aws",
      // Production keeps its buckets and logs when the stack is removed; other stages clean up.
      removal: input?.stage === "production" ? "retain" : "remove",
      protect: input?.stage === "production",
    };
  },
  async run() {
    const { builtinFleet } = await import("./lib/catalogue.js");
    const { runbooks } = await import("./runbooks/index.js");
    const { fleetAlarms } = await import("./alarms/index.js");
    const { backupBucketLifecycleRules } = await import("./lib/backup/bucket-lifecycle.js");
    const fleet = builtinFleet();
    const deployed = fleet.systems.filter((s) => s.deploy);

    const pascal = (id: string) =>
      id
        .split(/[^a-zA-Z0-9]/)
        .filter(Boolean)
        .map((p) => p[0]?.toUpperCase() + p.slice(1))
        .join("");

    // Backup buckets of systems in this deployment's own account (others are reached through their
    // roleArn and keep their buckets in their account): versioned, TLS only, public access blocked.
    const lifecycleRules = backupBucketLifecycleRules();
    for (const system of deployed) {
      if (!system.backup || system.account.roleArn) continue;
      new sst.aws.Bucket(`Backups${pascal(system.id)}`, {
        versioning: true,
        enforceHttps: true,
        // SST's own rules only expire objects; the ids make it create the configuration, whose rules the
        // transform replaces with ours (abort stale multipart uploads, expire pruned versions).
        lifecycle: lifecycleRules.map((rule) => ({ id: rule.id })),
        transform: {
          lifecycle: { rules: lifecycleRules },
          bucket: { bucket: system.backup.bucket, forceDestroy: $app.stage !== "production" },
          publicAccessBlock: {
            blockPublicAcls: true,
            blockPublicPolicy: true,
            ignorePublicAcls: true,
            restrictPublicBuckets: true,
          },
        },
      });
    }

    // Every run's actions, as JSON lines (audit/<system>/YYYY/MM/DD/…); retained with the stage.
    const audit = new sst.aws.Bucket("Audit", { versioning: true, enforceHttps: true });

    // The pg_dump/pg_restore binaries are not in the Lambda runtime: a layer provides them under /opt/bin.
    const pgLayer = process.env.OPS_PG_LAYER_ARN;

    const scheduled = new Map<string, sst.aws.Function>();
    const workers = new Map<string, sst.aws.Function>();
    for (const runbook of runbooks) {
      const systems = deployed.filter((s) =>
        fleet.schedules.some((x) => x.runbook === runbook.name && x.system === s.id),
      );
      const served = systems.length > 0 ? systems : deployed;
      const permissions = served.flatMap((s) => runbook.permissions(s));
      const timeout = `${Math.min(runbook.timeoutSeconds ?? 300, 900)} seconds` as const;
      const common = {
        runtime: "nodejs22.x" as const,
        memory: `${runbook.memoryMB ?? 1024} MB` as const,
        timeout,
        permissions: [...permissions, { actions: ["s3:PutObject"], resources: [$interpolate`${audit.arn}/audit/*`] }],
        ...(pgLayer ? { layers: [pgLayer] } : {}),
        environment: {
          POWERTOOLS_SERVICE_NAME: "ops-autopilot",
          OPS_PG_BIN_DIRS: "/opt/bin",
          OPS_DRY_RUN: process.env.OPS_DRY_RUN ?? "false",
          OPS_AUDIT_BUCKET: audit.name,
        },
      };
      scheduled.set(
        runbook.name,
        new sst.aws.Function(`Scheduled${pascal(runbook.name)}`, { ...common, handler: "functions/scheduled.handler" }),
      );
      workers.set(
        runbook.name,
        new sst.aws.Function(`Worker${pascal(runbook.name)}`, { ...common, handler: "functions/worker.handler" }),
      );
      // Event-driven continuations (e.g. an RDS drill resuming when its instance is available).
      for (const rule of runbook.eventRules ?? []) {
        const fn = new sst.aws.Function(`${rule.name}Handler`, { ...common, handler: rule.handler });
        const eventRule = new aws.cloudwatch.EventRule(rule.name, { eventPattern: JSON.stringify(rule.pattern) });
        new aws.cloudwatch.EventTarget(`${rule.name}Target`, { rule: eventRule.name, arn: fn.arn });
        new aws.lambda.Permission(`${rule.name}Invoke`, {
          action: "lambda:InvokeFunction",
          function: fn.name,
          principal: "events.amazonaws.com",
          sourceArn: eventRule.arn,
        });
      }
    }

    // EKS access entries (issue 16): each function whose runbook declares `kubernetesAccess` for a system is
    // let into that system's namespace only. A system reached through another account's role needs the
    // entry for that role, made in that account (README, "EKS access").
    for (const runbook of runbooks) {
      const functions = [scheduled.get(runbook.name), workers.get(runbook.name)].flatMap((f) => (f ? [f] : []));
      for (const system of deployed.filter((s) => !s.account.roleArn)) {
        for (const access of runbook.kubernetesAccess?.(system) ?? []) {
          for (const [i, fn] of functions.entries()) {
            const id = `KubeAccess${pascal(runbook.name)}${pascal(system.id)}${i}`;
            const entry = new aws.eks.AccessEntry(id, {
              clusterName: access.cluster,
              principalArn: fn.nodes.role.arn,
              type: "STANDARD",
            });
            new aws.eks.AccessPolicyAssociation(`${id}Policy`, {
              clusterName: access.cluster,
              principalArn: entry.principalArn,
              policyArn: access.policyArn,
              accessScope: access.accessScope,
            });
          }
        }
      }
    }

    // One EventBridge Scheduler schedule per catalogue entry, in the system's own time zone.
    for (const schedule of fleet.schedules) {
      const fn = scheduled.get(schedule.runbook);
      if (!fn) throw new Error(`schedule ${schedule.id} names unknown runbook ${schedule.runbook}`);
      new sst.aws.CronV2(`Schedule${pascal(schedule.id)}`, {
        schedule: schedule.expression as `cron(${string})`,
        timezone: schedule.timezone,
        function: fn.arn,
        retries: 2,
        event: {
          runbook: schedule.runbook,
          system: schedule.system,
          input: JSON.stringify(schedule.input),
          scheduleId: schedule.id,
        },
      });
    }

    // Alarms route by severity to one topic each (Slack, SMS and paging subscribe to these).
    const topics = new Map<string, sst.aws.SnsTopic>();
    const topicFor = (severity: string) => {
      let topic = topics.get(severity);
      if (!topic) {
        topic = new sst.aws.SnsTopic(`Alerts${pascal(severity)}`);
        topics.set(severity, topic);
      }
      return topic;
    };
    for (const alarm of fleetAlarms(deployed)) {
      const topic = topicFor(alarm.severity);
      new aws.cloudwatch.MetricAlarm(`Alarm${pascal(alarm.id)}`, {
        name: `ops-autopilot-${$app.stage}-${alarm.id}`,
        alarmDescription: alarm.description,
        namespace: alarm.namespace,
        metricName: alarm.metric,
        dimensions: alarm.dimensions,
        ...(alarm.statistic.startsWith("p") ? { extendedStatistic: alarm.statistic } : { statistic: alarm.statistic }),
        comparisonOperator: alarm.comparison,
        threshold: alarm.threshold,
        period: alarm.periodSeconds,
        evaluationPeriods: alarm.evaluationPeriods,
        treatMissingData: alarm.treatMissingData,
        alarmActions: [topic.arn],
        okActions: [topic.arn],
      });
    }

    return { schedules: fleet.schedules.length, alarms: fleetAlarms(deployed).length };
  },
});
