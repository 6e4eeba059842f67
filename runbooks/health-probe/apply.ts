import { DescribeAlarmsCommand, type MetricAlarm } from "@aws-sdk/client-cloudwatch";
import { TagResourceCommand } from "@aws-sdk/client-ecs";
import type { System } from "../../systems/schema.js";
import { isoSeconds, KNOWN_GOOD_AT_TAG, KNOWN_GOOD_TAG, KNOWN_GOOD_WHY_TAG, tagSafe } from "../rollback/tags.js";
import type { RunbookContext } from "../types.js";

/** Writes tags on a service (nothing in a dry run: the caller reports `would-do`). */
export async function tagService(ctx: RunbookContext, arn: string, tags: Record<string, string>): Promise<void> {
  await ctx.clients.ecs.send(
    new TagResourceCommand({ resourceArn: arn, tags: Object.entries(tags).map(([key, value]) => ({ key, value })) }),
    ctx.signal ? { abortSignal: ctx.signal } : {},
  );
}

/** The tags that record a promotion: the ARN, when, why. */
export function knownGoodTags(taskDefinitionArn: string, at: Date, why: string): Record<string, string> {
  return {
    [KNOWN_GOOD_TAG]: taskDefinitionArn,
    [KNOWN_GOOD_AT_TAG]: isoSeconds(at),
    [KNOWN_GOOD_WHY_TAG]: tagSafe(why),
  };
}

/** Deployed alarm names end with `-<system>-<alarm id>` (`alarms/index.ts`; the stage is in front). */
export const ALARM_PREFIX = "ops-autopilot-";

/**
 * The system's catalogue alarms now in ALARM. One DescribeAlarms over our prefix (paged), filtered to this
 * system's alarm ids: the stage in the deployed name does not matter.
 */
export async function alarmsInAlarm(ctx: RunbookContext, system: System): Promise<string[]> {
  const suffixes = system.alarms.map((a) => `-${system.id}-${a.id}`);
  if (suffixes.length === 0) return [];
  const found: MetricAlarm[] = [];
  let nextToken: string | undefined;
  do {
    const page = await ctx.clients.cloudwatch.send(
      new DescribeAlarmsCommand({ AlarmNamePrefix: ALARM_PREFIX, StateValue: "ALARM", NextToken: nextToken }),
      ctx.signal ? { abortSignal: ctx.signal } : {},
    );
    found.push(...(page.MetricAlarms ?? []));
    nextToken = page.NextToken;
  } while (nextToken);
  return found.flatMap((a) => (a.AlarmName && suffixes.some((s) => a.AlarmName?.endsWith(s)) ? [a.AlarmName] : []));
}
