// Source type `stdin`: JSON lines from the process's standard input, until EOF.
import { StdinSourceParams, type StdinSourceParamsT } from '../../config/codecs.js';
import type { SourceTypeSpec } from '../../core/plugins.js';
import { StdinSource } from './stdin-source.js';

export const stdinSourceType: SourceTypeSpec<StdinSourceParamsT> = {
  name: 'stdin',
  description: 'JSON lines from standard input, until EOF.',
  params: StdinSourceParams,
  create: (sc, params, env) => new StdinSource(sc.sid, params, env.stdin),
};
