/**
 * The one fake AWS account of the tests and benchmarks: its ids, region, credentials and ARNs, so a
 * fake response, a deployment plan and a policy check all name the same account. Nothing here reaches
 * AWS: the credentials are the example keys of the AWS documentation, and every client that uses them
 * talks to aws-sdk-client-mock or to a local server.
 *
 * The recorded event payloads in tests/fixtures keep the ids they were recorded with (ACCOUNT_ID for
 * the RDS and CloudWatch events, DEPLOY_ACCOUNT_ID for the ECS deployment events).
 */

/** The account the faked AWS APIs answer from (resources in fake responses live here). */
export const ACCOUNT_ID = "123456789012";

/** The account a deployment plan is made for in tests; the simulated ECS services live here too. */
export const DEPLOY_ACCOUNT_ID = "111122223333";

/** A second account, for a system reached through a role in another account. */
export const OTHER_ACCOUNT_ID = "444455556666";

/** The region of the test clients (a system's own region comes from its catalogue entry). */
export const REGION = "us-east-1";

/** The example access key of the AWS documentation: signs requests to local servers, never to AWS. */
export const CREDENTIALS = {
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
} as const;

/** `arn:aws:<service>:<region>:<account>:<resource>`, in the fake account and region unless told otherwise. */
export function awsArn(service: string, resource: string, where: { region?: string; account?: string } = {}): string {
  return `arn:aws:${service}:${where.region ?? REGION}:${where.account ?? ACCOUNT_ID}:${resource}`;
}

/** A production deployment into the deploying account, as the deployment-plan tests make it. */
export const DEPLOYMENT = { accountId: DEPLOY_ACCOUNT_ID, region: REGION, stage: "production" };
