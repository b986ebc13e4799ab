// Source types and connector types are plugins: each declares its params codec (validation, JSON Schema,
// reference docs), its cross-checks and a factory that receives an explicit environment. The built-in
// types register through the same calls a user's function module makes (pool.sourceType / pool.connectorType),
// so the core never switches on a type name (Redpanda Connect's ConfigSpec + Environment).
import type { Readable } from 'node:stream';
import type * as t from 'io-ts';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import type { ConnConfig, KisConfig, SourceConfig } from '../config/model.js';
import { KisError } from '../kernel/errors.js';
import type { Connector } from './connector.js';
import type { DeadLetterSink } from './dead-letter.js';
import type { Source, SourceObserver } from './source.js';

/** A problem a type's own check found in one document: the path is relative to the document (e.g. ['params', 'start']). */
export interface TypeIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

interface TypeSpecBase<P> {
  /** The `type:` value documents use. */
  readonly name: string;
  /** One line for the reference docs. */
  readonly description: string;
  /** The codec of `params` (a closed() codec: unknown keys are errors). */
  readonly params: t.Decoder<unknown, P>;
}

/** What every type's factory gets from the runtime: nothing is reached through globals. */
export interface TypeEnv {
  readonly config: KisConfig;
  readonly logger: Logger;
  readonly clock: () => number;
  /** The Kafka cluster of the global document, in Kafka mode; `addrs` gives a client for other brokers. */
  readonly kafka?: (addrs?: readonly string[]) => Kafka;
}

export interface SourceEnv extends TypeEnv {
  readonly observer?: SourceObserver;
  readonly stdin?: Readable;
  /** Topics that flows fed by this source join co-partitioned: a Kafka source reads them in the same group. */
  readonly coPartitionedTopics: readonly string[];
  /** Called with this member's partitions after each rebalance (state is restored and let go by it). */
  readonly onAssigned: (assignment: Readonly<Record<string, readonly number[]>>) => void;
  /** Before positions of this partition are committed: flushes what must be durable first; false: do not commit them. */
  readonly beforeCommit?: (partition: number) => Promise<boolean>;
}

export interface SourceTypeSpec<P = unknown> extends TypeSpecBase<P> {
  /** Checks beyond the codec (across fields, addrs, the global document). */
  check?(params: P, sc: SourceConfig, config: KisConfig): TypeIssue[];
  /**
   * The partitions of what the source produces, which state changelogs of the flows it feeds must have:
   * a count, or the topics whose counts to take (Kafka mode). Default: 1.
   */
  partitions?(params: P, sc: SourceConfig, config: KisConfig): number | { readonly like: readonly string[] };
  /** True when every batch comes from a Kafka topic partition (the flows it feeds can join co-partitioned). */
  kafkaFed?(config: KisConfig): boolean;
  create(sc: SourceConfig, params: P, env: SourceEnv): Source;
}

export interface ConnectorEnv extends TypeEnv {
  /** Where rows a store refuses go (the flow's dead-letter topic). */
  readonly deadLetters: DeadLetterSink;
  /** A connector over a topic of the runtime's transport (the embedded log, or the Kafka cluster). */
  readonly topicConnector: (conn: ConnConfig) => Connector;
}

export interface ConnectorTypeSpec<P = unknown> extends TypeSpecBase<P> {
  check?(params: P, conn: ConnConfig, config: KisConfig): TypeIssue[];
  create(conn: ConnConfig, params: P, env: ConnectorEnv): Connector;
}

/** The source and connector types of one service, built at start-up and passed in. */
export class TypeRegistry {
  private readonly sources = new Map<string, SourceTypeSpec>();
  private readonly connectors = new Map<string, ConnectorTypeSpec>();

  sourceType<P>(spec: SourceTypeSpec<P>): this {
    return this.add(this.sources, 'source', spec as SourceTypeSpec);
  }

  connectorType<P>(spec: ConnectorTypeSpec<P>): this {
    return this.add(this.connectors, 'connector', spec as ConnectorTypeSpec);
  }

  source(name: string): SourceTypeSpec | undefined {
    return this.sources.get(name);
  }

  connector(name: string): ConnectorTypeSpec | undefined {
    return this.connectors.get(name);
  }

  sourceNames(): string[] {
    return [...this.sources.keys()];
  }

  connectorNames(): string[] {
    return [...this.connectors.keys()];
  }

  private add<S extends { name: string; params: unknown; create: unknown }>(into: Map<string, S>, kind: string, spec: S): this {
    if (typeof spec?.name !== 'string' || spec.name.length === 0 || typeof spec.create !== 'function' || spec.params === undefined) {
      throw new KisError('KIS_ERR_POOL_INVALID', `a ${kind} type needs a name, a params codec and a create function`);
    }
    if (into.has(spec.name)) throw new KisError('KIS_ERR_POOL_DUPLICATE', `${kind} type '${spec.name}' is registered twice`);
    into.set(spec.name, spec);
    return this;
  }
}
