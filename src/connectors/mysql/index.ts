// type: mysql — what the connector registry needs: the params codec and the factory.
export { MysqlConnParamsCodec, type MysqlConnParams } from './params.js';
export { createMysqlConnector } from './mysql-connector.js';
export { classifyMy } from './dialect.js';
