import type { HealthCheck, System } from "../../systems/schema.js";
import { type ProbeThresholds, thresholdsOf } from "./evaluate.js";

/** One probe-able endpoint: a catalogue health check with a reachable URL and its thresholds. */
export interface Endpoint {
  target: string;
  url: string;
  thresholds: ProbeThresholds;
}

/** The URL of a health check (`baseUrl` + `path`), or undefined when the catalogue gives no `baseUrl`. */
export function endpointUrl(check: HealthCheck): string | undefined {
  return check.baseUrl ? `${check.baseUrl}${check.path}` : undefined;
}

/** The health checks of one target (service or deployment) that the probe can reach. */
export function endpointsOf(system: System, target: string): Endpoint[] {
  return system.health.flatMap((check) => {
    const url = check.target === target ? endpointUrl(check) : undefined;
    return url ? [{ target, url, thresholds: thresholdsOf(check) }] : [];
  });
}
