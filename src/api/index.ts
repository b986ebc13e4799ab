// The console: its JSON API and its page, served on the platform section's listen address by every
// replica (and in embedded mode). The data behind it comes from a PlatformBackend handed in.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { parseListen } from '../config/kinds/platform.js';
import type { PlatformConfig } from '../config/model.js';
import { errorMessage, KisError } from '../kernel/errors.js';
import { KafkaAudit, MemoryAudit, type AuditLog } from './audit.js';
import { Authenticator, type AuthOptions } from './auth/index.js';
import type { PlatformBackend } from './backend.js';
import { apiRoutes } from './http/routes.js';
import { Router } from './http/router.js';
import { createHandler } from './http/server.js';
import { defaultConsoleDir, StaticFiles } from './http/static.js';

export { ApiRefusal, type PlatformBackend } from './backend.js';
export type * from './contract.js';
export { openApiDocument } from './openapi.js';
export type { AuditLog } from './audit.js';

export interface ConsoleOptions {
  readonly platform: PlatformConfig;
  readonly backend: PlatformBackend;
  readonly logger: Logger;
  /** Kafka mode: the audit goes to `<app_id>.audit`; absent: kept in memory (embedded mode). */
  readonly kafka?: Kafka;
  readonly version: string;
  /** Where the built page is (default: dist/console of the kisflow package). */
  readonly consoleDir?: string;
  /** Another audit trail than the one `kafka` selects (tests; an embedding application's own). */
  readonly audit?: AuditLog;
  /** Login rate limits and the clock (tests). */
  readonly auth?: AuthOptions;
}

export interface ConsoleServer {
  /** http://host:port<base_path> */
  readonly url: string;
  /** The audit trail this server writes (for the embedding runtime and tests). */
  readonly audit: AuditLog;
  close(): Promise<void>;
}

export async function serveConsole(opts: ConsoleOptions): Promise<ConsoleServer> {
  const { platform, backend, logger } = opts;
  const listen = parseListen(platform.listen);
  if (!listen) throw new KisError('KIS_ERR_CONFIG_SCHEMA', `platform.listen '${platform.listen}' is not host:port`);
  const now = opts.auth?.now ?? Date.now;
  const auth = new Authenticator(platform, opts.auth);
  const audit: AuditLog = opts.audit ?? (opts.kafka ? new KafkaAudit(opts.kafka, backend.appId, logger) : new MemoryAudit(logger));
  const router = new Router(apiRoutes({ platform, backend, auth, audit, version: opts.version, now, logger }));
  const files = new StaticFiles(opts.consoleDir ?? defaultConsoleDir(), platform.basePath);
  const server = createServer(createHandler({ basePath: platform.basePath, router, auth, audit, backend, files, logger, now }));
  // Slow clients must not hold sockets forever (a login page is reachable by anyone who can reach the port).
  server.requestTimeout = 60_000;
  server.headersTimeout = 20_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${addr.port}${platform.basePath}`;
  logger.info({ url, base_path: platform.basePath, users: platform.users.length }, 'console listening');
  // Connects the audit producer now, so that the first action does not wait for it; a failure here only
  // means the first action tries again (and is refused with 503 if the trail still cannot be written).
  audit.ready().catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'the audit trail cannot be written yet; actions are refused until it can'));
  return {
    url,
    audit,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await audit.close();
    },
  };
}
