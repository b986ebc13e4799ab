// kistype: source, type: generator — rows made from a template: string values written '{{ expr }}' are
// JSONata expressions over { seq } (bound as $seq), everything else is copied. count ends it; rate paces it.
import type { GeneratorSourceParamsT } from '../../config/codecs.js';
import { keyFields } from '../../config/model.js';
import { recordKey } from '../../core/connector.js';
import { compileExpression, type CompiledExpression } from '../../kernel/expression.js';
import type { Position, Row } from '../../kernel/types.js';
import { partitionForKey } from '../../kernel/partitioner.js';
import { DEFAULT_BATCH_SIZE } from '../file/file-source.js';
import { batchOf, type BatchHandler, type Source } from '../../core/source.js';

type Template = (seq: number) => Promise<unknown> | unknown;

const EXPR = /^\{\{([\s\S]*)\}\}$/;

/** Compiles a template value once into a function of the sequence number. */
export function compileTemplate(value: unknown, where: string): Template {
  if (typeof value === 'string') {
    const m = EXPR.exec(value.trim());
    if (!m) return () => value;
    const expr: CompiledExpression = compileExpression(m[1]!.trim(), where);
    return (seq) => expr.evaluate({ seq }, { seq });
  }
  if (Array.isArray(value)) {
    const items = value.map((v, i) => compileTemplate(v, `${where}[${i}]`));
    return async (seq) => Promise.all(items.map((f) => f(seq)));
  }
  if (value && typeof value === 'object') {
    const fields = Object.entries(value).map(([k, v]) => [k, compileTemplate(v, `${where}.${k}`)] as const);
    return async (seq) => {
      const out: Row = {};
      for (const [k, f] of fields) out[k] = await f(seq);
      return out;
    };
  }
  return () => value;
}

export class GeneratorSource implements Source {
  readonly finite: boolean;
  private readonly template: Template;
  private readonly key: string[];

  constructor(readonly id: string, private readonly params: GeneratorSourceParamsT) {
    this.finite = params.count !== undefined;
    this.template = compileTemplate(params.template, `source '${id}' params.template`);
    this.key = keyFields(params.key);
  }

  async run(handle: BatchHandler, signal: AbortSignal): Promise<void> {
    const count = this.params.count ?? Number.POSITIVE_INFINITY;
    const partitions = this.params.partitions ?? 1;
    const rate = this.params.rate;
    // With a rate, small batches keep the pace smooth (about 20 hand-offs a second).
    const batchSize = Math.min(this.params.batch_size ?? DEFAULT_BATCH_SIZE, rate ? Math.max(1, Math.ceil(rate / 20)) : Number.POSITIVE_INFINITY);
    const started = Date.now();
    let seq = 0;
    while (seq < count && !signal.aborted) {
      const n = Math.min(batchSize, count - seq);
      const byPartition = new Map<number, { rows: Row[]; positions: Position[] }>();
      for (let i = 0; i < n; i++, seq++) {
        const row = (await this.template(seq)) as Row;
        const key = recordKey(row, this.key);
        const partition = partitions > 1 && key !== undefined ? partitionForKey(key, partitions) : 0;
        const slot = byPartition.get(partition) ?? { rows: [], positions: [] };
        slot.rows.push(row);
        slot.positions.push({ source: this.id, partition, offset: String(seq) });
        byPartition.set(partition, slot);
      }
      await Promise.all([...byPartition].map(([p, s]) => handle(batchOf(this.id, p, s.rows, s.positions))));
      if (rate) {
        const due = started + (seq / rate) * 1000;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    }
  }
}
