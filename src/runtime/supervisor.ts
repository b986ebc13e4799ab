// Runs the service for `kisflow run` and applies config changes while it runs (hot reload).
// Kubernetes swaps a mounted ConfigMap through a symlink, so the directory is polled by content hash
// rather than watched; only what the config loads is hashed (YAML, function modules and their imports). A new config is validated in full first: a valid one is applied at a batch
// boundary (the running service drains and commits, then the new one starts); an invalid one is
// rejected, logged with every error, and counted, and the old flows keep running.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { loadConfigFiles, readConfigDir } from '../config/load.js';
import { configFiles } from '../core/module-graph.js';
import type { FlowObserver } from '../core/observer.js';
import type { StateObserver } from '../state/state-manager.js';
import type { SourceObserver } from '../core/source.js';
import type { PrepareEnv } from '../core/pool.js';
import { errorMessage, KisConfigErrors } from '../kernel/errors.js';
import { prepareApp, type App } from './app.js';
import { KisService, type RunSummary, type ServiceOptions } from './service.js';

export interface SupervisorOptions {
  readonly logger: Logger;
  /** Where scheduled jobs register their metrics. */
  readonly registry?: Registry;
  readonly observer?: FlowObserver;
  readonly sourceObserver?: SourceObserver;
  readonly stateObserver?: StateObserver;
  readonly stdout?: PrepareEnv['stdout'];
  /** Where relative data paths resolve when `dir` is a copy of the config directory (the console's effective directory). */
  readonly dataDir?: string;
  /** Told about every dead letter of the running service (the console keeps them in embedded mode). */
  readonly onDeadLetters?: ServiceOptions['onDeadLetters'];
  /** Told about every reload attempt (metrics). */
  readonly onReload?: (result: 'applied' | 'rejected', detail: string) => void;
}

/**
 * A hash of what the config loads: the YAML documents, the function modules and the files they import from
 * the directory (core/module-graph.ts), following symlinks. Other files (data, logs) do not count. The module
 * list is read from the YAML on disk when it loads, else the running config's list is used.
 */
export async function hashDir(dir: string, fallbackFunctions: readonly string[] = []): Promise<string> {
  const root = path.resolve(dir);
  let functions = fallbackFunctions;
  try {
    const loaded = loadConfigFiles(root, await readConfigDir(root), {});
    if (loaded.config) functions = loaded.config.global.functions;
  } catch {
    // an unreadable directory: hash what can be read; the reload itself reports the errors
  }
  const h = createHash('sha256');
  for (const file of await configFiles(root, functions)) {
    const content = await readFile(file).catch(() => undefined);
    if (content === undefined) continue;
    h.update(path.relative(root, file)).update('\0').update(content).update('\0');
  }
  return h.digest('hex');
}

export class Supervisor {
  private service: KisService;
  private running: Promise<RunSummary>;
  private hash: string | undefined;
  /** A new hash seen once; applied only when the next look sees it again (files still being written are not read half-way). */
  private pendingHash: string | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> = Promise.resolve();
  private generation = 0;

  private constructor(private readonly dir: string, private app: App, private readonly opts: SupervisorOptions) {
    this.service = this.create(app);
    this.running = this.service.run();
  }

  /** Loads and validates the config, starts the service, and (Kafka mode) starts watching for changes. */
  static async start(dir: string, opts: SupervisorOptions): Promise<Supervisor> {
    const app = await prepareApp(dir, opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {});
    const s = new Supervisor(dir, app, opts);
    s.hash = await hashDir(dir, app.config.global.functions);
    s.schedule();
    return s;
  }

  get current(): KisService {
    return this.service;
  }

  /** The loaded app (config and pool) the running service was built from. */
  get loaded(): App {
    return this.app;
  }

  /** The hash of the config directory the running service was built from (changes with every applied reload). */
  get configVersion(): string {
    return this.hash ?? '';
  }

  /** The directory the service runs from. */
  get configDir(): string {
    return this.dir;
  }

