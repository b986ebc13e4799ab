// A flow compiled from config: its steps, each bound to an implementation and maybe a connector.
// A flow holds no per-batch state: every run() builds its own Run object, so one flow serves
// any number of partitions at once (the Go original needed Fork() for that; here fork() is cheap).
import pRetry from 'p-retry';
import type { FlowConfig } from '../config/model.js';
import { errorMessage, isKisError, isRetriable, KisError, type KisErrorCode } from '../kernel/errors.js';
import { checkRowLimits, DEFAULT_ROW_LIMITS } from '../kernel/limits.js';
import { partitionForKey } from '../kernel/partitioner.js';
import type { Position, Row } from '../kernel/types.js';
import { mergeActions, type Action } from './actions.js';
import { boundedRow, findFailingRows } from './bisect.js';
import { missingKeyFields } from './connector.js';
import type { CompiledStep, FlowDeps, RunOptions, RunResult } from './flow-types.js';
import { joinOrHold, type HeldRow, type TableRow } from './join.js';
import { lookupJoin } from './lookup-join.js';
import type { KeyedState } from './state.js';
import { handleOf, Run, StepContext, type Positions } from './step-context.js';
import { checkInput, joinRefusals, type Refusal } from './step-input.js';

/** Jumps allowed in one run, per step of the flow, before the run is judged an endless loop. */
export const JUMPS_PER_STEP = 100;

export type { CompiledStep, FlowDeps, RunOptions, RunResult } from './flow-types.js';

export class Flow {
  private readonly indexOf: ReadonlyMap<string, number>;

  constructor(
    readonly config: FlowConfig,
    readonly steps: readonly CompiledStep[],
    private readonly deps: FlowDeps,
  ) {
    this.indexOf = new Map(steps.map((s) => [s.func.fid, s.index]));
  }

  get id(): string { return this.config.id; }
  get enabled(): boolean { return this.config.enabled; }

  /** A flow with the same config and steps and no shared state (there is none to share). */
  fork(): Flow {
    return new Flow(this.config, this.steps, this.deps);
  }

  async run(rows: readonly Row[], opts: RunOptions = {}): Promise<RunResult> {
    const run = new Run(opts.inputEnded === true);
    const partition = opts.partition ?? 0;
    const started = performance.now();
    // Held join rows resuming after their Load step were counted when they first entered.
    this.deps.observer.flowStarted(this.config.id, this.config.name, opts.startAt ? 0 : rows.length);
    // Each step's rows travel with their positions, index by index (none tracked when the rows have none).
    let { rows: input, positions: inputPos } = this.withinLimits(run, rows, opts.positions);
    // Whether `input` (and its positions) are arrays this run made, which the result may take as they are.
    let owned = false;
    let i = opts.startAt ?? 0;
    let stoppedAt: string | undefined;
    let stopReason: RunResult['stopReason'] = 'end';
    const maxJumps = JUMPS_PER_STEP * Math.max(1, this.steps.length);

    while (i < this.steps.length) {
      const step = this.steps[i]!;
      const outcome = await this.runStep(run, step, input, inputPos, partition);
      if (outcome.kind === 'failed') {
        stoppedAt = step.func.fid;
        stopReason = 'failed';
        input = [];
        inputPos = undefined;
        break;
      }
      const action = mergeActions(outcome.actions);
      let out: readonly Row[];
      let outPos: Positions | undefined;
      if (action.dataReuse) {
        out = outcome.passedInput ?? input;
        outPos = outcome.passedInput ? outcome.passedPositions : inputPos;
        if (outcome.passedInput) owned = true;
      } else {
        out = outcome.rows;
        outPos = inputPos === undefined ? undefined : outcome.positions;
        owned = true;
      }
      if (out.length === 0 && !action.forceEntryNext) {
        stoppedAt = step.func.fid;
        stopReason = outcome.held > 0 ? 'held' : 'no-rows';
        input = out;
        inputPos = outPos;
        break;
      }
      if (action.jumpFunc !== undefined) {
        const target = this.indexOf.get(action.jumpFunc);
        const jumpError = target === undefined
          ? new KisError('KIS_ERR_JUMP_UNKNOWN', `function '${step.func.fid}' jumped to '${action.jumpFunc}', which is not a step of flow '${this.config.id}'`)
          : ++run.jumps > maxJumps
            ? new KisError('KIS_ERR_JUMP_LOOP', `flow '${this.config.id}' jumped ${run.jumps - 1} times in one run (limit ${maxJumps}); last jump from '${step.func.fid}' to '${action.jumpFunc}'`)
            : undefined;
        if (jumpError) {
          this.deadLetter(run, out, outPos, step, jumpError, 1);
          stoppedAt = step.func.fid;
          stopReason = 'failed';
          input = [];
          inputPos = undefined;
          break;
        }
        i = target!;
      } else {
        i++;
      }
      input = out;
      inputPos = outPos;
      if (action.abort) {
        stoppedAt = step.func.fid;
        stopReason = 'abort';
        break;
      }
    }

    if (run.deadLetters.length > 0) {
      await this.deps.deadLetters.write(this.config.id, this.config.deadLetterTopic, run.deadLetters);
    }
    this.deps.observer.flowFinished(this.config.id, this.config.name, performance.now() - started);
    const reachedEnd = stopReason === 'end' || stopReason === 'abort';
    // Copies only when the arrays may be the caller's own (rows passed on unchanged to the end).
    const output = reachedEnd ? owned ? input as Row[] : input.slice() : [];
    return {
      output,
      outputPositions: reachedEnd && inputPos !== undefined ? owned ? inputPos as (Position | undefined)[] : inputPos.slice() : output.map(() => undefined),
      deadLetters: run.deadLetters,
      stoppedAt,
      stopReason,
    };
  }

