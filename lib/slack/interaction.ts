import { authorize } from "./access.js";
import { APPROVE_ACTION, type Approval, checkApproval } from "./approvals.js";
import {
  type Asker,
  answerable,
  audit,
  invokeWorker,
  type Result,
  refuse,
  runCommand,
  type SlackCommandDeps,
} from "./command.js";
import { postToResponseUrl } from "./respond.js";

/**
 * Slack's interactivity payloads to the `/ops` URL (verified by signature, timestamp and replay like a
 * command, in lib/slack/command.ts): a click on Approve, or on a run button under an alarm.
 */

/**
 * The action id prefix of an alarm's run buttons, as lib/notify/blocks.ts writes them. Not imported from
 * there: that module loads the redactor and report formatting, which the cold start does not need (a
 * test checks that the two agree).
 */
export const RUN_ACTION_PREFIX = "ops-run:";

interface BlockActions {
  type?: string;
  user?: { id?: string };
  channel?: { id?: string };
  response_url?: string;
  actions?: { action_id?: string; value?: string }[];
}

const ok = (): Result => ({ statusCode: 200, body: "" });

/** Answers an interactivity payload (`payload=` of the form). */
export async function interaction(deps: SlackCommandDeps, text: string): Promise<Result> {
  let payload: BlockActions;
  try {
    payload = JSON.parse(text) as BlockActions;
  } catch {
    deps.logger.warn("refused slack interaction", { reason: "payload is not JSON" });
    return { statusCode: 400, body: "" };
  }
  const who: Asker = {
    userId: payload.user?.id ?? "",
    channelId: payload.channel?.id ?? "",
    responseUrl: payload.response_url ?? "",
  };
  const runClick = payload.actions?.find((a) => a.action_id?.startsWith(RUN_ACTION_PREFIX));
  const approveClick = payload.actions?.find((a) => a.action_id === APPROVE_ACTION);
  if (payload.type !== "block_actions" || (!runClick && !approveClick) || !answerable(deps, who)) {
    deps.logger.warn("refused slack interaction", { reason: "not a click of this app", user: who.userId });
    return ok();
  }
  const answer = runClick
    ? await runButton(deps, runClick.value ?? "", who)
    : await approve(deps, String(approveClick?.value ?? ""), who);
  await tell(deps, who.responseUrl, answer.text, answer.replace ?? false);
  return ok();
}

/** Posts the answer to the click's response URL: to the clicker alone, or replacing the request. */
async function tell(deps: SlackCommandDeps, url: string, text: string, replaceOriginal: boolean) {
  await postToResponseUrl({
    url,
    allowedPrefix: deps.responseUrlPrefix ?? "https://hooks.slack.com/",
    message: { text, blocks: [] },
    inChannel: replaceOriginal,
    replaceOriginal,
  }).catch((error: unknown) => deps.logger.error("interaction answer not posted", { error: (error as Error)?.name }));
}

/**
 * A run button under an alarm: exactly `/ops <runbook> <system>` typed by the clicker in that channel
 * (authorization, audit, dry run of destructive runbooks); `dryRun: true` in the button ("Dry-run scale
 * out") runs it as a dry run whatever the runbook.
 */
async function runButton(
  deps: SlackCommandDeps,
  value: string,
  who: Asker,
): Promise<{ text: string; replace?: boolean }> {
  let target: { runbook?: unknown; system?: unknown; dryRun?: unknown; input?: unknown };
  try {
    target = JSON.parse(value) as typeof target;
  } catch {
    target = {};
  }
  if (typeof target.runbook !== "string" || typeof target.system !== "string") {
    deps.logger.warn("refused slack interaction", {
      reason: "run button without runbook and system",
      user: who.userId,
    });
    return { text: "This button names no runbook and system: nothing was run." };
  }
  const parsed = {
    kind: "run" as const,
    runbook: target.runbook,
    system: target.system,
    input: stringRecord(target.input),
    apply: false,
    dryRun: target.dryRun === true,
  };
  return { text: await runCommand(deps, parsed, who) };
}

/** A button's input: only string values are kept (the worker's runbook schema checks them). */
function stringRecord(value: unknown): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return {};
  return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === "string"));
}

/**
 * A click on Approve. The clicker must not be the requester, the request must be pending and not
 * expired, the clicker must be allowed the runbook on the system in the channel it was asked in, and
 * the approved state must be written conditionally on what was read: only then does the worker run it
 * for real. Every refusal is told to the clicker alone, logged and audited; nothing runs.
 */
async function approve(deps: SlackCommandDeps, id: string, who: Asker): Promise<{ text: string; replace?: boolean }> {
  const approvals = deps.approvals;
  const read = approvals ? await approvals.store.read(id) : undefined;
  const what = {
    approval: id,
    ...(read
      ? {
          runbook: read.approval.runbook,
          system: read.approval.system,
          inputKeys: Object.keys(read.approval.input),
          requester: read.approval.requester,
        }
      : {}),
  };
  const no = (reason: string, event: "approval-refused" | "expired" = "approval-refused") =>
    refuse(deps, who, what, reason, event).then((text) => ({ text }));
  const check = checkApproval(read?.approval, { approver: who.userId, now: deps.now() });
  if (!check.ok)
    return no(check.reason, check.reason.startsWith("this request expired") ? "expired" : "approval-refused");
  if (!approvals || !read) return no("unknown approval");
  const { approval } = read;
  if (who.channelId !== approval.channel) return no("approve it in the channel where it was asked");
  const groupsOf = deps.groupsOf;
  const decision = await authorize(
    deps.table,
    {
      kind: "run",
      runbook: approval.runbook,
      system: approval.system,
      input: approval.input,
      apply: true,
      dryRun: false,
    },
    { ...who, ...(groupsOf ? { groupsOf: (g: string[]) => groupsOf(who.userId, g) } : {}) },
    { approvals: true },
  );
  if (!decision.allowed) return no(decision.reason);
  const approved: Approval = {
    ...approval,
    state: "approved",
    approvedBy: who.userId,
    approvedAt: deps.now().toISOString(),
  };
  if (!(await approvals.store.approve(approved, read.etag))) return no("somebody else decided it at the same moment");
  const recorded = await audit(deps, {
    event: "approved",
    who: who.userId,
    what: { ...what, approver: who.userId, apply: true },
    where: who.channelId,
    result: `approved; invoking ${decision.worker}`,
  });
  // No run without its audit record; the approval is spent, so the requester asks again.
  if (!recorded) return { text: "The approval could not be written to the audit log: nothing was run; ask again." };
  const started = await invokeWorker(deps, decision.worker, {
    runbook: approval.runbook,
    system: approval.system,
    input: approval.input,
    requestedBy: `slack:${approval.requester} approved by slack:${who.userId}`,
    dryRun: false,
    responseUrl: who.responseUrl,
  });
  deps.logger.info("slack approval granted", { ...what, approver: who.userId, channel: who.channelId, started });
  const head = `<@${who.userId}> approved ${approval.runbook} on ${approval.system} (asked by <@${approval.requester}>)`;
  return {
    text: started
      ? `${head}: running; the report will be posted here.`
      : `${head}, but the worker could not be invoked.`,
    replace: true,
  };
}
