// `kisflow run` with the console: when the global document has a platform section, or `--console` asks for
// one on a local run. The parts that must exist before the service (the effective config directory, the
// status observer, the dead-letter memory) are made first; the backend and the HTTP server once it runs.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { hashPassword } from '../api/auth/index.js';
import { packageRoot } from '../api/http/static.js';
import { serveConsole } from '../api/index.js';
import { createPlatformBackend, preparePlatform, type PlatformParts } from '../api/platform/index.js';
import { loadConfigDir } from '../config/load.js';
import type { PlatformConfig } from '../config/model.js';
import type { FlowObserver } from '../core/observer.js';
import type { SourceObserver } from '../core/source.js';
import { createKafka } from '../kafka/client.js';
import { teeFlowObservers, teeSourceObservers } from '../observability/status-observer.js';
import type { Supervisor } from '../runtime/supervisor.js';

/** Where `--console` listens when it names no address: this machine only. */
export const LOCAL_CONSOLE = '127.0.0.1:8088';

export interface PreparedConsole {
  readonly platform: PlatformConfig;
  readonly parts: PlatformParts;
  /** The effective directory is a temporary one, removed when the console closes (after the service stopped). */
  readonly temporary: boolean;
  flowObserver(metrics: FlowObserver): FlowObserver;
  sourceObserver(metrics: SourceObserver): SourceObserver;
}

export interface RunningConsole {
  readonly url: string;
  close(): Promise<void>;
}

function version(): string {
  const root = packageRoot();
  try {
    return root ? (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * The console's settings and parts, or undefined when there is no console. `listen`: the value of --console
 * ('' for the flag alone). A config that does not load gives undefined here: the service's own start reports it.
 */
export async function prepareConsole(dir: string, listen: string | undefined, logger: Logger): Promise<PreparedConsole | undefined> {
  let configured: PlatformConfig | undefined;
  let embedded: boolean;
  try {
    const { config } = await loadConfigDir(dir);
    configured = config.global.platform;
    embedded = config.global.kafka === undefined;
  } catch {
    return undefined;
  }
  if (configured === undefined && listen === undefined) return undefined;
  let platform: PlatformConfig = configured ?? {
    listen: LOCAL_CONSOLE, basePath: '/', statusIntervalMs: 5000, historyMinutes: 60, sessionSecret: undefined, sessionTtlMs: 12 * 3_600_000, users: [],
  };
  if (listen !== undefined && listen !== '') platform = { ...platform, listen };
  if (platform.users.length === 0) {
    if (listen === undefined) {
      logger.error('the platform section has no users: nobody can log in to the console (add platform.users or platform.users_file)');
    } else {
      // A local run with nobody configured: one admin for this run, like a notebook server's token.
      const password = randomBytes(12).toString('base64url');
      platform = { ...platform, users: [{ name: 'admin', role: 'admin', passwordHash: await hashPassword(password) }] };
      process.stderr.write(`kisflow: console user 'admin', password '${password}' (this run only; platform.users in the global document makes lasting ones)\n`);
    }
  }
  // Embedded mode does not reload while running: an applied edit takes effect at the next start, so its
  // effective directory (and the journal of edits beside it) must outlive the process.
  const stable = embedded ? await stableEffectiveDir(dir) : undefined;
  const parts = await preparePlatform(dir, { logger, ...(stable !== undefined ? { effectiveDir: stable } : {}) });
  return {
    platform,
    parts,
    temporary: stable === undefined,
    flowObserver: (metrics) => teeFlowObservers(metrics, parts.observer),
    sourceObserver: (metrics) => teeSourceObservers(metrics, parts.observer),
  };
}

/** The backend over the running supervisor, and the HTTP server in front of it. */
export async function startConsole(prepared: PreparedConsole, supervisor: Supervisor, logger: Logger): Promise<RunningConsole> {
  const { platform, parts } = prepared;
  const cluster = supervisor.config.global.kafka;
  const kafka = cluster ? createKafka(cluster, logger) : undefined;
  const v = version();
  const backend = await createPlatformBackend({ parts, supervisor, platform, logger, version: v, ...(kafka ? { kafka } : {}) });
  try {
    const server = await serveConsole({ platform, backend, logger, version: v, ...(kafka ? { kafka } : {}) });
    logger.info({ url: server.url, mode: backend.mode }, 'serving the console');
    return {
      url: server.url,
      close: async () => {
        await server.close();
        await backend.close();
        if (prepared.temporary) await rm(parts.effective.dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await backend.close();
    throw err;
  }
}

/** `<config dir>/.kisflow/effective` (hidden: the loader skips it), or undefined when the directory is not writable. */
async function stableEffectiveDir(dir: string): Promise<string | undefined> {
  const home = path.join(path.resolve(dir), '.kisflow');
  try {
    await mkdir(home, { recursive: true });
    return path.join(home, 'effective');
  } catch {
    return undefined;
  }
}
