// The service's HTTP endpoints, on prometheus_serve when prometheus_listen is true:
//   /metrics  the Prometheus registry (when prometheus_enable)
//   /healthz  liveness: the process answers and its event loop is not stuck
//   /readyz   readiness: sources connected, partitions assigned, join tables loaded
import { createServer, type Server } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import { KisError } from '../kernel/errors.js';

export interface Readiness {
  readonly ready: boolean;
  /** What is not ready yet, for the response body and the logs. */
  readonly waiting: readonly string[];
}

export interface HttpOptions {
  /** Absent: /metrics answers 404 (prometheus_enable is false). */
  readonly registry?: Registry;
  readonly readiness: () => Readiness;
  /** Event-loop delay (p99 over the last interval) above which /healthz fails. Default 5000 ms. */
  readonly maxLoopDelayMs?: number;
}

export function parseServe(serve: string): { host: string; port: number } {
  const idx = serve.lastIndexOf(':');
  const host = idx > 0 ? serve.slice(0, idx) : '0.0.0.0';
  const port = Number(idx >= 0 ? serve.slice(idx + 1) : serve);
  if (!Number.isInteger(port) || port < 0 || port > 65535 || serve.trim() === '') {
    throw new KisError('KIS_ERR_CONFIG_SCHEMA', `prometheus_serve '${serve}' is not host:port`);
  }
  return { host, port };
}

export async function serveHttp(serve: string, opts: HttpOptions): Promise<Server> {
  const { host, port } = parseServe(serve);
  const delay = monitorEventLoopDelay({ resolution: 50 });
  delay.enable();
  const maxDelay = opts.maxLoopDelayMs ?? 5000;
  let lastP99 = 0;
  const sampler = setInterval(() => {
    lastP99 = delay.percentile(99) / 1e6;
    delay.reset();
  }, 1000);
  sampler.unref();
  const json = (res: import('node:http').ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body) + '\n');
  };
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (url === '/metrics') {
      if (!opts.registry) {
        res.writeHead(404);
        res.end('metrics are off: set prometheus_enable: true in the global document\n');
        return;
      }
      opts.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': opts.registry!.contentType });
        res.end(text);
      }, (err: unknown) => {
        res.writeHead(500);
        res.end(String(err));
      });
      return;
    }
    if (url === '/healthz') {
      const ok = lastP99 <= maxDelay;
      json(res, ok ? 200 : 503, { status: ok ? 'ok' : 'event loop stuck', eventLoopDelayP99Ms: Math.round(lastP99) });
      return;
    }
    if (url === '/readyz') {
      const r = opts.readiness();
      json(res, r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', waiting: r.waiting });
      return;
    }
    res.writeHead(404);
    res.end('not found: /metrics, /healthz, /readyz\n');
  });
  server.on('close', () => {
    clearInterval(sampler);
    delay.disable();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new KisError('KIS_ERR_CONFIG_SCHEMA', `cannot serve on ${serve} (prometheus_serve): ${err.message}`, { cause: err })));
    server.listen(port, host, () => resolve());
  });
  return server;
}
