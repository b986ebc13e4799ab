// Repair: dead-letter replay, trace a key, rewind a running flow (and, in sources/binlog, re-snapshots and
// the healing of a lost position). The CLI and, later, the console call these.
export { dlqCommand, listDeadLetters, replayDeadLetters, serviceRunner, type DeadLetterFilter, type DeadLetterRecord, type ReplayReport, type ReplayRunner, type CommandContext } from './dlq.js';
export { traceCommand, traceKey, type TraceReport } from './trace.js';
export { rewindCommand, rewindFlow, rewindPlan, flowChangelogs, RewindAgent, type FlowControl, type RewindTarget, type RewindReport } from './rewind.js';
export { snapshotCommand } from './snapshot.js';
export { controlTopic, replayedTopic } from './names.js';

/** The repair commands by name, for src/cli/main.ts: `kisflow <name> ...args` -> exit code. */
export const repairCommands = {
  dlq: async (args: readonly string[], ctx?: import('./dlq.js').CommandContext) => (await import('./dlq.js')).dlqCommand(args, ctx),
  trace: async (args: readonly string[], ctx?: import('./dlq.js').CommandContext) => (await import('./trace.js')).traceCommand(args, ctx),
  snapshot: async (args: readonly string[], ctx?: import('./dlq.js').CommandContext) => (await import('./snapshot.js')).snapshotCommand(args, ctx),
  rewind: async (args: readonly string[], ctx?: import('./dlq.js').CommandContext) => (await import('./rewind.js')).rewindCommand(args, ctx),
} as const;
