import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { deploymentPlan, functionPolicyDocument, type PlannedFunction, trustPolicy } from "../../deploy/plan.js";
import { UnknownNameError, ValidationError } from "../../lib/errors.js";
import { toPolicyDocument } from "../../lib/iam.js";
import type { AnyRunbook } from "../../runbooks/types.js";
import type { Fleet } from "../../systems/index.js";
import { type CliIo, EXIT, foldLine, writeJson } from "../io.js";

/** Options of `ops iam`. */
export interface IamOptions {
  json: boolean;
  system?: string;
  runbook?: string;
  /** The deploying account; default: the caller's (STS GetCallerIdentity with the standard chain). */
  account?: string;
  stage: string;
  region: string;
}

async function deployingAccount(io: CliIo, options: IamOptions): Promise<string> {
  const given = options.account ?? io.env.OPS_ACCOUNT_ID;
  if (given !== undefined) {
    if (!/^\d{12}$/.test(given))
      throw new ValidationError(`--account must be a 12-digit AWS account id (got "${given}")`);
    return given;
  }
  try {
    const identity = await new STSClient({ region: options.region }).send(new GetCallerIdentityCommand({}));
    if (identity.Account) return identity.Account;
  } catch (error) {
    throw new ValidationError("cannot tell the deploying account: pass --account ID (or set OPS_ACCOUNT_ID)", [], {
      cause: error,
    });
  }
  throw new ValidationError("cannot tell the deploying account: pass --account ID (or set OPS_ACCOUNT_ID)");
}

function selected(functions: PlannedFunction[], fleet: Fleet, registry: readonly AnyRunbook[], options: IamOptions) {
  const { system, runbook } = options;
  if (system && !fleet.systems.some((s) => s.id === system)) {
    throw new UnknownNameError(
      "system",
      system,
      fleet.systems.map((s) => s.id),
    );
  }
  if (runbook && !registry.some((r) => r.name === runbook)) {
    throw new UnknownNameError(
      "runbook",
      runbook,
      registry.map((r) => r.name),
    );
  }
  return functions.filter((f) => (!system || f.systems.includes(system)) && (!runbook || f.runbook === runbook));
}

/**
 * `ops iam [--system S] [--runbook R] [--json]`: each deployed function's effective IAM policy, from the
 * same deployment plan `sst.config.ts` deploys; for a system in another account, the permissions and
 * trust policy its role needs there.
 */
export async function iamCommand(
  io: CliIo,
  deps: { fleet: Fleet; registry: readonly AnyRunbook[] },
  options: IamOptions,
): Promise<number> {
  const accountId = await deployingAccount(io, options);
  const plan = deploymentPlan(deps.fleet, deps.registry, { accountId, region: options.region, stage: options.stage });
  const entries = selected(plan.functions, deps.fleet, deps.registry, options).map((fn) => ({
    function: fn.id,
    handler: fn.handler,
    runbook: fn.runbook,
    systems: fn.systems,
    policy: functionPolicyDocument(fn),
    assumedRoles: fn.assumedRoles.map((role) => ({
      system: role.system,
      roleArn: role.roleArn,
      permissionsPolicy: toPolicyDocument(role.permissions),
      trustPolicy: trustPolicy(plan, role),
    })),
  }));
  if (options.json) {
    writeJson(io, { accountId, region: options.region, stage: options.stage, functions: entries });
    return EXIT.ok;
  }
  io.out.write(`deploying account ${accountId}, region ${options.region}, stage ${options.stage}\n`);
  for (const entry of entries) {
    io.out.write(
      `\n${foldLine(`${entry.function} `, `(${entry.runbook}; serves ${entry.systems.join(", ")}; ${entry.handler})`, "  ")}\n`,
    );
    io.out.write(`${JSON.stringify(entry.policy, null, 2)}\n`);
    for (const role of entry.assumedRoles) {
      io.out.write(`\n  role ${role.roleArn} (${role.system}) must allow:\n`);
      io.out.write(`${JSON.stringify(role.permissionsPolicy, null, 2)}\n`);
      io.out.write(`  and trust:\n${JSON.stringify(role.trustPolicy, null, 2)}\n`);
    }
  }
  for (const u of plan.undeployed) io.out.write(`\n(not deployed: ${u.runbook}: ${u.reason})\n`);
  return EXIT.ok;
}
