// The shapes around a compiled flow: a step bound to its implementation and connector, what a flow needs
// from the runtime, and what one run takes and gives back.
import type { Logger } from 'pino';
import type * as t from 'io-ts';
import type { ConnConfig, FuncConfig } from '../config/model.js';
import type { Params, Position, Row } from '../kernel/types.js';
import type { Connector } from './connector.js';
import type { FaasHandler } from './context.js';
import type { DeadLetter, DeadLetterSink } from './dead-letter.js';
import type { FlowObserver } from './observer.js';
import type { CaasCall } from './pool.js';
import type { StateAccess } from './state.js';

export interface CompiledStep {
  readonly index: number;
  readonly func: FuncConfig;
  readonly params: Params;
  /** The FaaS, prepared for this step; absent only for Save/Load steps that use the connector's default call. */
  readonly handler: FaasHandler | undefined;
  readonly rowCodec: t.Decoder<unknown, unknown> | undefined;
  readonly caas: CaasCall | undefined;
  /** The connector config of a Save/Load step, and its runtime (absent when a CaaS serves the connector). */
  readonly conn: ConnConfig | undefined;
  readonly connector: Connector | undefined;
  /** A Load step that is fed by its connector's topic (the flow's first step, no source): no join. */
  readonly drivesFlow: boolean;
  readonly join: 'inner' | 'left';
  readonly joinAs: string | undefined;
  /** Load steps that join: how long a held row waits and a saved row matches (absent: no limit). */
  readonly joinWindowMs: number | undefined;
  /** Load steps that join: the store of held rows, and (co-partitioned joins) the store of saved rows. */
  readonly heldStore: string | undefined;
  readonly tableStore: string | undefined;
  /**
   * Load steps on storage (a lookup join with a dimension table): the stored rows under the keys, per
   * partition, batched and cached; absent for joins with a change feed.
   */
  readonly lookup: ((partition: number, keys: readonly string[]) => Promise<ReadonlyMap<string, Row>>) | undefined;
  /** The step's state store name (its fid) when the function keeps state. */
  readonly store: string | undefined;
  /** The runtime calls the step with no rows on every tick. */
  readonly ticks: boolean;
}

export interface FlowDeps {
  readonly deadLetters: DeadLetterSink;
  readonly observer: FlowObserver;
  readonly logger: Logger;
  /** Keyed state; absent: functions that use state fail with KIS_ERR_STATE. */
  readonly state?: StateAccess;
  readonly clock?: () => number;
  /** Co-partitioned joins: the partition count of the flow's joined topics, once known. */
  readonly joinPartitions?: (flowId: string) => number | undefined;
}

export interface RunOptions {
  /** One per row, when the rows come from a source. */
  readonly positions?: readonly (Position | undefined)[];
  readonly partition?: number;
  /** Start at this step (held join rows resume after their Load step). */
  readonly startAt?: number;
  /** The input has ended (finite runs): the call that lets functions emit what they hold. */
  readonly inputEnded?: boolean;
}

export interface RunResult {
  /** Rows committed by the last function that ran to completion (the flow's output). */
  readonly output: Row[];
  readonly outputPositions: (Position | undefined)[];
  readonly deadLetters: DeadLetter[];
  /** The fid of the function that stopped the run (Abort, no rows, a failure), or undefined when it ran to the end. */
  readonly stoppedAt: string | undefined;
  readonly stopReason: 'end' | 'abort' | 'no-rows' | 'failed' | 'held';
}
