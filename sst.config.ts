/// <reference path="./.sst/platform/config.d.ts" />

/**
 * Deploys ops-autopilot by mapping `deploymentPlan(fleet, registry, ...)` (deploy/plan.ts) onto SST
 * components. Nothing here decides anything: which functions exist, the systems each serves, their
 * environment and their exact IAM policy, the schedules, rules, alarms and buckets are all in the plan,
 * where the wiring tests and `ops iam` read them.
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
    const { builtinFleet } = await import("./systems/index.js");
    const { runbooks } = await import("./runbooks/index.js");
    const { deploymentPlan } = await import("./deploy/plan.js");
    const { metricAlarmArgs } = await import("./alarms/index.js");
    // ARNs name the account: systems without one of their own live in the deploying account.
    const identity = await aws.getCallerIdentity({});
    const region = await aws.getRegion({});
    const plan = deploymentPlan(builtinFleet(), runbooks, {
      accountId: identity.accountId,
      region: region.name,
      stage: $app.stage,
      ...settingsFromEnvironment(),
    });

    createBuckets(plan);
    const { functions, slackUrl } = createFunctions(plan);
    const functionOf = (id: string) => {
      const fn = functions.get(id);
      if (!fn) throw new Error(`the plan names function ${id}, which it does not define`);
      return fn;
    };
    createKubernetesAccess(plan, functionOf);
    createEventRules(plan, functionOf);
    createSchedules(plan, functionOf);
    if (plan.alarmDelivery) createAlarmDelivery(plan.alarmDelivery);
    createAlarms(plan, metricAlarmArgs);
    if (plan.backupTasks.length) await createBackupTasks(plan);

    return {
      functions: plan.functions.length,
      schedules: plan.schedules.length,
      alarms: plan.alarms.length,
      backupTasks: plan.backupTasks.length,
      // The Request URL of the Slack app's /ops command (README, "Slack: /ops").
      ...(slackUrl ? { slackUrl } : {}),
    };
  },
});

// The pieces below only map one part of the plan each onto SST components (called from `run`, where
// SST's globals and the dynamic imports are available).

type Plan = ReturnType<typeof import("./deploy/plan.js").deploymentPlan>;
type FunctionOf = (id: string) => sst.aws.Function;
type Statement = Plan["functions"][number]["permissions"][number];

/** The deployment's settings from the deploying shell's environment. */
function settingsFromEnvironment() {
  const env = process.env;
  return {
    dryRun: env.OPS_DRY_RUN === "true",
    ...(env.OPS_PG_LAYER_ARN ? { pgLayerArn: env.OPS_PG_LAYER_ARN } : {}),
    ...(env.OPS_SLACK_SECRET_ARN ? { slackSecretArn: env.OPS_SLACK_SECRET_ARN } : {}),
    ...(env.OPS_PAGERDUTY_SECRET_ARN ? { pagerDutySecretArn: env.OPS_PAGERDUTY_SECRET_ARN } : {}),
    ...(env.OPS_SLACK_CHANNEL ? { slackChannel: env.OPS_SLACK_CHANNEL } : {}),
  };
}

/** A plan statement as SST's `permissions` entry (conditions only when there are any). */
function sstPermission(p: Statement) {
  return { actions: p.actions, resources: p.resources, ...(p.conditions?.length ? { conditions: p.conditions } : {}) };
}

function createBuckets(plan: Plan): void {
  for (const bucket of plan.buckets) {
    const created = new sst.aws.Bucket(bucket.id, {
      versioning: bucket.versioning,
      enforceHttps: bucket.enforceHttps,
      // SST's own rules only expire objects; the ids make it create the configuration, whose rules the
      // transform replaces with the plan's.
      ...(bucket.lifecycleRules.length ? { lifecycle: bucket.lifecycleRules.map((rule) => ({ id: rule.id })) } : {}),
      transform: {
        ...(bucket.lifecycleRules.length ? { lifecycle: { rules: bucket.lifecycleRules } } : {}),
        bucket: {
          bucket: bucket.name,
          forceDestroy: $app.stage !== "production",
          ...(bucket.objectLock ? { objectLockEnabled: true } : {}),
        },
        publicAccessBlock: {
          blockPublicAcls: true,
          blockPublicPolicy: true,
          ignorePublicAcls: true,
          restrictPublicBuckets: true,
        },
      },
    });
    if (bucket.objectLock) {
      new aws.s3.BucketObjectLockConfiguration(`${bucket.id}ObjectLock`, {
        bucket: created.name,
        rule: { defaultRetention: { mode: bucket.objectLock.mode, days: bucket.objectLock.days } },
      });
    }
  }
}

