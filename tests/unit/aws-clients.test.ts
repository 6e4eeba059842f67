import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { DescribeServicesCommand } from "@aws-sdk/client-ecs";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientsForSystem } from "../../lib/aws/clients.js";
import { builtinFleet, findSystem } from "../../systems/index.js";
import type { System } from "../../systems/schema.js";
import { OTHER_ACCOUNT_ID } from "../helpers/aws-account.js";

/**
 * The clients of a system with `account.roleArn` sign every call with the role's temporary credentials.
 * A local HTTP server stands in for both STS and S3/ECS (AWS_ENDPOINT_URL points the standard clients at
 * it): it answers AssumeRole in the shape of the STS API reference and records how each call was signed.
 */

const ASSUMED = {
  accessKeyId: "ASIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
  sessionToken:
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI",
};
const BASE_KEY = "AKIAIOSFODNN7BASEKEY";

interface Seen {
  service: "sts" | "s3" | "ecs";
  authorization: string;
  securityToken?: string;
  body: string;
}

const seen: Seen[] = [];
let server: Server;
const saved: Record<string, string | undefined> = {};

function assumeRoleResponse(): string {
  return `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::${OTHER_ACCOUNT_ID}:assumed-role/ops-autopilot-target/ops-autopilot</Arn>
      <AssumedRoleId>ARO123EXAMPLE123:ops-autopilot</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>${ASSUMED.accessKeyId}</AccessKeyId>
      <SecretAccessKey>${ASSUMED.secretAccessKey}</SecretAccessKey>
      <SessionToken>${ASSUMED.sessionToken}</SessionToken>
      <Expiration>2099-01-01T00:00:00Z</Expiration>
    </Credentials>
    <PackedPolicySize>6</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</AssumeRoleResponse>`;
}

function serviceOf(request: IncomingMessage, body: string): Seen["service"] {
  if (String(request.headers["x-amz-target"] ?? "").startsWith("AmazonEC2ContainerServiceV20141113")) return "ecs";
  return body.includes("Action=AssumeRole") ? "sts" : "s3";
}

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (c: Buffer) => chunks.push(c));
    request.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const service = serviceOf(request, body);
      const token = request.headers["x-amz-security-token"];
      seen.push({
        service,
        authorization: String(request.headers.authorization ?? ""),
        ...(typeof token === "string" ? { securityToken: token } : {}),
        body,
      });
      if (service === "sts") {
        response.writeHead(200, { "content-type": "text/xml" }).end(assumeRoleResponse());
      } else if (service === "ecs") {
        response.writeHead(200, { "content-type": "application/x-amz-json-1.1" }).end('{"services":[],"failures":[]}');
      } else {
        response
          .writeHead(200, { "content-type": "application/xml" })
          .end(
            '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>ode-backups</Name><Prefix>pg_dump/ode/</Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>',
          );
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const env = {
    AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`,
    AWS_ACCESS_KEY_ID: BASE_KEY,
    AWS_SECRET_ACCESS_KEY: "base/secret/EXAMPLEKEY",
    AWS_SESSION_TOKEN: undefined,
    AWS_PROFILE: undefined,
  };
  for (const [key, value] of Object.entries(env)) {
    saved[key] = process.env[key];
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

afterAll(async () => {
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const ode = findSystem(builtinFleet(), "ode");
const crossAccount = (region: string, externalId?: string): System => ({
  ...ode,
  account: {
    region,
    roleArn: `arn:aws:iam::${OTHER_ACCOUNT_ID}:role/ops-autopilot-target`,
    ...(externalId ? { externalId } : {}),
  },
});

describe("clients of a system in another account", () => {
  it("assume the catalogue's role with its external id, and S3 and ECS sign with the role's credentials", async () => {
    seen.length = 0;
    const clients = clientsForSystem(crossAccount("eu-west-1", "ode-7f3a"), { s3ForcePathStyle: true });
    await clients.s3.send(new ListObjectsV2Command({ Bucket: "ode-backups", Prefix: "pg_dump/ode/" }));
    await clients.ecs.send(new DescribeServicesCommand({ cluster: "ode", services: ["ode-api"] }));

    const sts = seen.filter((s) => s.service === "sts");
    expect(sts.length).toBeGreaterThanOrEqual(1);
    const params = new URLSearchParams(sts[0]?.body);
    expect(params.get("RoleArn")).toBe(`arn:aws:iam::${OTHER_ACCOUNT_ID}:role/ops-autopilot-target`);
    expect(params.get("ExternalId")).toBe("ode-7f3a");
    expect(params.get("RoleSessionName")).toBe("ops-autopilot");
    // AssumeRole itself is signed with the function's own credentials.
    expect(sts[0]?.authorization).toContain(`Credential=${BASE_KEY}/`);

    for (const service of ["s3", "ecs"] as const) {
      const call = seen.find((s) => s.service === service);
      expect(call?.authorization, service).toContain(`Credential=${ASSUMED.accessKeyId}/`);
      expect(call?.securityToken, service).toBe(ASSUMED.sessionToken);
    }
  });

  it("a system in the deployment's own account signs with the function's credentials, no AssumeRole", async () => {
    seen.length = 0;
    const own: System = { ...ode, account: { region: "eu-central-1" } };
    await clientsForSystem(own, { s3ForcePathStyle: true }).s3.send(
      new ListObjectsV2Command({ Bucket: "ode-backups", Prefix: "pg_dump/ode/" }),
    );
    expect(seen.map((s) => s.service)).toEqual(["s3"]);
    expect(seen[0]?.authorization).toContain(`Credential=${BASE_KEY}/`);
  });
});
