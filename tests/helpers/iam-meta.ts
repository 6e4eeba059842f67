/**
 * The registry's meta-checks (Cloud Custodian checks each action's permissions against real IAM actions;
 * we also check what the code sends): every AWS command a runbook sends while a test runs it must be
 * covered by the permissions the runbook declares for that system, and a dry run must send reads only.
 * `tests/setup/meta.ts` installs the recorder for every unit test; `tests/unit/meta-registry.test.ts`
 * proves the checks fail on a deliberately broken runbook.
 */
import { readFileSync } from "node:fs";
import type { AwsClients } from "../../lib/aws/clients.js";
import { partitionOf } from "../../lib/iam.js";
import type { AnyRunbook, Permission, RunbookContext } from "../../runbooks/types.js";
import type { System } from "../../systems/schema.js";

interface ActionsFixture {
  source: string;
  services: Record<string, { actions: Record<string, string>; conditionKeys: string[] }>;
}

/** Every IAM action and condition key of the services we call (AWS Service Authorization Reference). */
export const iamFixture: ActionsFixture = JSON.parse(
  readFileSync(new URL("../fixtures/iam-actions.json", import.meta.url), "utf8"),
);

/** SDK `serviceId` → IAM service prefix, for the clients in `lib/aws/clients.ts`. */
const PREFIX: Record<string, string> = {
  S3: "s3",
  ECS: "ecs",
  "Application Auto Scaling": "application-autoscaling",
  ECR: "ecr",
  RDS: "rds",
  CloudWatch: "cloudwatch",
  "Secrets Manager": "secretsmanager",
  STS: "sts",
  Lambda: "lambda",
  EKS: "eks",
  SNS: "sns",
  KMS: "kms",
  EventBridge: "events",
  Scheduler: "scheduler",
  "CloudWatch Logs": "logs",
};

/**
 * API operations whose IAM action has another name (Service Authorization Reference, "actions defined
 * by ..."): S3's object and listing operations and Lambda's Invoke.
 */
const RENAMED: Record<string, string> = {
  "s3:ListObjectsV2": "s3:ListBucket",
  "s3:ListObjects": "s3:ListBucket",
  "s3:HeadBucket": "s3:ListBucket",
  "s3:HeadObject": "s3:GetObject",
  "s3:DeleteObjects": "s3:DeleteObject",
  "s3:CreateMultipartUpload": "s3:PutObject",
  "s3:UploadPart": "s3:PutObject",
  "s3:CompleteMultipartUpload": "s3:PutObject",
  "s3:ListObjectVersions": "s3:ListBucketVersions",
  "s3:ListMultipartUploads": "s3:ListBucketMultipartUploads",
  "s3:ListParts": "s3:ListMultipartUploadParts",
  "s3:CopyObject": "s3:PutObject",
  "lambda:Invoke": "lambda:InvokeFunction",
};

/** The IAM action a command needs: `ListObjectsV2Command` on S3 → `s3:ListBucket`. */
export function iamActionOf(serviceId: string, commandName: string): string {
  const prefix = PREFIX[serviceId];
  if (!prefix) throw new Error(`meta-test: no IAM prefix known for SDK service "${serviceId}"; add it to PREFIX`);
  const operation = `${prefix}:${commandName.replace(/Command$/, "")}`;
  return RENAMED[operation] ?? operation;
}

/** Access level of an IAM action (`Read`, `List`, `Write`, ...), or undefined when no such action exists. */
export function accessLevelOf(action: string): string | undefined {
  const [service, name] = action.split(":");
  return service && name ? iamFixture.services[service]?.actions[name] : undefined;
}

/** True for actions that change nothing: the Service Authorization Reference's `Read` and `List`. */
export function isReadOnly(action: string): boolean {
  const level = accessLevelOf(action);
  return level === "Read" || level === "List";
}

