import { describe, expect, it } from "vitest";
import { alarmButtons } from "../../alarms/events.js";
import { fleetAlarms } from "../../alarms/index.js";
import { alarmMessage } from "../../lib/notify/blocks.js";
import { builtinFleet, findSystem } from "../../systems/index.js";

const fleet = builtinFleet();
const system = (id: string) => findSystem(fleet, id);
const alarmsOf = (id: string) => fleetAlarms([system(id)]);

describe("the buttons of an alarm message (issue 15: Roll back, Dry-run scale out)", () => {
  it("Roll back is the alarm's own rollback remediation, with its input", () => {
    const alarm = alarmsOf("flash-sale")[0];
    expect(alarm).toBeDefined();
    if (!alarm) return;
    const remediated = { ...alarm, remediation: { runbook: "rollback", input: { service: "flash-sale-service" } } };
    expect(alarmButtons(remediated, system("flash-sale"))[0]).toEqual({
      label: "Roll back",
      runbook: "rollback",
      input: { service: "flash-sale-service" },
    });
  });

  it("else rollback of the system's only ECS service, when its rollback is on", () => {
    const alarm = alarmsOf("flash-sale").find((a) => !a.remediation);
    expect(alarm && alarmButtons(alarm, system("flash-sale"))).toEqual([
      { label: "Roll back", runbook: "rollback" },
      ...(system("flash-sale").offHours.enabled
        ? [{ label: "Dry-run scale out", runbook: "scale-up", dryRun: true }]
        : []),
    ]);
  });

  it("a system with several services and an alarm that names none gets no Roll back (which one is unknown)", () => {
    const ez = system("ez-tracking");
    const unnamed = alarmsOf("ez-tracking").find((a) => !a.remediation);
    expect(ez.runtime.kind === "ecs" && ez.runtime.services.length).toBeGreaterThan(1);
    expect(unnamed && alarmButtons(unnamed, ez).map((b) => b.label)).toEqual([]);
  });

  it("Dry-run scale out is scale-up's dry run, offered where off-hours scaling is on", () => {
    const partpal = system("partpal-ims");
    expect(partpal.offHours.enabled).toBe(true);
    const alarm = alarmsOf("partpal-ims")[0];
    expect(alarm).toBeDefined();
    if (!alarm) return;
    const buttons = alarmButtons(alarm, partpal);
    expect(buttons).toContainEqual({ label: "Dry-run scale out", runbook: "scale-up", dryRun: true });
    // PartPal's guide asks for no rollback: no Roll back button.
    expect(buttons.some((b) => b.label === "Roll back")).toBe(false);
  });

  it("the message carries them as run buttons (dry-run forced in the value), before the next runbooks", () => {
    const message = alarmMessage({
      name: "ops-autopilot-production-x",
      id: "x",
      system: "partpal-ims",
      systemName: "PartPal IMS",
      description: "d",
      severity: "warning",
      state: "ALARM",
      reason: "r",
      metric: "m",
      since: "2026-12-01T12:00:00Z",
      nextRunbooks: ["backup"],
      buttons: [
        { label: "Roll back", runbook: "rollback", input: { service: "api" } },
        { label: "Dry-run scale out", runbook: "scale-up", dryRun: true },
      ],
    });
    const actions = message.blocks.find((b) => b.type === "actions") as {
      elements: { action_id: string; value: string; text: { text: string } }[];
    };
    expect(actions.elements.map((e) => [e.text.text, e.action_id, JSON.parse(e.value)])).toEqual([
      ["Roll back", "ops-run:rollback", { runbook: "rollback", system: "partpal-ims", input: { service: "api" } }],
      ["Dry-run scale out", "ops-run:scale-up:dry-run", { runbook: "scale-up", system: "partpal-ims", dryRun: true }],
      ["/ops backup partpal-ims", "ops-run:backup", { runbook: "backup", system: "partpal-ims" }],
    ]);
  });
});
