// type: redis — what the connector registry needs: the params codec and the factory.
export { RedisConnParamsCodec, type RedisConnParams } from './params.js';
export { createRedisConnector, redisNodes, rowErrorCode } from './redis-connector.js';
export { APPLY_LUA, calculateSlot } from './apply-script.js';
