import { TagResourceCommand, UpdateServiceCommand } from "@aws-sdk/client-ecs";
import type { RunbookContext } from "../types.js";
import type { ServiceState } from "./ecs.js";
import { type TriggerKind, withRolledBackFrom } from "./plan.js";
import { formatLastRollback, LAST_ROLLBACK_TAG, ROLLED_BACK_FROM_TAG } from "./tags.js";

/** Options of {@link issueRollback}. */
export interface IssueOptions {
  cluster: string;
  state: ServiceState;
  from: string;
  /** `family:revision` to deploy. */
  to: string;
  /** What UpdateService is given: the recorded ARN when the target is the known-good, else `family:revision`. */
  taskDefinition: string;
  trigger: TriggerKind;
}

/** What the rollback started. */
export interface Issued {
  at: Date;
  deploymentId?: string;
}

/**
 * Points the service at the target task definition, then records the rollback on the service. The update
 * comes first: a record of a rollback that was never issued would block the real one (cooldown). A
 * duplicate event arriving in between sees the new PRIMARY deployment rolling out and waits.
 */
export async function issueRollback(ctx: RunbookContext, options: IssueOptions): Promise<Issued> {
  const signal = ctx.signal ? { abortSignal: ctx.signal } : {};
  const out = await ctx.clients.ecs.send(
    new UpdateServiceCommand({
      cluster: options.cluster,
      service: options.state.service.serviceName,
      taskDefinition: options.taskDefinition,
    }),
    signal,
  );
  const at = ctx.now();
  const rolledBackFrom = withRolledBackFrom(options.state.facts.rolledBackFrom, options.from);
  await ctx.clients.ecs.send(
    new TagResourceCommand({
      resourceArn: options.state.arn,
      tags: [
        {
          key: LAST_ROLLBACK_TAG,
          value: formatLastRollback({ at, from: options.from, to: options.to, trigger: options.trigger }),
        },
        { key: ROLLED_BACK_FROM_TAG, value: rolledBackFrom.join(" ") },
      ],
    }),
    signal,
  );
  const primary = out.service?.deployments?.find((d) => d.status === "PRIMARY");
  return { at, ...(primary?.id ? { deploymentId: primary.id } : {}) };
}
