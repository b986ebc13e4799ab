// The built-in connector types, registered through the same call a user's function module makes.
import type { TypeRegistry } from '../core/plugins.js';
import { kafkaConnectorType } from './kafka/index.js';

export function registerConnectorTypes(types: TypeRegistry): TypeRegistry {
  return types.connectorType(kafkaConnectorType);
}
