// type: sqlite — what the connector registry needs: the params codec and the factory.
export { SqliteConnParamsCodec, type SqliteConnParams } from './params.js';
export { classifySqlite, createSqliteConnector } from './sqlite-connector.js';
