// What a flow reports while it runs. Injected: the runtime hands in a Prometheus-backed one,
// tests and the driver a plain one; the engine never asks whether metrics are on.
import type { FullMode } from '../config/codecs.js';

export interface FuncStats {
  readonly rowsIn: number;
  readonly rowsOut: number;
  readonly rejected: number;
  readonly deadLettered: number;
  readonly ms: number;
}

export interface FlowObserver {
  flowStarted(flowId: string, flowName: string, rows: number): void;
  funcFinished(flowId: string, flowName: string, fid: string, mode: FullMode, stats: FuncStats): void;
  flowFinished(flowId: string, flowName: string, ms: number): void;
  /** Rows written to a flow's dead-letter sink (by any function, or before any: undecodable records). */
  deadLettered?(flowId: string, code: string, rows: number): void;
}

export const NO_OBSERVER: FlowObserver = {
  flowStarted() {},
  funcFinished() {},
  flowFinished() {},
};
