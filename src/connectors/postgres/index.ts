// type: postgres — what the connector registry needs: the params codec and the factory.
export { PostgresConnParamsCodec, type PostgresConnParams } from './params.js';
export { createPostgresConnector } from './postgres-connector.js';
export { classifyPg } from './dialect.js';