/** IAM's wildcard match: `*` any run of characters, `?` one character, case-sensitive. */
export function globMatch(pattern: string, value: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${source}$`).test(value);
}

/** One command a runbook sent, with what IAM would evaluate. */
export interface SentCommand {
  runbook: string;
  system: string;
  dryRun: boolean;
  action: string;
  /** The ARN IAM evaluates, where the command's input names it precisely (S3 objects and buckets). */
  resource?: string;
}

/** ARN of the S3 object or bucket a command acts on, from its input. */
function s3Resource(system: System, action: string, input: Record<string, unknown>): string | undefined {
  const bucket = typeof input.Bucket === "string" ? input.Bucket : undefined;
  if (!bucket) return undefined;
  const partition = partitionOf(system.account.region);
  const bucketLevel = /^s3:(ListBucket|ListBucketVersions|ListBucketMultipartUploads)$/.test(action);
  if (bucketLevel) return `arn:${partition}:s3:::${bucket}`;
  const key = typeof input.Key === "string" ? input.Key : undefined;
  return key === undefined ? undefined : `arn:${partition}:s3:::${bucket}/${key}`;
}

/** Why a sent command breaks the rules, or undefined when it is fine. */
export function violationOf(sent: SentCommand, declared: Permission[]): string | undefined {
  const where = `runbook "${sent.runbook}" (system ${sent.system}${sent.dryRun ? ", dry run" : ""})`;
  if (!accessLevelOf(sent.action)) return `${where} sent ${sent.action}, which is not an IAM action`;
  if (sent.dryRun && !isReadOnly(sent.action))
    return `${where} sent ${sent.action} (${accessLevelOf(sent.action)}) during a dry run: a dry run sends reads only`;
  const granting = declared.filter((p) => p.actions.some((a) => globMatch(a, sent.action)));
  if (granting.length === 0) return `${where} sent ${sent.action}, which its permissions do not declare`;
  if (sent.resource && !granting.some((p) => p.resources.some((r) => globMatch(r, sent.resource ?? ""))))
    return `${where} sent ${sent.action} on ${sent.resource}, outside the resources it declares for it (${granting
      .flatMap((p) => p.resources)
      .join(", ")})`;
  return undefined;
}

/** What the recorder reports each command to. */
export type CommandSink = (sent: SentCommand) => void;

type AnyClient = { send: (command: unknown, ...rest: unknown[]) => Promise<unknown>; config?: { serviceId?: string } };

/** A client whose `send` reports each command before passing it on (to the real client or its mock). */
function recordingClient<C extends object>(
  client: C,
  describe: (command: unknown) => SentCommand,
  sink: CommandSink,
): C {
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property !== "send") return Reflect.get(target, property, receiver);
      return (command: unknown, ...rest: unknown[]) => {
        sink(describe(command));
        return (target as unknown as AnyClient).send(command, ...rest);
      };
    },
  });
}

/** The context's clients, each reporting what it sends on behalf of `runbook`. */
export function recordingClients(
  clients: AwsClients,
  options: { runbook: string; system: System; dryRun: boolean; sink: CommandSink },
): AwsClients {
  const wrapped = new Map<PropertyKey, unknown>();
  const describe = (client: AnyClient) => (command: unknown) => {
    const serviceId = client.config?.serviceId ?? "";
    const name = (command as { constructor: { name: string } }).constructor.name;
    const action = iamActionOf(serviceId, name);
    const input = ((command as { input?: Record<string, unknown> }).input ?? {}) as Record<string, unknown>;
    const resource = serviceId === "S3" ? s3Resource(options.system, action, input) : undefined;
    return {
      runbook: options.runbook,
      system: options.system.id,
      dryRun: options.dryRun,
      action,
      ...(resource ? { resource } : {}),
    };
  };
  return new Proxy(clients, {
    get(target, property, receiver) {
      const client = Reflect.get(target, property, receiver) as unknown;
      if (!client || typeof client !== "object" || !("send" in client)) return client;
      if (!wrapped.has(property)) {
        wrapped.set(property, recordingClient(client, describe(client as AnyClient), options.sink));
      }
      return wrapped.get(property);
    },
  });
}

/**
 * Wraps `runbook.run` so that every command it sends through its context's clients is checked against
 * what it declares for that system; `onViolation` gets a sentence for each breach.
 */
export function watchRunbook(
  runbook: AnyRunbook,
  onViolation: (message: string) => void,
  onSent?: CommandSink,
): () => void {
  const original = runbook.run;
  runbook.run = (ctx: RunbookContext, input: unknown) => {
    const declared = runbook.permissions(ctx.system);
    const sink: CommandSink = (sent) => {
      onSent?.(sent);
      const violation = violationOf(sent, declared);
      if (violation) onViolation(violation);
    };
    const clients = recordingClients(ctx.clients, {
      runbook: runbook.name,
      system: ctx.system,
      dryRun: ctx.dryRun,
      sink,
    });
    return original.call(runbook, { ...ctx, clients }, input);
  };
  return () => {
    runbook.run = original;
  };
}
