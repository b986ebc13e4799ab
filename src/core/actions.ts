// What a function tells its flow to do next, as in the Go original: ctx.next(DataReuse, ForceEntryNext).

export interface Action {
  /** Stop this flow for this batch after the current function. */
  readonly abort?: true;
  /** Pass this function's input on unchanged (what it committed is discarded). */
  readonly dataReuse?: true;
  /** Go on to the next function even when no rows were committed. */
  readonly forceEntryNext?: true;
  /** Go to the named function (a fid of this flow) with this function's output. */
  readonly jumpFunc?: string;
}

export const Abort: Action = Object.freeze({ abort: true });
export const DataReuse: Action = Object.freeze({ dataReuse: true });
export const ForceEntryNext: Action = Object.freeze({ forceEntryNext: true });
export function JumpFunc(fid: string): Action {
  return Object.freeze({ jumpFunc: fid });
}

export function mergeActions(actions: readonly Action[]): Action {
  return Object.assign({}, ...actions) as Action;
}