  /** The saved row a join step's key matches now: its co-partitioned table store, or the connector's table, within the window. */
  lookup(step: CompiledStep, partition: number): (key: string) => Row | undefined {
    if (step.tableStore !== undefined) {
      const table = this.stateOf(step.tableStore, partition) as KeyedState<TableRow>;
      return (key) => table.get(key)?.r;
    }
    const feed = step.connector!.feed!;
    const window = step.joinWindowMs;
    const now = this.now();
    return (key) => {
      const saved = feed.lookup(key);
      if (!saved || (window !== undefined && saved.at + window <= now)) return undefined;
      return saved.row;
    };
  }

  stateOf(store: string, partition: number): KeyedState {
    if (!this.deps.state) throw new KisError('KIS_ERR_STATE', `flow '${this.config.id}' needs keyed state, and none was given to it`);
    return this.deps.state.store(this.config.id, store, partition);
  }

  now(): number {
    return (this.deps.clock ?? Date.now)();
  }

  private async runStep(run: Run, step: CompiledStep, input: readonly Row[], inputPos: Positions | undefined, partition: number): Promise<
    // passedInput: after a bisection, the input rows whose parts passed (what DataReuse hands on), with their positions.
    | { kind: 'ok'; rows: Row[]; positions: Positions; actions: Action[]; held: number; passedInput: Row[] | undefined; passedPositions: Positions | undefined }
    | { kind: 'failed' }
  > {
    const t0 = performance.now();
    const func = step.func;
    const dlBefore = run.deadLetters.length;
    let rejected = 0;

    // 1. source.must and the row codec: failing rows are rejected, the rest go on.
    const checked = checkInput(step, input, inputPos);
    let rows = checked.rows;
    let rowsPos = checked.positions;
    for (const r of checked.refused) { this.refuse(run, step, r); rejected++; }

    // 2. A Load step that is not fed by its own topic joins its rows with what other flows saved.
    let held = 0;
    if (step.heldStore !== undefined && step.connector) {
      let joined;
      try {
        const state = this.stateOf(step.heldStore, partition) as KeyedState<HeldRow[]>;
        const count = step.tableStore !== undefined ? this.deps.joinPartitions?.(this.config.id) : undefined;
        const home = count !== undefined ? (key: string) => partitionForKey(key, count) : undefined;
        joined = joinOrHold(rows, rowsPos ?? [], (r) => step.connector!.keyOf(r), this.lookup(step, partition), state, this.now(), step.joinAs, home, partition);
      } catch (err) {
        this.deadLetter(run, rows, rowsPos, step, isKisError(err) ? err : new KisError('KIS_ERR_STATE', errorMessage(err)), 1);
        this.report(run, step, input.length, 0, rejected, dlBefore, t0);
        return { kind: 'failed' };
      }
      for (const r of joinRefusals(step, joined, partition, positionsByRow(rows, rowsPos))) { this.refuse(run, step, r); rejected++; }
      held = joined.held;
      rows = joined.rows;
      rowsPos = rowsPos === undefined ? undefined : joined.positions;
    }

    // 2b. A Load step on storage looks the rows' keys up, in one call per batch (through a bounded cache).
    if (step.lookup && step.connector) {
      let looked;
      try {
        // An unreachable store is waited for inside the lookup (readiness false meanwhile); what throws here is not an outage.
        looked = await lookupJoin(step, rows, rowsPos, partition);
      } catch (err) {
        this.deadLetter(run, rows, rowsPos, step, isKisError(err) ? err : new KisError('KIS_ERR_CONNECTOR', `lookup through connector '${func.cid}' failed: ${errorMessage(err)}`), 1);
        this.report(run, step, input.length, 0, rejected, dlBefore, t0);
        return { kind: 'failed' };
      }
      for (const r of looked.refused) {
        this.refuse(run, step, r);
        if (r.code === 'KIS_ERR_ROW_MISSING_FIELD') rejected++;
      }
      rows = looked.rows;
      rowsPos = rowsPos === undefined ? undefined : looked.positions;
    }

    // 3. The function itself, retried as its option says.
    const ctx = new StepContext(run, this.config, step, rows, rowsPos, partition, this.deps.logger, this.deps);
    let attempts = 0;
    let passedInput: Row[] | undefined;
    let passedPositions: (Position | undefined)[] | undefined;
    try {
      if (func.retryTimes === 0) {
        attempts = 1;
        await this.call(step, ctx, rows);
      } else {
        await pRetry(async () => {
          attempts++;
          ctx.reset();
          await this.call(step, ctx, rows);
        }, {
          retries: func.retryTimes,
          minTimeout: func.retryDuration,
          factor: 2,
          randomize: false,
          shouldRetry: ({ error }) => isRetriable(error),
          onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
            if (retriesLeft > 0 && isRetriable(error)) {
              this.deps.logger.warn({ flow: this.config.id, fn: func.fid, partition, attempt: attemptNumber, err: errorMessage(error) }, 'function failed, retrying');
            }
          },
        });
      }
    } catch (err) {
      const error = this.asError(step, err);
      const log = { flow: this.config.id, fn: func.fid, partition, rows: rows.length, attempts, code: error.code };
      // One bad row must not take its neighbours down: the call's rows are retried in halves to find it.
      const found = await findFailingRows(rows, error, (sub, start) => this.attempt(run, step, sub, rowsPos?.slice(start, start + sub.length), partition));
      if (found === undefined || found.passed.length === 0) {
        this.deadLetter(run, rows, rowsPos, step, error, attempts);
        this.deps.logger.error(log, `${error.message}; rows sent to the dead-letter sink`);
        this.report(run, step, input.length, 0, rejected, dlBefore, t0);
        return { kind: 'failed' };
      }
      for (const f of found.failed) {
        this.deadLetterRow(run, f.row, rowsPos?.[f.index], step, { code: f.error.code, message: `${f.error.message} (this row fails alone; the other rows of its call went on)` }, attempts + 1);
      }
      this.deps.logger.error({ ...log, failed: found.failed.length, calls: found.calls },
        `${error.message}; retried in halves: ${found.failed.length} of ${rows.length} rows fail and were sent to the dead-letter sink, the others went on`);
      ctx.reset();
      passedInput = [];
      passedPositions = [];
      for (const sub of found.passed) {
        ctx.absorb(sub);
        for (let k = 0; k < sub.input.length; k++) {
          passedInput.push(sub.input[k]!);
          passedPositions.push(sub.inputPositions?.[k]);
        }
      }
    }

