import { errorMessage, OpsError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import { type AlarmFacts, alarmMessage, alarmReply, valueAgainstThreshold } from "../lib/notify/blocks.js";
import {
  type ChannelName,
  type Channels,
  type Delivery,
  deliver,
  type Outgoing,
  type Route,
} from "../lib/notify/router.js";
import type { SlackThread } from "../lib/notify/slack.js";
import {
  type AlarmChange,
  type AlarmState,
  type AlarmStateStore,
  type AlarmStep,
  claimedState,
  decideAlarmStep,
  readAlarmState,
  reminderDue,
  writeAlarmState,
} from "./state.js";

/** Some channel of an alarm notification failed; the event is retried and only the rest is re-sent. */
export class AlarmDeliveryError extends OpsError {
  constructor(message: string) {
    super("alarm-delivery", message);
  }
}

/** What the alarm flow works with. */
export interface AlarmFlowDeps {
  store: AlarmStateStore;
  channels: Channels;
  now: () => Date;
  logger: Logger;
}

/** One alarm's event, with what the catalogue says about the alarm. */
export interface AlarmEventInput {
  facts: AlarmFacts;
  change: AlarmChange;
  route: Route;
}

/** What was done for an event: the step, what it reached, and the alarm's Slack thread. */
export interface AlarmOutcome {
  step: AlarmStep;
  delivery?: Delivery;
  thread?: SlackThread;
}

const ATTEMPTS = 4;
type Kind = Exclude<AlarmStep["kind"], "redo" | "skip" | "record">;

/** The channels a step uses: no data and OK do not wake anyone by SMS twice. */
function channelsFor(kind: Kind, route: Route): Route {
  const quiet: ChannelName[] = ["slack", "log"];
  if (kind === "no-data") return { ...route, channels: route.channels.filter((c) => quiet.includes(c)) };
  return route;
}

function outgoing(kind: Kind, facts: AlarmFacts, thread: SlackThread | undefined, reminders: number): Outgoing {
  const line = `${facts.systemName}: ${facts.description} (${valueAgainstThreshold(facts)})`;
  const subject = {
    open: `[${facts.severity.toUpperCase()}] ALARM ${line}`,
    again: `[${facts.severity.toUpperCase()}] ALARM again ${line}`,
    remind: `[${facts.severity.toUpperCase()}] still ALARM ${line}`,
    resolve: `[OK] resolved ${line}`,
    "no-data": `[NO DATA] ${line}`,
  }[kind];
  const trigger = {
    trigger: {
      dedupKey: facts.name,
      summary: subject,
      source: facts.system,
      severity: facts.severity,
      component: facts.id,
      customDetails: { reason: facts.reason, metric: facts.metric },
    },
  };
  const page = kind === "open" || kind === "again" ? trigger : kind === "resolve" ? { resolve: facts.name } : undefined;
  const slack =
    kind === "open"
      ? alarmMessage(facts)
      : alarmReply(facts, kind === "remind" ? "reminder" : kind === "resolve" ? "ok" : kind, reminders);
  return {
    subject,
    body: `${subject}\n\n${facts.reason}\n\nAlarm: ${facts.name}\nSince: ${facts.since}`,
    slack,
    ...(kind !== "open" && thread ? { thread } : {}),
    ...(kind === "remind" ? { broadcast: true } : {}),
    ...(page ? { page } : {}),
    log: { alarm: facts.name, step: kind, state: facts.state },
  };
}

/**
 * Handles one "CloudWatch Alarm State Change": decide the step ({@link decideAlarmStep}), claim it by a
 * conditional write of the alarm's state (a duplicate that loses the write re-reads and finds the event
 * handled), deliver it on the route's channels, then record the Slack thread and the channels reached.
 * A channel that failed throws after the others were reached: the retry re-sends only what is missing.
 */
export async function handleAlarmChange(deps: AlarmFlowDeps, input: AlarmEventInput): Promise<AlarmOutcome> {
  const { facts, change, route } = input;
  const allDelivered = (s: AlarmState) =>
    channelsFor(s.step as Kind, route).channels.every((c) => s.delivered.includes(c));
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const now = deps.now();
    const read = await readAlarmState(deps.store, facts.name);
    const previous = read?.state;
    const step = decideAlarmStep({ ...(previous ? { state: previous } : {}), change, now, allDelivered });
    if (step.kind === "skip") {
      deps.logger.info("alarm event: nothing to send", { alarm: facts.name, reason: step.reason });
      return { step, ...threadOf(previous) };
    }
    const { kind, claimed } = claimStep(input, { step, previous, now });
    const written = await writeAlarmState(deps.store, claimed, read);
    if (written === "conflict") continue;
    if (!kind) {
      deps.logger.info("alarm event: recorded", { alarm: facts.name, reason: (step as { reason: string }).reason });
      return { step };
    }
    return await deliverStep(deps, { input, kind, claimed, previous, etag: written.etag, step });
  }
  throw new AlarmDeliveryError(`alarm ${facts.name}: ${ATTEMPTS} conditional writes of its state conflicted`);
}

