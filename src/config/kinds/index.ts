// The kistypes the loader knows, in the order they are collected and checked (global first: the others
// read its settings). A new kistype is a module exporting a KindSpec and one line here.
import { connKind } from './conn.js';
import { flowKind } from './flow.js';
import { funcKind } from './func.js';
import { globalKind } from './global.js';
import { jobKind } from './job.js';
import type { KindSpec } from './kind.js';
import { sourceKind } from './source.js';

export const KINDS: readonly KindSpec[] = [globalKind, sourceKind, flowKind, funcKind, connKind, jobKind];