/** What every planned function shares: the runtime, handler, size, environment and policy. */
function functionArgs(fn: {
  handler: string;
  memoryMB: number;
  timeoutSeconds: number;
  environment: Record<string, string>;
  permissions: Parameters<typeof sstPermission>[0][];
}) {
  return {
    runtime: "nodejs22.x" as const,
    handler: fn.handler,
    memory: `${fn.memoryMB} MB` as const,
    timeout: `${fn.timeoutSeconds} seconds` as const,
    environment: fn.environment,
    permissions: fn.permissions.map(sstPermission),
  };
}

/** The runbook functions and, when the plan has one, the Slack command's (with its URL). */
function createFunctions(plan: Plan): {
  functions: Map<string, sst.aws.Function>;
  slackUrl: $util.Output<string> | undefined;
} {
  const functions = new Map<string, sst.aws.Function>();
  for (const fn of plan.functions) {
    functions.set(
      fn.id,
      new sst.aws.Function(fn.id, {
        ...functionArgs(fn),
        ...(fn.layers.length ? { layers: fn.layers } : {}),
        // Workers have fixed names: the slash command's policy names their exact ARNs.
        ...(fn.name ? { transform: { function: { name: fn.name } } } : {}),
      }),
    );
  }
  if (!plan.slack) return { functions, slackUrl: undefined };
  // The /ops slash command: a Function URL without IAM auth (Slack cannot sign SigV4); the handler
  // verifies Slack's signature before anything else. Paste the URL into the app manifest (README).
  const slack = new sst.aws.Function(plan.slack.id, {
    ...functionArgs(plan.slack),
    url: { authorization: plan.slack.url.authorization },
  });
  functions.set(plan.slack.id, slack);
  createApprovalExpiry(plan.slack.expiry);
  return { functions, slackUrl: slack.url };
}

/** The approvals' expiry sweep and its rate schedule (functions/approval-expiry.md). */
function createApprovalExpiry(expiry: NonNullable<Plan["slack"]>["expiry"]): void {
  const fn = new sst.aws.Function(expiry.id, functionArgs(expiry));
  new sst.aws.CronV2(expiry.schedule.id, {
    schedule: expiry.schedule.expression as `rate(${string})`,
    function: fn.arn,
    retries: 2,
    event: expiry.schedule.event,
  });
}

/** EKS access entries: each function is let into its systems' namespaces only. */
function createKubernetesAccess(plan: Plan, functionOf: FunctionOf): void {
  for (const fn of plan.functions) {
    for (const [i, access] of fn.kubernetesAccess.entries()) {
      const id = `KubeAccess${fn.id}${i}`;
      const entry = new aws.eks.AccessEntry(id, {
        clusterName: access.cluster,
        principalArn: functionOf(fn.id).nodes.role.arn,
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

function createEventRules(plan: Plan, functionOf: FunctionOf): void {
  for (const rule of plan.eventRules) {
    const fn = functionOf(rule.function);
    const eventRule = new aws.cloudwatch.EventRule(rule.id, { eventPattern: JSON.stringify(rule.pattern) });
    new aws.cloudwatch.EventTarget(`${rule.id}Target`, { rule: eventRule.name, arn: fn.arn });
    new aws.lambda.Permission(`${rule.id}Invoke`, {
      action: "lambda:InvokeFunction",
      function: fn.name,
      principal: "events.amazonaws.com",
      sourceArn: eventRule.arn,
    });
  }
}

function createSchedules(plan: Plan, functionOf: FunctionOf): void {
  for (const schedule of plan.schedules) {
    new sst.aws.CronV2(schedule.id, {
      schedule: schedule.expression as `cron(${string})`,
      timezone: schedule.timezone,
      function: functionOf(schedule.function).arn,
      retries: 2,
      event: schedule.event,
    });
  }
}

/**
 * Alarms reach people: the alarm function (routing, reminders, remediation) on this stage's alarm
 * state changes, a reminder tick, its state bucket, and the SMS/email topics people subscribe to.
 */
function createAlarmDelivery(delivery: NonNullable<Plan["alarmDelivery"]>): void {
  for (const topic of delivery.topics) {
    new sst.aws.SnsTopic(topic.id, { transform: { topic: { name: topic.name } } });
  }
  new sst.aws.Bucket(delivery.stateBucket.id, {
    enforceHttps: true,
    transform: { bucket: { bucket: delivery.stateBucket.name, forceDestroy: $app.stage !== "production" } },
  });
  const fn = delivery.function;
  const alarmFn = new sst.aws.Function(fn.id, functionArgs(fn));
  const rule = new aws.cloudwatch.EventRule(delivery.rule.id, {
    eventPattern: JSON.stringify(delivery.rule.pattern),
  });
  new aws.cloudwatch.EventTarget(`${delivery.rule.id}Target`, { rule: rule.name, arn: alarmFn.arn });
  new aws.lambda.Permission(`${delivery.rule.id}Invoke`, {
    action: "lambda:InvokeFunction",
    function: alarmFn.name,
    principal: "events.amazonaws.com",
    sourceArn: rule.arn,
  });
  new sst.aws.CronV2(delivery.reminder.id, {
    schedule: delivery.reminder.expression as `rate(${string})`,
    function: alarmFn.arn,
    event: delivery.reminder.event,
  });
}

function createAlarms(plan: Plan, metricAlarmArgs: typeof import("./alarms/index.js").metricAlarmArgs): void {
  const topics = new Map(plan.topics.map((t) => [t.id, new sst.aws.SnsTopic(t.id)]));
  for (const alarm of plan.alarms) {
    const topic = topics.get(alarm.topic);
    if (!topic) throw new Error(`alarm ${alarm.id} names topic ${alarm.topic}, which the plan does not define`);
    new aws.cloudwatch.MetricAlarm(alarm.id, {
      name: alarm.name,
      // One metric with its dimensions, or metric math as metricQueries (alarms/index.ts).
      ...metricAlarmArgs(alarm.definition),
      alarmActions: [topic.arn],
      okActions: [topic.arn],
    });
  }
}

/** The Fargate backup task of each region with systems whose long dumps are handed to it. */
async function createBackupTasks(plan: Plan): Promise<void> {
  const { toPolicyDocument } = await import("./lib/iam.js");
  const dockerbuild = await import("@pulumi/docker-build");
  const ecsTasksTrust = JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: "ecs-tasks.amazonaws.com" }, Action: "sts:AssumeRole" }],
  });
  for (const task of plan.backupTasks) createBackupTask(task, { plan, toPolicyDocument, dockerbuild, ecsTasksTrust });
}

