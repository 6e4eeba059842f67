import { demo } from "./demo.js";
import { ezTracking } from "./ez-tracking.js";
import { flashSale } from "./flash-sale.js";
import { ims2 } from "./ims-2.js";
import { ode } from "./ode.js";
import { partpalIms } from "./partpal-ims.js";
import type { SystemInput } from "./schema.js";

/** The built-in fleet, as written; validated by `fleet.ts` together with the schedules. */
export const builtinSystems: readonly SystemInput[] = [partpalIms, flashSale, ims2, ode, ezTracking, demo];
