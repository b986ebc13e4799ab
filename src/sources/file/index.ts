// Source type `file`: JSON lines, read once (finite).
import { FileSourceParams, type FileSourceParamsT } from '../../config/codecs.js';
import type { SourceTypeSpec } from '../../core/plugins.js';
import { FileSource } from './file-source.js';

export const fileSourceType: SourceTypeSpec<FileSourceParamsT> = {
  name: 'file',
  description: 'JSON lines from a file, read once.',
  params: FileSourceParams,
  create: (sc, params, env) => new FileSource(sc.sid, params, env.config.dataDir),
};
