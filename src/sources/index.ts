// Builds the configured sources: file, generator, stdin here; kafka and binlog through the factories the runtime passes in.
import type { FileSourceParamsT, GeneratorSourceParamsT, StdinSourceParamsT } from '../config/codecs.js';
import type { SourceConfig } from '../config/model.js';
import { KisError } from '../kernel/errors.js';
import { FileSource } from './file/file-source.js';
import { GeneratorSource } from './generator/generator-source.js';
import type { Source } from './source.js';
import { StdinSource } from './stdin/stdin-source.js';
import type { Readable } from 'node:stream';

export interface SourceEnv {
  readonly configDir: string;
  readonly stdin?: Readable;
  /** Builds a kafka source (the runtime supplies it when brokers are configured). */
  readonly kafka?: (sc: SourceConfig) => Source;
  /** Builds a binlog source (the runtime supplies it: the checkpoint store and election depend on the mode). */
  readonly binlog?: (sc: SourceConfig) => Source;
}

export function createSource(sc: SourceConfig, env: SourceEnv): Source {
  switch (sc.type) {
    case 'file':
      return new FileSource(sc.sid, sc.params as FileSourceParamsT, env.configDir);
    case 'generator':
      return new GeneratorSource(sc.sid, sc.params as GeneratorSourceParamsT);
    case 'stdin':
      return new StdinSource(sc.sid, sc.params as StdinSourceParamsT, env.stdin);
    case 'kafka':
      if (!env.kafka) throw new KisError('KIS_ERR_CONFIG_UNSUPPORTED', `source '${sc.sid}': a kafka source needs kafka.brokers in the global document`);
      return env.kafka(sc);
    case 'binlog':
      if (!env.binlog) throw new KisError('KIS_ERR_CONFIG_UNSUPPORTED', `source '${sc.sid}': this runtime does not build binlog sources`);
      return env.binlog(sc);
    default:
      throw new KisError('KIS_ERR_CONFIG_UNSUPPORTED', `source '${sc.sid}': type ${sc.type} is not in this build yet`);
  }
}

export type { Batch, BatchHandler, Source, Undecodable } from './source.js';
export { BinlogSource, type BinlogSourceOptions } from './binlog/binlog-source.js';
export { FileCheckpointStore, KafkaCheckpointStore, type Checkpoint, type CheckpointStore } from './binlog/checkpoint.js';
