// An in-memory way to run flows on rows and look at what came out (as Kafka Streams' TopologyTestDriver
// does): output rows per flow, rejected rows, dead letters, records on the embedded log, printed lines.
import { mkdtemp, writeFile, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { KisPool } from '../core/pool.js';
import { REJECTION_CODES, type DeadLetter } from '../core/dead-letter.js';
import type { RunResult } from '../core/flow.js';
import type { LogRecord } from '../connectors/embedded/log.js';
import { KisError } from '../kernel/errors.js';
import type { Row } from '../kernel/types.js';
import { silentLogger } from '../observability/logger.js';
import { prepareApp, type App } from '../runtime/app.js';
import { KisService, type RunSummary, type ServiceHarness } from '../runtime/service.js';
import type { Logger } from 'pino';
import type { StateObserver } from '../state/state-manager.js';

export interface DriverOptions {
  /** Environment for ${VAR} interpolation (default: process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** Register functions in the pool before the config's function modules load. */
  readonly register?: (pool: KisPool) => void;
  readonly logger?: Logger;
  /** Receives keyed-state restores, evictions and key counts (e.g. a PromFlowObserver, to assert on metrics). */
  readonly stateObserver?: StateObserver;
}

export interface FlowRunResult {
  readonly output: Row[];
  readonly rejected: DeadLetter[];
  readonly deadLetters: DeadLetter[];
  readonly stopReason: RunResult['stopReason'];
}

export class TestDriver {
  private readonly outputs = new Map<string, Row[]>();
  private readonly results: Array<{ flow: string; result: RunResult }> = [];
  private readonly letters: DeadLetter[] = [];
  private readonly printed: string[] = [];
  /** The driver uses only the harness interface of the service, not its internals. */
  private readonly service: ServiceHarness;
  private offsetMs = 0;

  private constructor(readonly app: App, opts: DriverOptions, private readonly tempDir?: string) {
    this.service = KisService.create(app.config, {
      pool: app.pool,
      logger: opts.logger ?? silentLogger(),
      locate: app.locate,
      stdout: {
        write: (text, cb) => {
          this.printed.push(...text.split('\n').filter((l) => l.length > 0));
          cb();
          return true;
        },
      },
      onRun: (flow, result) => {
        this.results.push({ flow, result });
        const list = this.outputs.get(flow) ?? [];
        list.push(...result.output);
        this.outputs.set(flow, list);
      },
      onDeadLetters: (letters) => this.letters.push(...letters),
      clock: () => Date.now() + this.offsetMs,
      ...(opts.stateObserver ? { stateObserver: opts.stateObserver } : {}),
      tickMs: 0,
    });
    this.service.startDriven();
  }

  /** A driver over a config directory (function modules listed in its global document load too). */
  static async fromDir(dir: string, opts: DriverOptions = {}): Promise<TestDriver> {
    return new TestDriver(await prepareApp(dir, opts), opts).started();
  }

  /** A driver over YAML given inline: one string, or file name -> text. Written to a temp directory. */
  static async fromYaml(yaml: string | Readonly<Record<string, string>>, opts: DriverOptions = {}): Promise<TestDriver> {
    const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-driver-'));
    const files = typeof yaml === 'string' ? { 'config.yml': yaml } : yaml;
    for (const [name, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await writeFile(path.join(dir, name), text, 'utf8');
    }
    let app: App;
    try {
      app = await prepareApp(dir, opts);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    return new TestDriver(app, opts, dir).started();
  }

  /** Connectors with a start (storage) are connected and checked before the first row; a failure closes the driver. */
  private async started(): Promise<this> {
    try {
      await this.service.startConnectors();
    } catch (err) {
      await this.close().catch(() => undefined);
      throw err;
    }
    return this;
  }

  /** Feeds rows as if they came from source `sourceId`, to the flows it feeds; waits until all that follows is through. */
  async pipe(sourceId: string, rows: readonly Row[], partition = 0): Promise<void> {
    const sc = this.app.config.sources.get(sourceId);
    if (!sc) throw new KisError('KIS_ERR_USAGE', `no source '${sourceId}' (sources: ${[...this.app.config.sources.keys()].join(', ') || 'none'})`);
    await this.service.feed(sourceId, sc.flows, rows, partition);
    await this.service.settle();
  }

  /** Runs one flow on rows; returns what this call produced (downstream flows run too, and are in output()). */
  async runFlow(flowId: string, rows: readonly Row[], partition = 0): Promise<FlowRunResult> {
    const outBefore = this.output(flowId).length;
    const dlBefore = this.letters.length;
    const runsBefore = this.results.length;
    await this.service.feed('driver', [flowId], rows, partition);
    await this.service.settle();
    const deadLetters = this.letters.slice(dlBefore).filter((d) => d.flow === flowId);
    const results = this.output(flowId).slice(outBefore);
    return {
      output: results,
      rejected: deadLetters.filter((d) => REJECTION_CODES.has(d.code)),
      deadLetters,
      stopReason: this.results.slice(runsBefore).find((r) => r.flow === flowId)?.result.stopReason ?? 'no-rows',
    };
  }

  /** The clock functions and state see: the wall clock moved by every advance() so far. */
  now(): number {
    return Date.now() + this.offsetMs;
  }

  /** Moves the clock forward and runs the time-driven work (windows close, join windows and TTLs expire). */
  async advance(ms: number): Promise<void> {
    this.offsetMs += ms;
    await this.service.tick();
    await this.service.settle();
  }

  /** The keyed state of a function of a flow, for one partition (restored when needed). */
  async state(flowId: string, fid: string, partition = 0): Promise<Map<string, unknown>> {
    await this.service.state.ready(flowId, partition);
    return new Map(this.service.state.store(flowId, fid, partition).entries());
  }

  /** Ends the input: held inner-join rows count as unmatched, held left-join rows are emitted unmatched. */
  async end(): Promise<void> {
    await this.service.finish();
  }

  /** Runs the config's own sources until they end (they must be finite). */
  async runSources(): Promise<RunSummary> {
    return this.service.run();
  }

  /** Every row a flow has output so far. */
  output(flowId: string): Row[] {
    return [...(this.outputs.get(flowId) ?? [])];
  }

  deadLetters(flowId?: string): DeadLetter[] {
    return this.letters.filter((d) => flowId === undefined || d.flow === flowId);
  }

  rejected(flowId?: string): DeadLetter[] {
    return this.deadLetters(flowId).filter((d) => REJECTION_CODES.has(d.code));
  }

  /** Records on a topic of the embedded log (a connector's topic, a dead-letter topic). */
  topic(name: string): LogRecord[] {
    return this.service.log?.get(name)?.all() ?? [];
  }

  /** Lines kis.print and the stdout sink wrote. */
  get stdout(): readonly string[] {
    return this.printed;
  }

  /** Inner-join rows that found no match when the input ended (see end()). */
  get unmatched(): number {
    return this.service.summary().unmatched;
  }

  /** The join keys of those rows (the first 1,000). */
  get unmatchedKeys(): readonly string[] {
    return this.service.summary().unmatchedKeys ?? [];
  }

  async close(): Promise<void> {
    await this.service.close();
    if (this.tempDir) await rm(this.tempDir, { recursive: true, force: true });
  }
}