function createBackupTask(
  task: Plan["backupTasks"][number],
  deps: {
    plan: Plan;
    toPolicyDocument: typeof import("./lib/iam.js").toPolicyDocument;
    dockerbuild: typeof import("@pulumi/docker-build");
    ecsTasksTrust: string;
  },
): void {
  const opts =
    task.region === deps.plan.region
      ? {}
      : { provider: new aws.Provider(`${task.id}Provider`, { region: task.region }) };
  const repository = new aws.ecr.Repository(
    `${task.id}Repository`,
    {
      name: `ops-autopilot-${$app.stage}-backup-task`,
      imageScanningConfiguration: { scanOnPush: true },
      forceDelete: $app.stage !== "production",
    },
    opts,
  );
  const token = aws.ecr.getAuthorizationTokenOutput({ registryId: repository.registryId }, opts);
  // Built at deploy time from the repository's Dockerfile: the same code and catalogue as the functions.
  const image = new deps.dockerbuild.Image(`${task.id}Image`, {
    context: { location: task.image.context },
    dockerfile: { location: task.image.dockerfile },
    platforms: [task.architecture === "ARM64" ? "linux/arm64" : "linux/amd64"],
    push: true,
    tags: [$interpolate`${repository.repositoryUrl}:latest`],
    registries: [{ address: repository.repositoryUrl, username: token.userName, password: token.password }],
  });
  const cluster = new aws.ecs.Cluster(`${task.id}Cluster`, { name: task.cluster }, opts);
  const logs = new aws.cloudwatch.LogGroup(
    `${task.id}Logs`,
    { name: task.logGroup, retentionInDays: task.logRetentionDays },
    opts,
  );
  const executionRole = new aws.iam.Role(`${task.id}ExecutionRole`, {
    name: task.executionRole.name,
    assumeRolePolicy: deps.ecsTasksTrust,
    managedPolicyArns: task.executionRole.managedPolicyArns,
  });
  const taskRole = new aws.iam.Role(`${task.id}TaskRole`, {
    name: task.taskRole.name,
    assumeRolePolicy: deps.ecsTasksTrust,
  });
  new aws.iam.RolePolicy(`${task.id}TaskPolicy`, {
    role: taskRole.name,
    policy: JSON.stringify(deps.toPolicyDocument(task.taskRole.permissions)),
  });
  new aws.ecs.TaskDefinition(
    `${task.id}Definition`,
    {
      family: task.family,
      requiresCompatibilities: ["FARGATE"],
      networkMode: "awsvpc",
      cpu: String(task.cpu),
      memory: String(task.memoryMiB),
      ephemeralStorage: { sizeInGib: task.ephemeralStorageGiB },
      runtimePlatform: { operatingSystemFamily: "LINUX", cpuArchitecture: task.architecture },
      executionRoleArn: executionRole.arn,
      taskRoleArn: taskRole.arn,
      containerDefinitions: $jsonStringify([
        {
          name: task.container,
          image: image.ref,
          essential: true,
          environment: Object.entries(task.environment).map(([name, value]) => ({ name, value })),
          logConfiguration: {
            logDriver: "awslogs",
            options: {
              "awslogs-group": logs.name,
              "awslogs-region": task.region,
              "awslogs-stream-prefix": "backup",
            },
          },
        },
      ]),
    },
    { ...opts, dependsOn: [cluster] },
  );
}
