// The single spec of the YAML contract. These io-ts codecs are the TypeScript types (t.TypeOf),
// the validator, and the source of the JSON Schemas in schemas/ (scripts/gen-schemas.ts). Each kistype's
// codecs live with its loader in kinds/; this module gathers them for the schema generator and other folders.
import type * as t from 'io-ts';
import { ConnCodec, type KafkaConnParamsCodec } from './kinds/conn.js';
import { FlowCodec } from './kinds/flow.js';
import { JobCodec } from './jobs/codec.js';
import { FuncCodec } from './kinds/func.js';
import { GlobalCodec } from './kinds/global.js';
import { type BinlogSourceParams, type FileSourceParams, type GeneratorSourceParams, type KafkaSourceParams, SourceCodec, type StdinSourceParams } from './kinds/source.js';
import type { Unbranded } from './primitives.js';

export * from './primitives.js';
export { GlobalCodec, KafkaClusterCodec, KafkaSaslCodec, KafkaTlsCodec, LimitsCodec, type GlobalDoc } from './kinds/global.js';
export { FuncCodec, FuncOptionCodec, FuncSourceCodec, FuncStateCodec, LoadStepParams, type FuncDoc } from './kinds/func.js';
export { DeadLetterCodec, FlowCodec, FlowStepCodec, type FlowDoc } from './kinds/flow.js';
export { ConnCodec, CONN_PARAMS_CODECS, KafkaConnParamsCodec, type ConnDoc } from './kinds/conn.js';
export {
  BinlogSourceParams, BinlogTlsCodec, FileSourceParams, GeneratorSourceParams, KafkaSourceParams, SourceCodec, SourceType,
  SOURCE_PARAMS_CODECS, StdinSourceParams, type SourceDoc,
} from './kinds/source.js';

export type FileSourceParamsT = Unbranded<t.TypeOf<typeof FileSourceParams>>;
export type GeneratorSourceParamsT = Unbranded<t.TypeOf<typeof GeneratorSourceParams>>;
export type StdinSourceParamsT = Unbranded<t.TypeOf<typeof StdinSourceParams>>;
export type KafkaConnParamsT = Unbranded<t.TypeOf<typeof KafkaConnParamsCodec>>;
export type KafkaSourceParamsT = Unbranded<t.TypeOf<typeof KafkaSourceParams>>;
export type BinlogSourceParamsT = Unbranded<t.TypeOf<typeof BinlogSourceParams>>;

/** One codec per kistype, typed (tests, tools); the loader and the generators walk kinds/index.ts's KINDS. */
export const KISTYPE_CODECS = {
  global: GlobalCodec,
  source: SourceCodec,
  flow: FlowCodec,
  func: FuncCodec,
  conn: ConnCodec,
  job: JobCodec,
} as const;
export type KisType = keyof typeof KISTYPE_CODECS;