    for (const { row, reason, position } of ctx.rejected) {
      this.deadLetterRow(run, row, position, step, { code: 'KIS_ERR_ROW_REJECTED', message: `rejected by '${func.fid}': ${reason}` }, attempts);
      rejected++;
    }
    this.report(run, step, input.length, ctx.committed.length, rejected, dlBefore, t0);
    return { kind: 'ok', rows: ctx.committed, positions: ctx.positions, actions: ctx.actions, held, passedInput, passedPositions };
  }

  /** One attempt of the step on some of its rows, in a context of their own (bisection). */
  private async attempt(run: Run, step: CompiledStep, rows: readonly Row[], positions: Positions | undefined, partition: number): Promise<StepContext> {
    const sub = new StepContext(run, this.config, step, rows, positions, partition, this.deps.logger, this.deps);
    try {
      await this.call(step, sub, rows);
    } catch (err) {
      throw this.asError(step, err);
    }
    return sub;
  }

  private asError(step: CompiledStep, err: unknown): KisError {
    if (isKisError(err)) return err;
    return new KisError('KIS_ERR_FUNCTION_FAILED', `function '${step.func.fid}' (${step.func.fname}) failed: ${errorMessage(err)}`, { cause: err });
  }

  private async call(step: CompiledStep, ctx: StepContext, rows: readonly Row[]): Promise<void> {
    const func = step.func;
    if (func.mode === 'Load' && step.caas) {
      const loaded = await step.caas(handleOf(step), ctx, rows);
      const base = Array.isArray(loaded) ? loaded : rows;
      if (step.handler) await step.handler(ctx, base);
      else ctx.commitRows(base);
      ctx.settle();
      return;
    }
    if (step.handler) await step.handler(ctx, rows);
    else for (const r of rows) ctx.commitRow(r, r);
    // Rows committed without `from` get their positions now, before a Save writes them with their lineage.
    ctx.settle();

    if (func.mode === 'Save') {
      const reuse = mergeActions(ctx.actions).dataReuse === true;
      // A row without the connector's key fields cannot be keyed: rejected with the reason, never saved half-keyed.
      const keyFields = step.conn?.key ?? [];
      const keep = (r: Row, position: Position | undefined): boolean => {
        // The usual case (every key field there) allocates nothing; the list of missing fields only for a rejection.
        let complete = true;
        for (let f = 0; f < keyFields.length; f++) {
          const v = r[keyFields[f]!];
          if (v === undefined || v === null) { complete = false; break; }
        }
        if (complete) return true;
        const missing = missingKeyFields(r, keyFields);
        ctx.rejectAt(r, `lacks key field${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of connector '${func.cid}'`, position);
        return false;
      };
      let toSave: Row[];
      let positions: (Position | undefined)[];
      if (reuse) {
        toSave = [];
        positions = [];
        for (let k = 0; k < rows.length; k++) {
          const p = ctx.inputPositions?.[k];
          if (keep(rows[k]!, p)) { toSave.push(rows[k]!); positions.push(p); }
        }
      } else {
        // Compacted in place: the kept rows and their positions stay paired, with no object per row.
        const { committed } = ctx;
        positions = ctx.positions;
        const tracked = ctx.inputPositions !== undefined;
        let w = 0;
        for (let k = 0; k < committed.length; k++) {
          const r = committed[k]!;
          if (!keep(r, positions[k])) continue;
          committed[w] = r;
          if (tracked) positions[w] = positions[k];
          w++;
        }
        ctx.keepFirst(w);
        toSave = committed;
      }
      if (step.caas) await step.caas(handleOf(step), ctx, toSave);
      else if (step.connector?.writer) {
        await step.connector.writer.save(toSave, ctx.inputPositions !== undefined ? positions : toSave.map(() => undefined), { flow: this.config.id, fn: func.fid })
          .catch((err: unknown) => {
            throw isKisError(err) ? err : new KisError('KIS_ERR_CONNECTOR', `save through connector '${func.cid}' failed: ${errorMessage(err)}`, { cause: err, retriable: isRetriable(err) });
          });
      }
    }
  }

  /**
   * Rows past a bound of limits: go to the dead-letter sink here, where they enter the flow, so no function,
   * sink or connector sees them. The walk is iterative: a row nested 100,000 deep cannot overflow it.
   */
  private withinLimits(run: Run, rows: readonly Row[], positions: Positions | undefined): { rows: readonly Row[]; positions: Positions | undefined } {
    const limits = this.config.limits ?? DEFAULT_ROW_LIMITS;
    let kept: Row[] | undefined;
    let keptPos: (Position | undefined)[] | undefined;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      const breach = checkRowLimits(row, limits);
      if (breach === undefined) {
        if (kept) {
          kept.push(row);
          keptPos?.push(positions![i]);
        }
        continue;
      }
      if (!kept) {
        kept = rows.slice(0, i);
        keptPos = positions?.slice(0, i);
      }
      this.deadLetterRow(run, row, positions?.[i], undefined, { code: 'KIS_ERR_ROW_LIMIT', message: `${breach.message}: dead-lettered before any function of flow '${this.config.id}'` }, 0);
    }
    if (kept && kept.length < rows.length) {
      this.deps.logger.warn({ flow: this.config.id, rows: rows.length - kept.length, code: 'KIS_ERR_ROW_LIMIT' }, 'rows past the row limits were dead-lettered where they entered the flow');
    }
    return kept ? { rows: kept, positions: keptPos } : { rows, positions };
  }

  private refuse(run: Run, step: CompiledStep, r: Refusal): void {
    this.deadLetterRow(run, r.row, r.position, step, r, 0);
  }

  private deadLetter(run: Run, rows: readonly Row[], positions: Positions | undefined, step: CompiledStep | undefined, err: { code: KisErrorCode; message: string }, attempts: number): void {
    for (let k = 0; k < rows.length; k++) this.deadLetterRow(run, rows[k]!, positions?.[k], step, err, attempts);
  }

  private deadLetterRow(run: Run, row: Row, position: Position | undefined, step: CompiledStep | undefined, err: { code: KisErrorCode; message: string }, attempts: number): void {
    run.deadLetters.push({
      // A dead letter can always be written: a row past the limits travels as a described placeholder.
      row: boundedRow(row, this.config.limits ?? DEFAULT_ROW_LIMITS),
      code: err.code,
      message: err.message,
      flow: this.config.id,
      fn: step?.func.fid ?? '',
      position,
      attempts,
      at: run.now(),
    });
  }

  private report(run: Run, step: CompiledStep, rowsIn: number, rowsOut: number, rejected: number, dlBefore: number, t0: number): void {
    this.deps.observer.funcFinished(this.config.id, this.config.name, step.func.fid, step.func.mode, {
      rowsIn, rowsOut, rejected, deadLettered: run.deadLetters.length - dlBefore, ms: performance.now() - t0,
    });
  }
}

/** A row's position among `rows` (for the few rows a step refuses after its input was checked). */
function positionsByRow(rows: readonly Row[], positions: Positions | undefined): (row: Row) => Position | undefined {
  if (positions === undefined) return () => undefined;
  let byRow: Map<Row, Position | undefined> | undefined;
  return (row) => {
    if (byRow === undefined) {
      byRow = new Map();
      for (let k = rows.length - 1; k >= 0; k--) byRow.set(rows[k]!, positions[k]);
    }
    return byRow.get(row);
  };
}
