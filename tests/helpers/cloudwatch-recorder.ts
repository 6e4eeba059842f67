import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/** One PutMetricData request as the SDK sent it (CloudWatch's JSON 1.0 protocol). */
export interface RecordedPutMetricData {
  Namespace: string;
  MetricData: { MetricName: string; Value: number; Unit?: string; Dimensions?: { Name: string; Value: string }[] }[];
}

/**
 * A local stand-in for the CloudWatch API subset a Fargate task uses (PutMetricData), for
 * `AWS_ENDPOINT_URL_CLOUDWATCH`: it records each request and answers as CloudWatch does, an empty JSON
 * object. Any other operation gets CloudWatch's error shape, so an unexpected call fails loudly.
 */
export async function startCloudWatchRecorder(): Promise<{
  endpoint: string;
  requests: RecordedPutMetricData[];
  stop(): Promise<void>;
}> {
  const requests: RecordedPutMetricData[] = [];
  const server = createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => {
      body += chunk;
    });
    request.on("end", () => {
      const target = String(request.headers["x-amz-target"] ?? "");
      response.setHeader("content-type", "application/x-amz-json-1.0");
      if (target.endsWith(".PutMetricData")) {
        requests.push(JSON.parse(body) as RecordedPutMetricData);
        response.writeHead(200);
        response.end("{}");
        return;
      }
      response.writeHead(400);
      response.end(JSON.stringify({ __type: "InvalidAction", message: `not recorded: ${target}` }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
