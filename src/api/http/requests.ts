// The request bodies of the API as io-ts codecs: what the server validates, and (through
// src/config/json-schema.ts) the request schemas of the OpenAPI description. Unknown keys are refused, as
// in the config: a misspelt `from_strat` must not silently replay from the failed step.
import * as t from 'io-ts';
import { closed } from '../../config/closed.js';
import { NonEmptyString } from '../../config/primitives.js';

export const LoginRequestCodec = closed('LoginRequest', { user: t.string, password: t.string }, {}, 'A login with a user name and password.', {
  user: 'The user name.',
  password: 'The password.',
});

const FilterCodec = closed('DeadLetterFilter', {}, {
  code: t.string,
  fn: t.string,
  key: t.string,
  since: t.number,
  until: t.number,
}, 'Which dead letters: every field that is set must match.', {
  code: 'The error code (KIS_ERR_…).',
  fn: 'The function that failed.',
  key: 'The row key.',
  since: 'Written at or after (ms since the epoch).',
  until: 'Written at or before (ms since the epoch).',
});

export const ReplayRequestCodec = closed('ReplayRequest', { flow: NonEmptyString }, {
  ids: t.array(NonEmptyString),
  filter: FilterCodec,
  from_start: t.boolean,
}, 'Replays dead letters of a flow: the ones named by ids, or else every one matching filter.', {
  flow: 'The flow whose dead letters are replayed.',
  ids: 'Dead letter ids (`<dlq topic>/<partition>@<offset>`).',
  filter: 'Used when ids is absent.',
  from_start: 'Run from the first step instead of the step that failed.',
});

export const TriggerRequestCodec = closed('TriggerRequest', {}, {
  params: t.record(t.string, t.unknown),
}, 'Fires a job now.', { params: 'Params for this run, over the job\'s own.' });

const ConfigFilesCodec = t.record(t.string, t.union([t.string, t.null]));

export const ValidateRequestCodec = closed('ValidateRequest', { files: ConfigFilesCodec }, {}, 'The config as it would be with these files changed.', {
  files: 'Files by path relative to the config directory; null deletes an edited file (back to the mounted one).',
});

export const TryRequestCodec = closed('TryRequest', {
  files: ConfigFilesCodec,
  flow: NonEmptyString,
  rows: t.array(t.record(t.string, t.unknown)),
}, {}, 'Runs a flow of the edited config on rows with the test driver (no Kafka, no storage writes).', {
  files: 'Changed files, as in validate.',
  flow: 'The flow to run.',
  rows: 'The input rows.',
});

export const ApplyRequestCodec = closed('ApplyRequest', { files: ConfigFilesCodec, message: NonEmptyString }, {}, 'Applies a config edit: validated, versioned, then hot-reloaded.', {
  files: 'Changed files, as in validate.',
  message: 'Why: recorded with the version and in the audit.',
});

export const RewindRequestCodec = closed('RewindRequest', { to: t.union([t.number, t.string]) }, {}, 'Moves a running flow back.', {
  to: "A time (ms since the epoch or ISO 8601) or 'earliest'.",
});

export const SnapshotRequestCodec = closed('SnapshotRequest', { tables: t.array(NonEmptyString) }, {}, 'Re-snapshots tables of a running binlog source.', {
  tables: 'Tables as db.table.',
});