  get config(): App['config'] {
    return this.app.config;
  }

  /** Resolves with the last service's summary when the run ends (finite sources, stop(), or a failure). */
  async done(): Promise<RunSummary> {
    for (;;) {
      const running = this.running;
      const summary = await running;
      await this.reloading;
      if (this.running === running) return summary;
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.service.stop();
  }

  /** Checks the directory now; a change that is the same on two looks in a row is applied if valid, rejected if not. */
  async checkNow(): Promise<'unchanged' | 'settling' | 'applied' | 'rejected'> {
    const hash = await hashDir(this.dir, this.app.config.global.functions).catch(() => undefined);
    if (hash === undefined || hash === this.hash) {
      this.pendingHash = undefined;
      return 'unchanged';
    }
    if (hash !== this.pendingHash) {
      this.pendingHash = hash;
      return 'settling';
    }
    this.pendingHash = undefined;
    this.hash = hash;
    const logger = this.opts.logger;
    let next: App;
    try {
      next = await prepareApp(this.dir, { moduleVersion: `${hash.slice(0, 12)}-${++this.generation}`, ...(this.opts.dataDir !== undefined ? { dataDir: this.opts.dataDir } : {}) });
      KisService.create(next.config, { pool: next.pool, logger, withoutSources: true, withoutJobs: true }); // builds every flow: params, expressions
    } catch (err) {
      const detail = err instanceof KisConfigErrors ? err.errors.map((e) => e.message).join('\n') : errorMessage(err);
      logger.error({ dir: this.dir, errors: err instanceof KisConfigErrors ? err.errors.map((e) => e.message) : [detail] },
        'config change rejected: the old flows keep running');
      this.opts.onReload?.('rejected', detail);
      return 'rejected';
    }
    if (next.config.global.kafka === undefined || this.app.config.global.kafka === undefined) {
      const detail = 'hot reload applies to Kafka mode only (embedded mode keeps its log in memory); restart to switch modes';
      logger.error({ dir: this.dir }, `config change rejected: ${detail}`);
      this.opts.onReload?.('rejected', detail);
      return 'rejected';
    }
    logger.info({ dir: this.dir }, 'config change accepted: draining the running flows, then starting the new ones');
    let applied: () => void = () => {};
    this.reloading = new Promise<void>((resolve) => { applied = resolve; });
    try {
      this.service.stop();
      await this.running.catch((err: unknown) => logger.error({ err: errorMessage(err) }, 'the old service ended with an error'));
      this.app = next;
      this.service = this.create(next);
      this.running = this.service.run();
      this.opts.onReload?.('applied', '');
      logger.info({ flows: [...next.config.flows.keys()] }, 'config change applied');
    } finally {
      applied();
    }
    return 'applied';
  }

  private create(app: App): KisService {
    return KisService.create(app.config, {
      pool: app.pool,
      logger: this.opts.logger,
      locate: app.locate,
      ...(this.opts.observer ? { observer: this.opts.observer } : {}),
      ...(this.opts.sourceObserver ? { sourceObserver: this.opts.sourceObserver } : {}),
      ...(this.opts.stateObserver ? { stateObserver: this.opts.stateObserver } : {}),
      ...(this.opts.stdout ? { stdout: this.opts.stdout } : {}),
      ...(this.opts.registry ? { registry: this.opts.registry } : {}),
      ...(this.opts.onDeadLetters ? { onDeadLetters: this.opts.onDeadLetters } : {}),
    });
  }

  private schedule(): void {
    const every = this.app.config.global.reloadIntervalMs;
    if (this.stopped || every === 0 || this.app.config.global.kafka === undefined) return;
    this.timer = setTimeout(() => {
      this.checkNow()
        .catch((err: unknown) => this.opts.logger.error({ err: errorMessage(err) }, 'config check failed'))
        .finally(() => this.schedule());
    }, every);
    this.timer.unref();
  }
}
