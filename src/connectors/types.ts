// The built-in connector types, registered through the same call a user's function module makes.
import type { TypeRegistry } from '../core/plugins.js';
import { kafkaConnectorType } from './kafka/index.js';
import { mysqlConnectorType, postgresConnectorType, redisConnectorType, sqliteConnectorType } from './storage-types.js';

export function registerConnectorTypes(types: TypeRegistry): TypeRegistry {
  return types
    .connectorType(kafkaConnectorType)
    .connectorType(redisConnectorType)
    .connectorType(mysqlConnectorType)
    .connectorType(postgresConnectorType)
    .connectorType(sqliteConnectorType);
}
