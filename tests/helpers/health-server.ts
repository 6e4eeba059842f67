import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** How the endpoint answers now. */
export type HealthMode = "up" | "status" | "body-down" | "hang";

/**
 * A real HTTP health endpoint on 127.0.0.1 that can be told to fail (503, a 200 whose body says DOWN, no
 * answer at all) or be stopped (connection refused) and started again on the same port.
 */
export class HealthServer {
  mode: HealthMode | (() => HealthMode) = "up";
  requests = 0;
  private server: Server | undefined;
  private port = 0;
  private readonly hanging = new Set<import("node:http").ServerResponse>();

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((_request, response) => {
      this.requests++;
      const mode = typeof this.mode === "function" ? this.mode() : this.mode;
      if (mode === "hang") {
        this.hanging.add(response);
        return;
      }
      if (mode === "status") {
        response.writeHead(503, { "content-type": "application/json" }).end('{"status":"DOWN"}');
        return;
      }
      const status = mode === "body-down" ? "DOWN" : "UP";
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ status }));
    });
    await new Promise<void>((resolve) => server.listen(this.port, "127.0.0.1", resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops listening: further probes find the connection refused. */
  async stop(): Promise<void> {
    for (const response of this.hanging) response.destroy();
    this.hanging.clear();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
