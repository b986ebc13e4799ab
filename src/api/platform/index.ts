// The data and actions behind every console route (PlatformBackend of src/api/backend.ts), over the real
// running deployment. Wiring, in `kisflow run` (the console parts exist before the service, which is started
// from the effective directory and told about the status observer and the dead-letter memory):
//
//   const parts = await preparePlatform(dir, { logger, effectiveDir: process.env['KISFLOW_EFFECTIVE_DIR'] });
//   const sup = await Supervisor.start(parts.effective.dir, {
//     ..., observer: teeFlowObservers(observer, parts.observer), sourceObserver: teeSourceObservers(observer, parts.observer),
//     onDeadLetters: parts.deadLetters.add,
//   });
//   const backend = await createPlatformBackend({ parts, supervisor: sup, platform, logger, version });
//   ...; await backend.close();
import { randomUUID } from 'node:crypto';
import type { Kafka, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { ApiRefusal as ApiRefusalT, PlatformBackend } from '../backend.js';
import { ApiRefusal } from '../backend.js';
import type {
  ApplyResult, ConfigFiles, ConfigView, DeadLetterPage, DeadLetterQuery, Executor, FunctionDetail, Graph, History, JobDaily, JobRow, JobRuns,
  KillResult, Overview, ReplayRequest, ReplayResult, RewindRequest, RewindResult, SnapshotRequest, SnapshotResult, TriggerResult, TryRequest,
  TryResult, ValidateResult,
} from '../contract.js';
import type { KisConfig, PlatformConfig } from '../../config/model.js';
import { loadConfigDir } from '../../config/load.js';
import { createKafka } from '../../kafka/client.js';
import { ensureTopics } from '../../kafka/topics.js';
import { errorMessage, isKisError } from '../../kernel/errors.js';
import { configEditsTopic } from '../../kernel/names.js';
import { silentLogger } from '../../observability/logger.js';
import { StatusObserver } from '../../observability/status-observer.js';
import { parseTime } from '../../repair/dlq.js';
import { flowChangelogs, rewindFlow, type RewindTarget } from '../../repair/rewind.js';
import { readTopics } from '../../repair/read.js';
import { snapshotCommand } from '../../repair/snapshot.js';
import type { Supervisor } from '../../runtime/supervisor.js';
import { EffectiveConfig, problemsOf, safeRelative, type EditRecord } from './config-edits.js';
import { KafkaDeadLetters, MemoryDeadLetters, type DeadLetterSource } from './dead-letters.js';
import { followTopic } from './follow.js';
import { executorsOf, jobDaily, jobRows, jobRuns, schedulerOf } from './jobs.js';
import { StatusBoard } from './status.js';
import { tryFlow } from './try-flow.js';
import { functionSum, graphOf, overviewOf } from './views.js';

export { EffectiveConfig } from './config-edits.js';
export { MemoryDeadLetters } from './dead-letters.js';
export { StatusBoard, type StatusRecord } from './status.js';

/** What exists before the service starts: the effective config directory, the status observer, the dead-letter memory. */
export interface PlatformParts {
  readonly effective: EffectiveConfig;
  readonly observer: StatusObserver;
  readonly deadLetters: MemoryDeadLetters;
}

export interface PrepareOptions {
  /** Where the service runs from (default: a temp directory). */
  readonly effectiveDir?: string;
  /** Kafka mode: read the applied edits first, so that a replica starts on the version the others run (default: a client from the config). */
  readonly kafka?: Kafka;
  readonly logger?: Logger;
}

/**
 * Before the service starts: the effective directory (mounted files + applied edits), the status observer and
 * the dead-letter memory. `mountedDir`: the config directory as mounted (read-only is fine). In Kafka mode the
 * edits topic is read once here; an edit that is not valid on top of the mounted files any more (the ConfigMap
 * changed under it) is left out, with a warning, rather than keep the service from starting.
 */
export async function preparePlatform(mountedDir: string, opts: PrepareOptions = {}): Promise<PlatformParts> {
  const effective = await EffectiveConfig.create(mountedDir, opts.effectiveDir);
  const logger = opts.logger ?? silentLogger();
  const loaded = await loadConfigDir(mountedDir).catch(() => undefined);
  const cluster = loaded?.config.global.kafka;
  if (loaded && cluster) {
    const kafka = opts.kafka ?? createKafka(cluster, logger);
    const records = await readTopics(kafka, [configEditsTopic(loaded.config.global.appId)]).catch((err: unknown) => {
      logger.warn({ err: errorMessage(err) }, 'console: the applied config edits could not be read; starting from the mounted files');
      return [];
    });
    for (const r of records) if (r.value !== null) effective.take(JSON.parse(r.value) as EditRecord);
    if (effective.edits.length > 0) {
      await effective.rebuild();
      const { problems } = await problemsOf(effective.dir);
      if (problems.length > 0) {
        logger.warn({ version: effective.version, problems: problems.map((p) => p.message) }, 'console: the applied edits are not valid on the mounted files; starting from the mounted files');
        effective.dropOverlay();
        await effective.rebuild();
      }
    }
  }
  return { effective, observer: new StatusObserver(), deadLetters: new MemoryDeadLetters() };
}

export interface PlatformDeps {
  readonly parts: PlatformParts;
  /** Started on parts.effective.dir. */
  readonly supervisor: Supervisor;
  readonly platform: Pick<PlatformConfig, 'statusIntervalMs' | 'historyMinutes'>;
  readonly logger: Logger;
  readonly version: string;
  /** Kafka mode: a client (default: one made from the global document's kafka section). */
  readonly kafka?: Kafka;
  /** This replica's id (default: host:pid:random). */
  readonly replica?: string;
  /** How long an apply waits for its edit to come back from the edits topic and be applied (default 60 s). */
  readonly applyTimeoutMs?: number;
}

const refuse = (status: ApiRefusalT['status'], message: string, where?: string): ApiRefusal =>
  new ApiRefusal(status, status === 404 ? 'API_NOT_FOUND' : status === 409 ? 'API_CONFLICT' : status === 422 ? 'API_INVALID_CONFIG' : 'API_BAD_REQUEST', message, where);

function checkFiles(files: unknown): ConfigFiles {
  if (files === null || typeof files !== 'object' || Array.isArray(files)) throw refuse(400, 'files must be an object: path -> text (or null)', 'files');
  for (const [f, v] of Object.entries(files)) {
    safeRelative(f);
    if (v !== null && typeof v !== 'string') throw refuse(400, `files['${f}'] must be text or null`, 'files');
  }
  return files as ConfigFiles;
}

export class Platform implements PlatformBackend {
  readonly appId: string;
  readonly mode: 'embedded' | 'kafka';
  readonly replica: string;
  private readonly board: StatusBoard;
  private readonly letters: DeadLetterSource;
  private readonly kafka: Kafka | undefined;
  private producer: Producer | undefined;
  private closers: Array<() => Promise<void>> = [];
  private reloads: Promise<unknown> = Promise.resolve();

  constructor(private readonly d: PlatformDeps) {
    const config = d.supervisor.config;
    this.appId = config.global.appId;
    this.kafka = config.global.kafka ? d.kafka ?? createKafka(config.global.kafka, d.logger) : undefined;
    this.mode = this.kafka ? 'kafka' : 'embedded';
    this.board = new StatusBoard({
      supervisor: d.supervisor, observer: d.parts.observer, intervalMs: d.platform.statusIntervalMs, historyMinutes: d.platform.historyMinutes, logger: d.logger,
      ...(this.kafka ? { kafka: this.kafka } : {}), ...(d.replica ? { replica: d.replica } : {}),
    });
    this.replica = this.board.replica;
    d.parts.deadLetters.supervisor = () => d.supervisor;
    this.letters = this.kafka ? new KafkaDeadLetters(this.kafka, d.supervisor, d.logger) : d.parts.deadLetters;
  }

  private get cfg(): KisConfig {
    return this.d.supervisor.config;
  }

  async start(): Promise<void> {
    await this.board.start();
    this.closers.push(() => this.board.stop());
    if (!this.kafka) return;
    const topic = configEditsTopic(this.appId);
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, [{ topic, partitions: 1, compact: true, owner: 'the console\'s config edits' }], this.d.logger);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    this.producer = this.kafka.producer({ allowAutoTopicCreation: true, idempotent: false });
    await this.producer.connect();
    this.closers.push(async () => { await this.producer?.disconnect(); });
    const consumer = await followTopic(this.kafka, `${this.appId}.console-edits.${this.replica}`, topic, this.d.logger, (r) => {
      if (r.value === null) return;
      if (this.d.parts.effective.take(JSON.parse(r.value) as EditRecord)) void this.reload();
    });
    this.closers.push(() => consumer.disconnect());
    // The mounted ConfigMap changed: the effective directory is made again (the overlay stays on top).
    // reload_interval_ms: 0 turns hot reload off, and with it this watch (applied edits still reload: an admin asked).
    const every = this.cfg.global.reloadIntervalMs;
    if (every === 0) return;
    const timer = setInterval(() => {
      void this.d.parts.effective.mountedChanged().then((changed) => { if (changed) void this.reload(); }).catch(() => undefined);
    }, every);
    timer.unref();
    this.closers.push(async () => clearInterval(timer));
  }

  /** Makes the effective directory again and has the supervisor take it (its two looks, one after the other). */
  private reload(): Promise<unknown> {
    this.reloads = this.reloads.then(async () => {
      await this.d.parts.effective.rebuild();
      let r = await this.d.supervisor.checkNow();
      if (r === 'settling') r = await this.d.supervisor.checkNow();
      this.d.logger.info({ result: r, version: this.d.parts.effective.version }, 'console: effective config made again');
    }).catch((err: unknown) => this.d.logger.error({ err: errorMessage(err) }, 'console: the effective config could not be made'));
    return this.reloads;
  }

  private flowOf(flow: string): NonNullable<ReturnType<KisConfig['flows']['get']>> {
    const f = this.cfg.flows.get(flow);
    if (!f) throw refuse(404, `no flow '${flow}' (flows: ${[...this.cfg.flows.keys()].join(', ')})`, 'flow');
    return f;
  }

  async overview(): Promise<Overview> {
    const now = Date.now();
    return overviewOf(this.cfg, this.mode, now, this.board.all(now));
  }

  async history(flow: string | undefined, minutes: number): Promise<History> {
    if (flow !== undefined) this.flowOf(flow);
    if (!Number.isFinite(minutes) || minutes <= 0) throw refuse(400, `minutes must be a positive number (got ${minutes})`, 'minutes');
    const since = Date.now() - minutes * 60_000;
    const flows = flow !== undefined ? [flow] : [...this.cfg.flows.keys()];
    return { step_ms: this.d.platform.statusIntervalMs, flows: Object.fromEntries(flows.map((f) => [f, this.board.history.get(f, since)])) };
  }

  async graph(): Promise<Graph> {
    return graphOf(this.cfg, this.board.live());
  }

  async functionDetail(flow: string, fid: string): Promise<FunctionDetail> {
    const fc = this.flowOf(flow);
    const step = fc.steps.find((s) => s.fid === fid);
    const fn = this.cfg.funcs.get(fid);
    if (!step || !fn) throw refuse(404, `flow '${flow}' has no step '${fid}' (steps: ${fc.steps.map((s) => s.fid).join(', ')})`, 'fid');
    const recent = await this.letters.list(this.cfg, { flow, fn: fid, limit: 20 });
    return {
      flow, fid, fname: fn.fname, mode: fn.mode, params: { ...fn.defaultParams, ...step.params }, connector: fn.cid ?? null,
      origin: { file: fn.origin.file, doc: fn.origin.doc }, numbers: functionSum(this.board.live(), flow, fid, fn.mode), recent_dead_letters: recent.letters,
    };
  }

  async deadLetters(q: DeadLetterQuery): Promise<DeadLetterPage> {
    this.flowOf(q.flow);
    return this.letters.list(this.cfg, q);
  }

  async replay(req: ReplayRequest): Promise<ReplayResult> {
    this.flowOf(req.flow);
    if (req.ids !== undefined && (!Array.isArray(req.ids) || req.ids.length === 0)) throw refuse(400, 'ids must be a non-empty list of dead-letter ids', 'ids');
    try {
      return await this.letters.replay(this.cfg, req);
    } catch (err) {
      if (isKisError(err) && err.code === 'KIS_ERR_REPAIR_REQUEST') throw refuse(409, err.message);
      throw err;
    }
  }

  async jobs(scene: string | undefined): Promise<readonly JobRow[]> {
    return jobRows(this.cfg, this.d.supervisor.current.jobs, scene);
  }

  async jobRuns(job: string, limit: number): Promise<JobRuns> {
    return jobRuns(this.cfg, this.d.supervisor.current.jobs, job, limit);
  }

  async jobDaily(days: number): Promise<JobDaily> {
    return jobDaily(this.d.supervisor.current.jobs, days);
  }

  sceneOfJob(job: string): string | undefined {
    return this.cfg.jobs.get(job)?.scene;
  }

  async sceneOfRun(runId: string): Promise<string | undefined> {
    return this.d.supervisor.current.jobs?.book.run(runId)?.scene;
  }

  async trigger(job: string, params: Readonly<Record<string, unknown>>): Promise<TriggerResult> {
    if (!this.cfg.jobs.has(job)) throw refuse(404, `no job '${job}'`, 'job');
    if (params === null || typeof params !== 'object' || Array.isArray(params)) throw refuse(400, 'params must be an object', 'params');
    const jobs = schedulerOf(this.d.supervisor.current.jobs);
    return { job, request_id: await jobs.trigger(job, params) };
  }

  async kill(runId: string): Promise<KillResult> {
    const jobs = schedulerOf(this.d.supervisor.current.jobs);
    if (!jobs.book.run(runId)) throw refuse(404, `no run '${runId}' known to this replica`, 'run_id');
    await jobs.kill(runId);
    return { run_id: runId, sent: true };
  }

  async executors(): Promise<readonly Executor[]> {
    return executorsOf(this.d.supervisor.current.jobs, this.board.live());
  }

  async config(): Promise<ConfigView> {
    const e = this.d.parts.effective;
    // Under the running version's name, so that function modules edited since the last look are imported afresh.
    const { problems } = await problemsOf(e.dir, `console-${this.d.supervisor.configVersion.slice(0, 12)}`);
    return {
      version: this.d.supervisor.configVersion,
      documents: await e.documents(),
      modules: await e.modules(this.cfg.global.functions),
      problems,
      edits: [...e.edits].reverse().map(({ version, at, user, message, files }) => ({ version, at, user, message, files })),
    };
  }

  async validate(files: ConfigFiles): Promise<ValidateResult> {
    const scratch = await this.d.parts.effective.scratch(checkFiles(files));
    try {
      const { problems } = await problemsOf(scratch.dir);
      return { valid: problems.length === 0, problems };
    } finally {
      await scratch.remove();
    }
  }

  async tryFlow(req: TryRequest): Promise<TryResult> {
    if (!Array.isArray(req.rows) || req.rows.some((r) => r === null || typeof r !== 'object' || Array.isArray(r))) throw refuse(400, 'rows must be a list of objects', 'rows');
    const scratch = await this.d.parts.effective.scratch(checkFiles(req.files));
    try {
      const { problems, app } = await problemsOf(scratch.dir);
      if (!app) return { problems, output: [], rejects: [], dead_letters: [], saved: {} };
      return await tryFlow(app, req.flow, req.rows);
    } finally {
      await scratch.remove();
    }
  }

  async apply(files: ConfigFiles, message: string, user: string): Promise<ApplyResult> {
    const checked = checkFiles(files);
    if (Object.keys(checked).length === 0) throw refuse(400, 'an edit needs at least one file', 'files');
    const { problems } = await this.validate(checked);
    if (problems.length > 0) {
      const first = problems.slice(0, 5).map((p) => p.message).join('; ');
      throw refuse(422, `the edit is not valid (${problems.length} problem${problems.length === 1 ? '' : 's'}): ${first}`);
    }
    const e = this.d.parts.effective;
    const rec: EditRecord = { version: e.version + 1, at: Date.now(), user, message: String(message ?? ''), files: Object.keys(checked), content: checked, nonce: randomUUID() };
    if (!this.producer) {
      // Embedded mode: no hot reload; the edit is kept in the effective directory and takes effect at the next start from it.
      e.take(rec);
      await e.rebuild();
      await e.persist();
      const kept = e.journal
        ? `it is kept in ${e.journal} and takes effect when the service starts again`
        : `it is written to ${e.dir} for this process only (no stable effective directory was given): start the service with --config ${e.dir} to run it`;
      return { version: rec.version, problems: [{ code: 'API_RESTART_NEEDED', message: `embedded mode does not reload while running: edit ${rec.version} is valid; ${kept}` }] };
    }
    await this.producer.send({ topic: configEditsTopic(this.appId), acks: -1, messages: [{ key: String(rec.version), value: JSON.stringify(rec) }] });
    const end = Date.now() + (this.d.applyTimeoutMs ?? 60_000);
    for (;;) {
      const taken = e.edits.find((x) => x.version === rec.version);
      if (taken) {
        if (taken.nonce !== rec.nonce) throw refuse(409, `another edit took version ${rec.version} first (by ${taken.user}: ${taken.message}); look at the config again and apply on top of it`);
        break;
      }
      if (Date.now() > end) throw new ApiRefusal(503, 'API_UNAVAILABLE', `edit ${rec.version} was recorded but has not come back from ${configEditsTopic(this.appId)} yet; every replica applies it when it does`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await this.reloads;
    return { version: rec.version, problems: [] };
  }

  async rewind(flow: string, req: RewindRequest): Promise<RewindResult> {
    this.flowOf(flow);
    if (!this.kafka) throw refuse(409, 'rewind needs Kafka mode: embedded mode keeps no input to go back to');
    let to: RewindTarget;
    try {
      to = req.to === 'earliest' ? { kind: 'beginning' } : { kind: 'time', at: typeof req.to === 'number' ? req.to : parseTime(String(req.to), 'to') };
    } catch (err) {
      throw refuse(400, errorMessage(err), 'to');
    }
    const app = this.d.supervisor.loaded;
    try {
      const report = await rewindFlow(this.kafka, app.config, flow, to, flowChangelogs(app.config, app.pool, flow), { logger: this.d.logger });
      return { flow, partitions: report.offsets.length, detail: `group ${report.group}, request ${report.id}, ${Object.keys(report.changelogs).length} changelogs reset` };
    } catch (err) {
      if (isKisError(err) && err.code === 'KIS_ERR_REPAIR_REQUEST') throw refuse(400, err.message);
      throw err;
    }
  }

  async snapshot(sid: string, req: SnapshotRequest): Promise<SnapshotResult> {
    const sc = this.cfg.sources.get(sid);
    if (!sc) throw refuse(404, `no source '${sid}'`, 'sid');
    if (!this.kafka) throw refuse(409, 'snapshot requests are for a running binlog source in Kafka mode');
    if (sc.type !== 'binlog') throw refuse(400, `source '${sid}' is of type ${sc.type}: only binlog sources re-snapshot tables`, 'sid');
    if (!Array.isArray(req.tables) || req.tables.length === 0 || req.tables.some((t) => typeof t !== 'string' || !/^[^.,]+\.[^.,]+$/.test(t))) {
      throw refuse(400, 'tables must be a non-empty list of schema.table', 'tables');
    }
    const id = `console-${Date.now().toString(36)}-${randomUUID().slice(0, 6)}`;
    try {
      await snapshotCommand(['--source', sid, '--tables', req.tables.join(','), '--id', id], { configDir: this.d.parts.effective.dir, stdout: { write: () => true }, logger: this.d.logger });
    } catch (err) {
      if (isKisError(err) && err.code === 'KIS_ERR_REPAIR_REQUEST') throw refuse(400, err.message, 'tables');
      throw err;
    }
    return { source: sid, request_id: id };
  }

  async close(): Promise<void> {
    for (const c of this.closers.splice(0).reverse()) await c().catch(() => undefined);
    await this.reloads;
  }
}

/** The backend over the running deployment, started (status records published and followed, edits followed). */
export async function createPlatformBackend(deps: PlatformDeps): Promise<PlatformBackend> {
  const p = new Platform(deps);
  await p.start();
  return p;
}
