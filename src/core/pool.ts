// The registry of function implementations (FaaS) and connector calls (CaaS), built at start-up and
// passed in; never a module singleton. Tests build their own.
import type * as t from 'io-ts';
import { KisError } from '../kernel/errors.js';
import type { Row } from '../kernel/types.js';
import type { FaasHandler, FlowContext } from './context.js';
import { JobHandlers, type JobHandler } from './job-handlers.js';
import { TypeRegistry, type ConnectorTypeSpec, type SourceTypeSpec } from './plugins.js';

export interface FaasOptions {
  /** io-ts codec every input row must match; rows that do not are rejected to the dead-letter sink. */
  readonly rowCodec?: t.Decoder<unknown, unknown>;
  /** io-ts codec for the merged params, checked when the flow is built (a bad param stops start-up). */
  readonly paramsCodec?: t.Decoder<unknown, unknown>;
  /** The function keeps keyed state (flow.state()) whether or not its func document declares option.state. */
  readonly state?: boolean;
  /** The runtime also calls the function with no rows on every tick (about once a second, per partition with state), so it can emit by time (windows closing). */
  readonly ticks?: boolean;
}

/** Writes rows to a topic, keyed by fields; resolves when the records are acknowledged. */
export interface TopicWriter {
  readonly topic: string;
  write(rows: readonly Row[], keyFields: readonly string[]): Promise<void>;
}

/** What a built-in gets when a flow step using it is built. */
export interface PrepareEnv {
  /** Names the flow step, for error messages. */
  readonly where: string;
  readonly configDir: string;
  /** Where print and the stdout sink write (the CLI: process.stdout; the test driver: memory). */
  readonly stdout: { write(text: string, cb: (err?: Error | null) => void): unknown };
  /** Register a flush/close to run when the service stops. */
  onClose(fn: () => Promise<void>): void;
  /** A writer to a topic of the service's transport (embedded log or Kafka); the topic is checked at start. */
  topic?(name: string): TopicWriter;
}

/** A built-in specializes itself to one flow step's params once, at build time (expressions compiled, files opened). */
export type Prepare = (params: Readonly<Record<string, unknown>>, env: PrepareEnv) => FaasHandler;

export interface FaasEntry extends FaasOptions {
  readonly name: string;
  readonly prepare: Prepare;
  readonly builtin: boolean;
}

/** What a CaaS call can do with its connector. */
export interface ConnectorHandle {
  readonly cid: string;
  readonly type: string;
  readonly addrs: readonly string[];
  readonly keyFields: readonly string[];
  readonly params: Readonly<Record<string, unknown>>;
}

/**
 * A CaaS: replaces the default connector call of a Save or Load function on one connector.
 * Save: write `rows` wherever it likes. Load: return the rows to hand on.
 */
export type CaasCall = (conn: ConnectorHandle, flow: FlowContext, rows: readonly Row[]) => void | Row[] | Promise<void | Row[]>;

export class KisPool {
  private readonly fns = new Map<string, FaasEntry>();
  private readonly calls = new Map<string, CaasCall>();
  /** Source and connector types (the built-in ones, and those function modules register). */
  readonly types = new TypeRegistry();
  /** Job handlers (kistype: job with runs: { handler }), registered by function modules. */
  readonly jobHandlers = new JobHandlers();

  /** Register a job handler: a job document's `runs: { handler: <name> }` then runs it. */
  jobHandler(name: string, handler: JobHandler): this {
    const err = this.jobHandlers.register(name, handler);
    if (err) throw err;
    return this;
  }

  /** Register a source type: `type: <name>` in a kistype: source document then builds its sources. */
  sourceType<P>(spec: SourceTypeSpec<P>): this {
    this.types.sourceType(spec);
    return this;
  }

  /** Register a connector type: `type: <name>` in a kistype: conn document then builds its connectors. */
  connectorType<P>(spec: ConnectorTypeSpec<P>): this {
    this.types.connectorType(spec);
    return this;
  }

  /** Register a function implementation under `name` (the fname configs refer to). */
  faas(name: string, handler: FaasHandler, opts: FaasOptions = {}): this {
    if (typeof handler !== 'function') {
      throw new KisError('KIS_ERR_POOL_INVALID', `function '${name}' must be registered with a handler function, got ${typeof handler}`);
    }
    return this.register(name, () => handler, opts, false);
  }

  /** For the project's built-ins (kis.*): specialized per flow step by `prepare`. */
  builtin(name: string, prepare: Prepare, opts: FaasOptions = {}): this {
    return this.register(name, prepare, opts, true);
  }

  /** Register the connector call a Save/Load function `fname` makes on connector `cid`. */
  caas(cid: string, fname: string, call: CaasCall): this {
    const key = `${cid}\u0000${fname}`;
    if (this.calls.has(key)) {
      throw new KisError('KIS_ERR_POOL_DUPLICATE', `CaaS for function '${fname}' on connector '${cid}' is registered twice`);
    }
    this.calls.set(key, call);
    return this;
  }

  getFaas(name: string): FaasEntry | undefined {
    return this.fns.get(name);
  }

  getCaas(cid: string, fname: string): CaasCall | undefined {
    return this.calls.get(`${cid}\u0000${fname}`);
  }

  faasNames(): string[] {
    return [...this.fns.keys()];
  }

  private register(name: string, prepare: Prepare, opts: FaasOptions, builtin: boolean): this {
    if (typeof name !== 'string' || name.length === 0) {
      throw new KisError('KIS_ERR_POOL_INVALID', 'a function must be registered under a non-empty name');
    }
    const prior = this.fns.get(name);
    if (prior) {
      throw new KisError('KIS_ERR_POOL_DUPLICATE',
        `function '${name}' is registered twice${prior.builtin ? ' (it is a built-in name; pick another)' : ''}`);
    }
    this.fns.set(name, { name, prepare, builtin, ...opts });
    return this;
  }
}
