#!/usr/bin/env node
// kisflow run | validate | graph | export — the command line of the service.
import './quiet-libraries.js'; // first: it sets what libraries read when they load
import type { Server } from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { exportConfigTo } from '../config/export.js';
import { loadConfigDir } from '../config/load.js';
import { errorMessage, isKisError, KisConfigErrors } from '../kernel/errors.js';
import { jobsCommand } from '../jobs/index.js';
import { usersCommand } from '../api/auth/users-command.js';
import { prepareConsole, startConsole, type RunningConsole } from './console.js';
import { RewindAgent, repairCommands, type FlowControl } from '../repair/index.js';
import { createKafka } from '../kafka/client.js';
import { createLogger, silentLogger } from '../observability/logger.js';
import type { Logger } from 'pino';
import { PromFlowObserver } from '../observability/metrics.js';
import { serveHttp } from '../observability/http-server.js';
import { prepareApp } from '../runtime/app.js';
import { Supervisor } from '../runtime/supervisor.js';
import { KisService } from '../runtime/service.js';
import { mermaidGraph } from './graph.js';
import { humanSummary, wantsSummary, type SummaryInput } from './summary.js';
import { startWatchdog, type Watchdog } from './watchdog.js';

/** The drain deadline before the config is read (the global document's drain_timeout_ms after). */
const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;

