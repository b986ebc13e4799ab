// The public API for function authors and embedding applications.
export type { Row, Position, Params } from './kernel/types.js';
export { KisError, KisConfigErrors, ERROR_CODES, isKisError, hasCode, type KisErrorCode } from './kernel/errors.js';
export { Abort, DataReuse, ForceEntryNext, JumpFunc, type Action } from './core/actions.js';
export type { FlowContext, FaasHandler } from './core/context.js';
export { KisPool, type FaasOptions, type CaasCall, type ConnectorHandle } from './core/pool.js';
export type { DeadLetter } from './core/dead-letter.js';
export type { FunctionModule } from './core/modules.js';
export { loadConfigDir } from './config/load.js';
export { exportConfig, exportConfigTo } from './config/export.js';
export type { KisConfig } from './config/model.js';
export { prepareApp } from './runtime/app.js';
export { KisService, type RunSummary } from './runtime/service.js';
