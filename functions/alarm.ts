import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { z } from "zod";
import { alarmFacts, alarmReminderTickSchema, alarmStateChangeSchema, changeOf } from "../alarms/events.js";
import { type AlarmFlowDeps, handleAlarmChange, type ReminderTarget, sendReminders } from "../alarms/flow.js";
import { type AlarmDefinition, findAlarmByName, fleetAlarms } from "../alarms/index.js";
import { type AlarmStateStore, listAlarmStates } from "../alarms/state.js";
import { createAwsClients } from "../lib/aws/clients.js";
import { ValidationError } from "../lib/errors.js";
import { type Channels, createRoutingNotifier, routeFor } from "../lib/notify/router.js";
import { channelsFromSettings, parseNotifySettings } from "../lib/notify/settings.js";
import type { SlackThread } from "../lib/notify/slack.js";
import type { Report } from "../runbooks/types.js";
import { createRuntime, parseEvent, type Runtime, runInLambda } from "./runtime.js";

/** What the alarm function returns: the step taken and, when the alarm names one, its runbook's report. */
export interface AlarmResult {
  alarm: string;
  step: string;
  remediation?: Pick<Report, "runbook" | "status" | "summary">;
  reminded?: string[];
}

/** The alarm function's pieces beyond the shared runtime. */
export interface AlarmDeps {
  runtime: Runtime;
  store: AlarmStateStore;
  channels: Channels;
  /** The fleet's deployed alarms (`fleetAlarms`). */
  alarms?: readonly AlarmDefinition[];
}

const stateEnvSchema = z.object({
  /** Bucket (and prefix) of the alarms' state objects. */
  OPS_ALARM_STATE_BUCKET: z.string().min(3),
  OPS_ALARM_STATE_PREFIX: z.string().min(1).default("alarm-state"),
  AWS_REGION: z.string().optional(),
});

/**
 * EventBridge "CloudWatch Alarm State Change" of an ops-autopilot alarm, and the reminder tick. The event
 * is validated; an alarm that is not one of the fleet's is rejected and nothing is posted. The state
 * change is notified on the system's route for the alarm's severity (no re-send, OK in the thread,
 * duplicates once); an alarm entering ALARM that names a runbook runs it with its input through the
 * runner, so the runbook's own guards apply, and its report is posted in the alarm's thread.
 */
export function createAlarmHandler(deps: AlarmDeps) {
  const { runtime } = deps;
  const alarms = deps.alarms ?? fleetAlarms(runtime.fleet.systems);
  const flow: AlarmFlowDeps = {
    store: deps.store,
    channels: deps.channels,
    now: runtime.now,
    logger: runtime.logger,
  };
  const handler = async (event: unknown, context: Context): Promise<AlarmResult> => {
    if (alarmReminderTickSchema.safeParse(event).success) {
      const reminded = await sendReminders(flow, reminderTarget(runtime, alarms), await listAlarmStates(deps.store));
      return { alarm: "*", step: "reminders", reminded };
    }
    const parsed = parseEvent(runtime, alarmStateChangeSchema, event, "CloudWatch alarm state change");
    const name = parsed.detail.alarmName;
    const alarm = findAlarmByName(alarms, name);
    if (!alarm) {
      const error = new ValidationError(
        `alarm "${name}" is not an alarm of this fleet (ops-autopilot-<stage>-<id>, ids: ${alarms
          .slice(0, 5)
          .map((a) => a.id)
          .join(", ")}, …)`,
      );
      runtime.logger.error("rejected CloudWatch alarm state change event", { error });
      throw error;
    }
    const system = runtime.fleet.systems.find((s) => s.id === alarm.system);
    const facts = alarmFacts({ name, alarm, system, state: parsed.detail.state });
    const outcome = await handleAlarmChange(flow, {
      facts,
      change: changeOf(parsed),
      route: routeFor(system, alarm.severity),
    });
    const result: AlarmResult = { alarm: name, step: outcome.step.kind };
    if (outcome.step.kind === "open" && alarm.remediation) {
      const report = await remediate(deps, alarm, name, outcome.thread, context);
      result.remediation = { runbook: report.runbook, status: report.status, summary: report.summary };
    }
    return result;
  };
  return middy(handler).use(injectLambdaContext(runtime.logger, { resetKeys: true }));
}

/** Runs the alarm's runbook; its report goes to the alarm's thread (and by its severity elsewhere). */
async function remediate(
  deps: AlarmDeps,
  alarm: AlarmDefinition,
  name: string,
  thread: SlackThread | undefined,
  context: Context,
): Promise<Report> {
  const remediation = alarm.remediation as NonNullable<AlarmDefinition["remediation"]>;
  const notify = createRoutingNotifier({
    systems: deps.runtime.fleet.systems,
    channels: deps.channels,
    ...(thread ? { thread } : {}),
  });
  return runInLambda(
    { ...deps.runtime, notify },
    {
      runbook: remediation.runbook,
      system: alarm.system,
      input: remediation.input,
      dryRun: false,
      requestedBy: `alarm:${name}`,
    },
    context,
  );
}

/** The facts and route of an alarm the reminder tick finds in ALARM (a state of an alarm since removed: none). */
function reminderTarget(runtime: Runtime, alarms: readonly AlarmDefinition[]) {
  return (name: string): ReminderTarget | undefined => {
    const alarm = findAlarmByName(alarms, name);
    if (!alarm) return undefined;
    const system = runtime.fleet.systems.find((s) => s.id === alarm.system);
    return {
      route: routeFor(system, alarm.severity),
      facts: (state) =>
        alarmFacts({
          name,
          alarm,
          system,
          state: { value: state.state, reason: `In ALARM since ${state.since}`, timestamp: state.since },
        }),
    };
  };
}

/** Builds the handler from the function's environment (bucket, Slack, PagerDuty, SNS), at cold start. */
export function alarmHandlerFromEnv(env: Record<string, string | undefined>) {
  // Not pinned to one runbook: it runs the remediations the catalogue's alarms name (never one an event
  // names), and its role holds exactly those runbooks' permissions for those systems.
  const runtime = createRuntime({}, env, { requirePin: false });
  const parsed = stateEnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new ValidationError(
      "invalid alarm function environment",
      parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
    );
  }
  const region = parsed.data.AWS_REGION ?? "us-east-1";
  return createAlarmHandler({
    runtime,
    store: {
      s3: createAwsClients({ region }).s3,
      bucket: parsed.data.OPS_ALARM_STATE_BUCKET,
      prefix: parsed.data.OPS_ALARM_STATE_PREFIX,
    },
    channels: channelsFromSettings(parseNotifySettings(env), { logger: runtime.logger }),
  });
}

type AlarmHandler = ReturnType<typeof createAlarmHandler>;
let built: AlarmHandler | undefined;

/**
 * Lambda entry point for the EventBridge rule on the fleet's alarm state changes and the reminder tick.
 * In Lambda the environment is checked when the module loads (a bad deployment fails at cold start);
 * elsewhere (tests importing this module) only when first invoked.
 */
export const handler = async (event: unknown, context: Context): Promise<AlarmResult> => {
  built ??= alarmHandlerFromEnv(process.env);
  return built(event, context);
};
if (process.env.AWS_LAMBDA_FUNCTION_NAME) built = alarmHandlerFromEnv(process.env);
