// Serves /metrics on prometheus_serve when prometheus_enable and prometheus_listen are both true.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { KisError } from '../kernel/errors.js';

export async function serveMetrics(registry: Registry, serve: string): Promise<Server> {
  const idx = serve.lastIndexOf(':');
  const host = idx > 0 ? serve.slice(0, idx) : '0.0.0.0';
  const port = Number(idx >= 0 ? serve.slice(idx + 1) : serve);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new KisError('KIS_ERR_CONFIG_SCHEMA', `prometheus_serve '${serve}' is not host:port`);
  }
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
      }, (err: unknown) => {
        res.writeHead(500);
        res.end(String(err));
      });
      return;
    }
    res.writeHead(404);
    res.end('not found: try /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new KisError('KIS_ERR_CONFIG_SCHEMA', `cannot serve metrics on ${serve}: ${err.message}`, { cause: err })));
    server.listen(port, host, () => resolve());
  });
  return server;
}
