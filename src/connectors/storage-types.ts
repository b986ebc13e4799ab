// The storage connector types: each its params codec and a factory that binds the driver to the runtime.
import type { ConnectorTypeSpec } from '../core/plugins.js';
import type { ConnConfig } from '../config/model.js';
import type { StorageConnector, StorageEnv } from '../core/storage.js';
import type { ConnectorEnv } from '../core/plugins.js';
import { createMysqlConnector, MysqlConnParamsCodec, type MysqlConnParams } from './mysql/index.js';
import { createPostgresConnector, PostgresConnParamsCodec, type PostgresConnParams } from './postgres/index.js';
import { createRedisConnector, RedisConnParamsCodec, type RedisConnParams } from './redis/index.js';
import { createSqliteConnector, SqliteConnParamsCodec, type SqliteConnParams } from './sqlite/index.js';
import { bindStorage } from './storage-binding.js';

function storageEnv(env: ConnectorEnv): StorageEnv {
  return { appId: env.config.global.appId, configDir: env.config.dataDir, logger: env.logger, clock: env.clock };
}

/** A storage type: its driver's factory, bound to the runtime. */
function storageType<P>(name: string, description: string, params: ConnectorTypeSpec<P>['params'],
  driver: (conn: ConnConfig, params: P, env: StorageEnv) => StorageConnector): ConnectorTypeSpec<P> {
  return { name, description, params, create: (conn, p, env) => bindStorage(conn, driver(conn, p, storageEnv(env)), env) };
}

export const redisConnectorType = storageType<RedisConnParams>('redis',
  'Redis (one address) or a Redis Cluster (several): Save writes rows as hashes or JSON under their key, counters replay-safe; Load looks keys up.',
  RedisConnParamsCodec, createRedisConnector);

export const mysqlConnectorType = storageType<MysqlConnParams>('mysql',
  'A MySQL or MariaDB table: Save upserts by key (deletes binlog deletes), exactly once with the positions in the same transaction; Load looks keys up.',
  MysqlConnParamsCodec, createMysqlConnector);

export const postgresConnectorType = storageType<PostgresConnParams>('postgres',
  'A PostgreSQL table: Save upserts by key, exactly once with the positions in the same transaction; Load looks keys up.',
  PostgresConnParamsCodec, createPostgresConnector);

export const sqliteConnectorType = storageType<SqliteConnParams>('sqlite',
  'A SQLite file (the embedded default, no server): Save upserts by key with the positions in the same transaction; Load looks keys up.',
  SqliteConnParamsCodec, createSqliteConnector);
