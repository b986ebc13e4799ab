// Compiles a JSONata AST (jsonata(text).ast(), the package's own parser) into a tree of closures, once,
// when the expression can be: field paths, literals, comparisons, and/or, arithmetic, &, in, ?:, blocks,
// array and object constructors, and the functions in ./functions.ts. Anything else (predicates, wildcards,
// lambdas, regexes, bindings, other functions) returns undefined and the expression stays with JSONata.
import { BUILTINS } from './functions.js';
import {
  deepEqual, deopt, isFiniteNumber, lookup, numericOperand, toBool, toBoolean, toStr,
  type Bindings, type Fn,
} from './semantics.js';

/** The parts of jsonata's ExprNode this compiler reads; every other key on a node makes it uncompilable. */
interface Ast {
  readonly type: string;
  readonly value?: unknown;
  readonly [key: string]: unknown;
}

// Keys a node may carry for its type. Annotations such as predicate, stages, group, focus, tuple,
// keepArray or consarray change the evaluation and are left to JSONata.
const KEYS: Readonly<Record<string, readonly string[]>> = {
  path: ['steps'],
  name: [],
  variable: [],
  string: [],
  number: [],
  value: [],
  binary: ['lhs', 'rhs'],
  unary: ['expression', 'expressions', 'lhs'],
  condition: ['condition', 'then', 'else'],
  block: ['expressions'],
  function: ['arguments', 'procedure'],
};

const hasOwn = Object.prototype.hasOwnProperty;
// Keys an object constructor may not set as written: JSONata refuses the first two (D1013); the third
// would set the prototype of a plain object.
const RESERVED_KEYS = new Set(['_jsonata_lambda', '_jsonata_function', '__proto__']);

function isAst(v: unknown): v is Ast {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as { type?: unknown }).type === 'string';
}

function plain(node: Ast): boolean {
  const allowed = KEYS[node.type];
  if (!allowed) return false;
  for (const k of Object.keys(node)) {
    if (node[k] === undefined) continue; // the parser leaves some keys present but undefined (function's name)
    if (k !== 'type' && k !== 'value' && k !== 'position' && !allowed.includes(k)) return false;
  }
  return true;
}

/** Compiles the whole expression; undefined when some part is not supported. */
export function compileAst(root: unknown): Fn | undefined {
  const body = compileNode(root);
  if (!body) return undefined;
  // An array input is wrapped in a singleton sequence by JSONata: leave that to JSONata.
  return (input, bindings) => (Array.isArray(input) ? deopt() : body(input, bindings));
}

