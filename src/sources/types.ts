// The built-in source types, registered through the same call a user's function module makes.
import type { TypeRegistry } from '../core/plugins.js';
import { binlogSourceType } from './binlog/index.js';
import { fileSourceType } from './file/index.js';
import { generatorSourceType } from './generator/index.js';
import { kafkaSourceType } from './kafka/index.js';
import { stdinSourceType } from './stdin/index.js';

export function registerSourceTypes(types: TypeRegistry): TypeRegistry {
  return types
    .sourceType(fileSourceType)
    .sourceType(generatorSourceType)
    .sourceType(stdinSourceType)
    .sourceType(kafkaSourceType)
    .sourceType(binlogSourceType);
}

export type { Batch, BatchHandler, Source, Undecodable } from '../core/source.js';
export { BinlogSource, type BinlogSourceOptions } from './binlog/binlog-source.js';
export { FileCheckpointStore, KafkaCheckpointStore, type Checkpoint, type CheckpointStore } from './binlog/checkpoint.js';