const USAGE = `usage: kisflow <command> [--config DIR]

commands:
  run       run the flows of a config directory (ends by itself when every source is finite);
            --console [HOST:PORT] serves the web console too (default 127.0.0.1:8088) and keeps
            serving after a finite run, until Ctrl-C
  validate  check a config directory as a whole, and the tables of storage connectors whose database
            answers (--offline: not those); exit 0, or exit 1 listing every error
  jobs      scheduled jobs: list [--scene S] | runs JOB | trigger JOB [--params JSON] | kill RUN |
            executors | daily (kisflow jobs --help)
  dlq       dead letters of a flow: list | show | replay --flow F [--code C] [--fn F] [--since T]
            [--until T] [--key K] [--from-start] (Kafka mode)
  trace     the journey of a key's recent rows: --flow F --key K [--limit N] (Kafka mode)
  rewind    move a running flow back: --flow F (--time T | --beginning | --offsets t:p=o,...) (Kafka mode)
  snapshot  ask a binlog source to re-snapshot tables: --source S --tables T[,T] [--where W]
  users     users hash: read a password on stdin, print its password_hash for the platform section
  graph     print the config as a Mermaid flowchart (sources -> flows -> functions -> connectors)
  export    write the loaded config back as YAML, one file per object: --out DIR

options:
  --config DIR   the config directory (default: $KISFLOW_CONFIG, else ./config)
  --out DIR      export: where to write
  --offline      validate: do not connect to the databases of storage connectors
  -h, --help     this text
`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  // The repair commands parse their own options (--config among them).
  const repair = argv[0] === 'dlq' || argv[0] === 'trace' || argv[0] === 'rewind' || argv[0] === 'snapshot' ? repairCommands[argv[0]] : undefined;
  if (repair) return repair(argv.slice(1));
  if (argv[0] === 'users') return usersCommand(argv.slice(1), { input: process.stdin, out: (t) => process.stdout.write(t) });
  // `jobs` has options of its own: only --config is taken here, the rest goes to the jobs command.
  if (argv[0] === 'jobs') {
    const rest = [...argv.slice(1)];
    const at = rest.indexOf('--config');
    const dir = at >= 0 ? rest.splice(at, 2)[1] : process.env['KISFLOW_CONFIG'] ?? 'config';
    if (dir === undefined) throw new UsageError('--config needs a directory');
    return jobs(dir, rest);
  }
  // `--console` may stand alone (the default address): give parseArgs an empty value for it.
  const args = argv.flatMap((a, i) => (a === '--console' && (argv[i + 1] === undefined || argv[i + 1]!.startsWith('-')) ? [a, ''] : [a]));
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      out: { type: 'string' },
      offline: { type: 'boolean' },
      console: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const command = positionals[0];
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}'`);
  const dir = values.config ?? process.env['KISFLOW_CONFIG'] ?? 'config';
  if (values.console !== undefined && command !== 'run') throw new UsageError('--console is an option of run');

  switch (command) {
    case 'validate': {
      const app = await prepareApp(dir);
      // Building the service builds every flow: built-in params and expressions are checked too.
      const service = KisService.create(app.config, { pool: app.pool, logger: silentLogger(), locate: app.locate, withoutJobs: true });
      if (!values.offline) {
        // A database that does not answer is not a config error: only what a reachable one says counts.
        const found = (await service.checkConnectors()).filter((e) => e.code !== 'KIS_ERR_STORAGE_UNAVAILABLE');
        if (found.length > 0) throw new KisConfigErrors(found);
      }
      const c = app.config;
      process.stdout.write(`ok: ${c.flows.size} flows, ${c.funcs.size} functions, ${c.conns.size} connectors, ${c.sources.size} sources in ${c.dir}\n`);
      return 0;
    }
    case 'graph': {
      const { config } = await loadConfigDir(dir);
      process.stdout.write(mermaidGraph(config));
      return 0;
    }
    case 'export': {
      if (!values.out) throw new UsageError('export needs --out DIR');
      const { config } = await loadConfigDir(dir);
      const files = await exportConfigTo(config, values.out);
      process.stdout.write(`wrote ${files.length} files to ${values.out}\n`);
      return 0;
    }
    case 'run':
      return run(dir, values.console);
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

/** kisflow jobs …: the jobs of a config directory, their runs and executors, read from (and commands sent to) Kafka. */
async function jobs(dir: string, args: string[]): Promise<number> {
  const app = await prepareApp(dir);
  const { config } = app;
  const kafka = config.global.kafka ? createKafka(config.global.kafka, silentLogger()) : undefined;
  return jobsCommand(args, { jobs: [...config.jobs.values()], appId: config.global.appId, kafka, out: (t) => process.stdout.write(t) });
}

/**
 * What a stop is waiting for, in words: the service's own account when it gives one (an optional
 * `pending(): string[]` on the running service), else the general steps of a drain.
 */
function pendingOf(supervisor: Supervisor | undefined): string {
  if (!supervisor) return 'start-up to finish (the config was still loading)';
  const service = supervisor.current as unknown as { pending?: () => readonly string[] };
  try {
    const pending = service.pending?.();
    if (pending && pending.length > 0) return pending.join('; ');
  } catch {
    // an account that fails is no account
  }
  return 'the service to drain: sources to stop, in-flight batches to finish and commit, sinks to flush';
}

/** A second signal sooner than this after the first counts as the same one. */
const SAME_SIGNAL_MS = 100;

async function run(dir: string, consoleListen: string | undefined): Promise<number> {
  const logger = createLogger();
  const registry = new Registry();
  // One observer for the life of the process: a hot reload swaps the service, not the metrics.
  const observer = new PromFlowObserver(registry);
  // Signals are handled from the first moment: a SIGTERM during start-up stops the service as soon as it exists.
  let supervisor: Supervisor | undefined;
  let drainTimeoutMs = DEFAULT_DRAIN_TIMEOUT_MS;
  let signals = 0;
  let stopWaiting: () => void = () => {};
  const stopped = new Promise<void>((resolve) => { stopWaiting = resolve; });
  let drainTimer: NodeJS.Timeout | undefined;
  let watchdog: Watchdog | undefined;
  let pendingTimer: NodeJS.Timeout | undefined;
  let firstSignalAt = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    // The same signal again within SAME_SIGNAL_MS is one request delivered twice (\`timeout\` and some process
    // managers signal the child and then its whole process group), not an operator insisting.
    if (signals > 0 && performance.now() - firstSignalAt < SAME_SIGNAL_MS) return;
    if (signals === 0) firstSignalAt = performance.now();
    signals++;
    if (signals > 1) {
      logger.warn({ signal: sig }, 'second signal: exiting now');
      process.exit(130);
    }
    logger.info({ signal: sig, drainTimeoutMs }, 'stopping: sources stop, in-flight batches finish, sinks flush');
    stopWaiting();
    const waitingFor = (): string => pendingOf(supervisor);
    // Armed first: it holds even if stopping blocks the event loop. Told what the stop waits for once a second.
    const dog = startWatchdog(drainTimeoutMs, waitingFor());
    watchdog = dog;
    pendingTimer = setInterval(() => dog.waitingFor(waitingFor()), 1000);
    pendingTimer.unref();
    supervisor?.stop();
    // The drain has a deadline: past it the process exits anyway, with what is committed so far.
    drainTimer = setTimeout(() => {
      logger.error({ drainTimeoutMs, waitingFor: waitingFor() }, 'drain timeout: exiting before in-flight batches finished (they were not committed)');
      process.exit(1);
    }, drainTimeoutMs);
    drainTimer.unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let server: Server | undefined;
  let rewinds: RewindAgent | undefined;
  let consoleServer: RunningConsole | undefined;
  try {
    // With the console, the service runs from a copy of the directory with the console's edits laid over it.
    const platform = await prepareConsole(dir, consoleListen, logger);
    const sup = await Supervisor.start(platform?.parts.effective.dir ?? dir, {
      logger,
      registry,
      observer: platform ? platform.flowObserver(observer) : observer,
      sourceObserver: platform ? platform.sourceObserver(observer) : observer,
      stateObserver: observer,
      onReload: (result) => observer.configReload(result),
      ...(platform ? { dataDir: path.resolve(dir), onDeadLetters: platform.parts.deadLetters.add } : {}),
    });
    supervisor = sup;
    if (platform) consoleServer = await startConsole(platform, sup, logger);
    drainTimeoutMs = sup.config.global.drainTimeoutMs;
    if (signals > 0) sup.stop();
    const prom = sup.config.global.prometheus;
    if (!prom.enable) logger.info('metrics are collected but not served: prometheus_enable is false');
    server = prom.listen
      ? await serveHttp(prom.serve, { ...(prom.enable ? { registry } : {}), readiness: () => sup.current.readiness() })
      : undefined;
    if (server) logger.info({ serve: prom.serve, metrics: prom.enable }, 'serving /metrics, /healthz and /readyz');
    rewinds = followRewinds(sup, logger);
    const summary: SummaryInput = await sup.done();
    if (wantsSummary(process.env, process.stderr.isTTY)) process.stderr.write(humanSummary(summary, sup.config));
    if (consoleServer && signals === 0) {
      // A finite run is over; its figures, dead letters and jobs stay on the console until the operator stops it.
      logger.info({ url: consoleServer.url }, 'the run finished; the console stays up until Ctrl-C (SIGINT) or SIGTERM');
      await stopped;
    }
    return 0;
  } finally {
    await consoleServer?.close().catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'closing the console failed'));
    await rewinds?.stop();
    if (drainTimer) clearTimeout(drainTimer);
    if (pendingTimer) clearInterval(pendingTimer);
    watchdog?.cancel();
    server?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * Kafka mode: every replica follows the control topic, so that `kisflow rewind` can pause a flow here, reset
 * its state and resume it (through the service running now, also after a hot reload).
 */
function followRewinds(sup: Supervisor, logger: Logger): RewindAgent | undefined {
  const cluster = sup.config.global.kafka;
  if (!cluster) return undefined;
  const control: FlowControl = {
    pause: (flow) => sup.current.pause(flow),
    resume: (flow) => sup.current.resume(flow),
    resetState: (flow) => sup.current.resetState(flow),
  };
  const agent = new RewindAgent(createKafka(cluster, logger), sup.config.global.appId, control, logger, new Set(sup.config.flows.keys()));
  // In the background: the flows do not wait for the control topic, and a failure to read it stops no flow.
  agent.start().catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'rewind requests cannot be followed (the control topic is not readable); the flows run on'));
  return agent;
}

/**
 * Ends the process once its work is done. A client library may keep a socket open after it was told to
 * disconnect (kafkajs does, to a broker that was down), which would keep a finished service alive.
 */
function exit(code: number): void {
  process.exitCode = code;
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

main(process.argv.slice(2)).then((code) => {
  exit(code);
}, (err: unknown) => {
  if (err instanceof KisConfigErrors) {
    process.stderr.write(`kisflow: the config is not valid, nothing was started.\n${err.message}\n`);
    exit(1);
  } else if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`kisflow: ${errorMessage(err)}\n\n${USAGE}`);
    exit(2);
  } else if ((err as { code?: string }).code === 'KIS_ERR_USAGE') {
    // A subcommand's refusal (kisflow jobs …) carries its own usage text.
    process.stderr.write(`${errorMessage(err)}\n`);
    exit(2);
  } else if (isKisError(err)) {
    // A refusal with a code says what is wrong; a stack would only bury it.
    process.stderr.write(`kisflow: ${err.code}: ${err.message}\n`);
    exit(1);
  } else {
    process.stderr.write(`kisflow: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    exit(1);
  }
});