function compileNode(node: unknown): Fn | undefined {
  if (!isAst(node) || !plain(node)) return undefined;
  switch (node.type) {
    case 'string':
    case 'number':
    case 'value': {
      const v = node.value;
      if (v !== null && typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return undefined;
      return () => v;
    }
    case 'variable': return compileVariable(node.value);
    case 'path': return compilePath(node['steps']);
    case 'binary': return compileBinary(node);
    case 'unary': return compileUnary(node);
    case 'condition': return compileCondition(node);
    case 'block': return compileBlock(node['expressions']);
    case 'function': return compileCall(node);
    default: return undefined;
  }
}

function compileVariable(name: unknown): Fn | undefined {
  if (typeof name !== 'string') return undefined;
  // $ is the context and $$ the root: the same value, as nothing compiled here moves the context.
  if (name === '' || name === '$') return (input) => input;
  // Unbound (or bound to undefined, which JSONata's frames skip to the built-ins): JSONata resolves it.
  return (_input, bindings) => {
    const v = bindings !== undefined && hasOwn.call(bindings, name) ? bindings[name] : undefined;
    return v === undefined ? deopt() : v;
  };
}

function compilePath(steps: unknown): Fn | undefined {
  if (!Array.isArray(steps) || steps.length === 0) return undefined;
  let head: Fn | undefined;
  let names: unknown[] = steps;
  const first: unknown = steps[0];
  if (isAst(first) && first.type === 'variable') {
    if (!plain(first)) return undefined;
    head = compileVariable(first.value);
    if (!head) return undefined;
    names = steps.slice(1);
  }
  const keys: string[] = [];
  for (const s of names) {
    if (!isAst(s) || s.type !== 'name' || !plain(s) || typeof s.value !== 'string') return undefined;
    keys.push(s.value);
  }
  const h = head;
  if (keys.length === 0) return h;
  if (keys.length === 1) {
    const k0 = keys[0]!;
    return h ? (i, b) => lookup(h(i, b), k0) : (i) => lookup(i, k0);
  }
  if (keys.length === 2 && !h) {
    const [k0, k1] = keys as [string, string];
    return (i) => lookup(lookup(i, k0), k1);
  }
  return (i, b) => {
    let v = h ? h(i, b) : i;
    for (const k of keys) {
      if (v === undefined) return undefined;
      v = lookup(v, k);
    }
    return v;
  };
}

type Binary = (l: unknown, r: unknown) => unknown;

function numeric(op: (l: number, r: number) => number): Binary {
  return (l, r) => {
    if (isFiniteNumber(l) && isFiniteNumber(r)) return op(l, r);
    numericOperand(l);
    numericOperand(r);
    return undefined; // one side is undefined
  };
}

function ordering(op: (l: number | string, r: number | string) => boolean): Binary {
  return (l, r) => {
    const lt = typeof l;
    const rt = typeof r;
    if (lt === rt && (lt === 'number' || lt === 'string')) return op(l as number | string, r as number | string);
    const lok = lt === 'undefined' || lt === 'string' || lt === 'number';
    const rok = rt === 'undefined' || rt === 'string' || rt === 'number';
    if (!lok || !rok) return deopt(); // T2010
    if (lt === 'undefined' || rt === 'undefined') return undefined;
    return deopt(); // T2009: a string against a number
  };
}

const BINARY: Readonly<Record<string, Binary>> = {
  '+': numeric((l, r) => l + r),
  '-': numeric((l, r) => l - r),
  '*': numeric((l, r) => l * r),
  '/': numeric((l, r) => l / r),
  '%': numeric((l, r) => l % r),
  '=': (l, r) => (l === undefined || r === undefined ? false : deepEqual(l, r)),
  '!=': (l, r) => (l === undefined || r === undefined ? false : !deepEqual(l, r)),
  '<': ordering((l, r) => l < r),
  '<=': ordering((l, r) => l <= r),
  '>': ordering((l, r) => l > r),
  '>=': ordering((l, r) => l >= r),
  '&': (l, r) => (l === undefined ? '' : toStr(l)) + (r === undefined ? '' : toStr(r)),
  in: (l, r) => {
    if (l === undefined || r === undefined) return false;
    if (!Array.isArray(r)) return r === l;
    for (let i = 0; i < r.length; i++) if (r[i] === l) return true;
    return false;
  },
};

function compileBinary(node: Ast): Fn | undefined {
  const op = node.value;
  const lhs = compileNode(node['lhs']);
  if (!lhs || typeof op !== 'string') return undefined;
  if (op === 'in') {
    const fixed = constantArray(node['rhs']);
    if (fixed) return (i, b) => BINARY['in']!(lhs(i, b), fixed);
  }
  const rhs = compileNode(node['rhs']);
  if (!rhs) return undefined;
  if (op === 'and') return (i, b) => toBool(lhs(i, b)) && toBool(rhs(i, b));
  if (op === 'or') return (i, b) => toBool(lhs(i, b)) || toBool(rhs(i, b));
  if (!hasOwn.call(BINARY, op)) return undefined;
  const f = BINARY[op]!;
  // The two most common filter shapes, a field against a literal, without the extra call.
  if (op === '=' || op === '!=') {
    const eq = op === '=';
    return (i, b) => {
      const l = lhs(i, b);
      const r = rhs(i, b);
      if (l === undefined || r === undefined) return false;
      if (l === r) return eq;
      return typeof l !== 'object' || typeof r !== 'object' ? !eq : f(l, r);
    };
  }
  return (i, b) => f(lhs(i, b), rhs(i, b));
}

/** A literal array of literals (`status in ['a', 'b']`), built once; only read by `in`, never handed out. */
function constantArray(node: unknown): readonly unknown[] | undefined {
  if (!isAst(node) || node.type !== 'unary' || node.value !== '[' || !plain(node)) return undefined;
  const items = node['expressions'];
  if (!Array.isArray(items)) return undefined;
  const out: unknown[] = [];
  for (const it of items) {
    if (!isAst(it) || !plain(it) || !(it.type === 'string' || it.type === 'number' || it.type === 'value')) return undefined;
    if (it.value === undefined) return undefined;
    out.push(it.value);
  }
  return out;
}

function compileUnary(node: Ast): Fn | undefined {
  switch (node.value) {
    case '-': {
      const e = compileNode(node['expression']);
      if (!e) return undefined;
      return (i, b) => {
        const v = e(i, b);
        if (v === undefined) return undefined;
        return isFiniteNumber(v) ? -v : deopt(); // D1002 (or D1001)
      };
    }
    case '[': return compileArray(node['expressions']);
    case '{': return compileObject(node['lhs']);
    default: return undefined;
  }
}

function compileArray(items: unknown): Fn | undefined {
  if (!Array.isArray(items)) return undefined;
  const parts: Array<{ f: Fn; nested: boolean }> = [];
  for (const it of items) {
    const f = compileNode(it);
    if (!f) return undefined;
    parts.push({ f, nested: isAst(it) && it.type === 'unary' && it.value === '[' });
  }
  return (i, b) => {
    const out: unknown[] = [];
    for (const { f, nested } of parts) {
      const v = f(i, b);
      if (v === undefined) continue;
      // fn.append: an array value is spliced in, unless it is itself an array constructor.
      if (!nested && Array.isArray(v)) for (const x of v) out.push(x);
      else out.push(v);
    }
    return out;
  };
}

function compileObject(pairs: unknown): Fn | undefined {
  if (!Array.isArray(pairs)) return undefined;
  const keys: string[] = [];
  const values: Fn[] = [];
  for (const pair of pairs) {
    if (!Array.isArray(pair) || pair.length !== 2) return undefined;
    const [k, v] = pair as [unknown, unknown];
    if (!isAst(k) || k.type !== 'string' || !plain(k) || typeof k.value !== 'string') return undefined;
    // A repeated key is D1009 in JSONata.
    if (RESERVED_KEYS.has(k.value) || keys.includes(k.value)) return undefined;
    const f = compileNode(v);
    if (!f) return undefined;
    keys.push(k.value);
    values.push(f);
  }
  const n = keys.length;
  return (i, b) => {
    const out: Record<string, unknown> = {};
    for (let j = 0; j < n; j++) {
      const v = values[j]!(i, b);
      if (v !== undefined) out[keys[j]!] = v;
    }
    return out;
  };
}

function compileCondition(node: Ast): Fn | undefined {
  const c = compileNode(node['condition']);
  const t = compileNode(node['then']);
  const e = node['else'] === undefined ? () => undefined : compileNode(node['else']);
  if (!c || !t || !e) return undefined;
  return (i, b) => (toBoolean(c(i, b)) ? t(i, b) : e(i, b));
}

function compileBlock(exprs: unknown): Fn | undefined {
  if (!Array.isArray(exprs)) return undefined;
  const fs: Fn[] = [];
  for (const x of exprs) {
    const f = compileNode(x);
    if (!f) return undefined;
    fs.push(f);
  }
  if (fs.length === 0) return () => undefined;
  if (fs.length === 1) return fs[0];
  return (i, b) => {
    let v: unknown;
    for (const f of fs) v = f(i, b);
    return v;
  };
}

function compileCall(node: Ast): Fn | undefined {
  const proc = node['procedure'];
  const args = node['arguments'];
  if (!isAst(proc) || proc.type !== 'variable' || !plain(proc) || typeof proc.value !== 'string' || !Array.isArray(args)) return undefined;
  const name = proc.value;
  const fn = BUILTINS.get(name);
  if (!fn || args.length < fn.minArgs || args.length > fn.maxArgs) return undefined;
  const fs: Fn[] = [];
  for (const a of args) {
    const f = compileNode(a);
    if (!f) return undefined;
    fs.push(f);
  }
  const impl = fn.impl;
  // A binding of the same name shadows the built-in in JSONata.
  const shadowed = (b: Bindings): boolean => b !== undefined && hasOwn.call(b, name);
  const [a0, a1, a2] = fs as [Fn, Fn | undefined, Fn | undefined];
  if (fs.length === 1) return (i, b) => (shadowed(b) ? deopt() : impl(a0(i, b), undefined, undefined));
  return (i, b) => (shadowed(b) ? deopt() : impl(a0(i, b), a1 ? a1(i, b) : undefined, a2 ? a2(i, b) : undefined));
}
