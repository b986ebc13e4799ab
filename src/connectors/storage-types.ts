// The storage connector types: each its params codec and a factory that binds the driver to the runtime.
import type { ConnectorTypeSpec } from '../core/plugins.js';
import type { ConnectorEnv as StorageEnv } from '../core/storage.js';
import type { ConnectorEnv } from '../core/plugins.js';
import { createMysqlConnector, MysqlConnParamsCodec, type MysqlConnParams } from './mysql/index.js';
import { createPostgresConnector, PostgresConnParamsCodec, type PostgresConnParams } from './postgres/index.js';
import { createRedisConnector, RedisConnParamsCodec, type RedisConnParams } from './redis/index.js';
import { createSqliteConnector, SqliteConnParamsCodec, type SqliteConnParams } from './sqlite/index.js';
import { bindStorage } from './storage-binding.js';

function storageEnv(env: ConnectorEnv): StorageEnv {
  return { appId: env.config.global.appId, configDir: env.config.dir, logger: env.logger, clock: env.clock };
}

export const redisConnectorType: ConnectorTypeSpec<RedisConnParams> = {
  name: 'redis',
  description: 'Redis (one address) or a Redis Cluster (several): Save writes rows as hashes or JSON under their key, counters replay-safe; Load looks keys up.',
  params: RedisConnParamsCodec,
  create: (conn, params, env) => bindStorage(conn, createRedisConnector(conn, params, storageEnv(env)), env),
};

export const mysqlConnectorType: ConnectorTypeSpec<MysqlConnParams> = {
  name: 'mysql',
  description: 'A MySQL or MariaDB table: Save upserts by key (deletes binlog deletes), exactly once with the positions in the same transaction; Load looks keys up.',
  params: MysqlConnParamsCodec,
  create: (conn, params, env) => bindStorage(conn, createMysqlConnector(conn, params, storageEnv(env)), env),
};

export const postgresConnectorType: ConnectorTypeSpec<PostgresConnParams> = {
  name: 'postgres',
  description: 'A PostgreSQL table: Save upserts by key, exactly once with the positions in the same transaction; Load looks keys up.',
  params: PostgresConnParamsCodec,
  create: (conn, params, env) => bindStorage(conn, createPostgresConnector(conn, params, storageEnv(env)), env),
};

export const sqliteConnectorType: ConnectorTypeSpec<SqliteConnParams> = {
  name: 'sqlite',
  description: 'A SQLite file (the embedded default, no server): Save upserts by key with the positions in the same transaction; Load looks keys up.',
  params: SqliteConnParamsCodec,
  create: (conn, params, env) => bindStorage(conn, createSqliteConnector(conn, params, storageEnv(env)), env),
};