/**
 * The step to send (none: the event is only recorded, as if every channel had it) and the state that
 * claims it; a redo keeps the earlier claim and only renews its time.
 */
function claimStep(
  input: AlarmEventInput,
  options: { step: Exclude<AlarmStep, { kind: "skip" }>; previous: AlarmState | undefined; now: Date },
): { kind: Kind | undefined; claimed: AlarmState } {
  const { step, previous, now } = options;
  const kind = step.kind === "redo" ? (step.step as Kind) : step.kind === "record" ? undefined : step.kind;
  const claimed: AlarmState =
    step.kind === "redo" && previous
      ? { ...previous, claimedAt: now.toISOString() }
      : claimedState({
          name: input.facts.name,
          ...(previous ? { state: previous } : {}),
          change: input.change,
          step: kind ?? "record",
          now,
        });
  if (!kind) claimed.delivered = [...input.route.channels];
  return { kind, claimed };
}

function threadOf(state: AlarmState | undefined): { thread?: SlackThread } {
  return state?.episode?.slack ? { thread: state.episode.slack } : {};
}

async function deliverStep(
  deps: AlarmFlowDeps,
  options: {
    input: AlarmEventInput;
    kind: Kind;
    claimed: AlarmState;
    previous: AlarmState | undefined;
    etag: string | undefined;
    step: AlarmStep;
  },
): Promise<AlarmOutcome> {
  const { input, kind, claimed, previous } = options;
  const thread = claimed.episode?.slack ?? previous?.episode?.slack;
  const out = outgoing(kind, input.facts, thread, claimed.episode?.reminders ?? 0);
  const delivery = await deliver(
    deps.channels,
    channelsFor(kind, input.route),
    out,
    claimed.delivered as ChannelName[],
  );
  if (kind === "resolve" && thread && delivery.delivered.includes("slack") && deps.channels.slack) {
    // The first post shows it is over, so a scroll through the channel does not find it still red.
    await deps.channels.slack
      .update({ at: thread, message: alarmMessage(input.facts, { resolvedAt: input.facts.since }) })
      .catch((error: unknown) =>
        deps.logger.warn("could not mark the alarm message resolved", { error: errorMessage(error) }),
      );
  }
  const final: AlarmState = {
    ...claimed,
    delivered: [...new Set([...claimed.delivered, ...delivery.delivered])],
    ...(claimed.episode
      ? { episode: { ...claimed.episode, ...(kind === "open" && delivery.slack ? { slack: delivery.slack } : {}) } }
      : {}),
  };
  const saved = await writeAlarmState(deps.store, final, options.etag ? { etag: options.etag } : {});
  if (saved === "conflict") {
    deps.logger.warn("alarm state changed while this event was delivered: thread and deliveries not recorded", {
      alarm: input.facts.name,
    });
  }
  if (delivery.failures.length > 0) {
    throw new AlarmDeliveryError(
      `alarm ${input.facts.name}: ${delivery.failures.map((f) => `${f.channel} failed (${f.error})`).join(", ")}`,
    );
  }
  return {
    step: options.step,
    delivery,
    ...(final.episode?.slack ? { thread: final.episode.slack } : thread ? { thread } : {}),
  };
}

/** One alarm the reminder tick looks at: its facts (from the catalogue) and route. */
export interface ReminderTarget {
  facts: (state: AlarmState) => AlarmFacts;
  route: Route;
}

/**
 * The reminder tick (a schedule every few minutes): every alarm still in ALARM whose last notification is
 * older than its route's interval is reminded once, in its thread. The conditional write makes two ticks
 * at once remind once.
 */
export async function sendReminders(
  deps: AlarmFlowDeps,
  targetFor: (name: string) => ReminderTarget | undefined,
  names: readonly string[],
): Promise<string[]> {
  const reminded: string[] = [];
  for (const name of names) {
    const target = targetFor(name);
    const read = await readAlarmState(deps.store, name);
    const state = read?.state;
    const now = deps.now();
    if (!target || !state?.episode || !reminderDue(state, now, target.route.reminderMs)) continue;
    const episode = { ...state.episode, lastNotifiedAt: now.toISOString(), reminders: state.episode.reminders + 1 };
    const written = await writeAlarmState(deps.store, { ...state, episode }, read);
    if (written === "conflict") continue;
    const facts = target.facts(state);
    await deliver(deps.channels, target.route, outgoing("remind", facts, episode.slack, episode.reminders));
    reminded.push(name);
  }
  return reminded;
}
