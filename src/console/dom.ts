// Small DOM helpers: the page builds its elements in code (no templates, no innerHTML with data), so text
// from the server is always set as text and the Content-Security-Policy needs no 'unsafe-inline'.

export type Child = Node | string | number | null | undefined | false;

/** Attributes by name; `testid` becomes data-testid, a function under `on<event>` becomes a listener. */
export type Attrs = Readonly<Record<string, string | number | boolean | undefined | null | ((e: Event) => void)>>;

function apply(node: Element, attrs: Attrs | undefined): void {
  if (!attrs) return;
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === 'function') {
      node.addEventListener(name.slice(2), value);
      continue;
    }
    const attr = name === 'testid' ? 'data-testid' : name;
    node.setAttribute(attr, value === true ? '' : String(value));
  }
}

function append(node: Node, children: readonly Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  apply(node, attrs);
  append(node, children);
  return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs?: Attrs, ...children: Child[]): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG_NS, tag);
  apply(node, attrs);
  append(node, children);
  return node;
}

export function clear(node: Node): void {
  while (node.firstChild) node.removeChild(node.firstChild);
}

/** A table from column headings and rows of cells; `testid` names the table. */
export function table(testid: string, headings: readonly string[], rows: readonly HTMLTableRowElement[], empty = 'nothing yet'): HTMLElement {
  const body = el('tbody');
  if (rows.length === 0) body.appendChild(el('tr', {}, el('td', { colspan: headings.length, class: 'empty' }, empty)));
  else append(body, rows);
  return el('div', { class: 'table-wrap' },
    el('table', { testid }, el('thead', {}, el('tr', {}, ...headings.map((h) => el('th', {}, h)))), body));
}

export function card(title: string, ...children: Child[]): HTMLElement {
  return el('section', { class: 'card' }, el('h2', {}, title), ...children);
}

/** A button that acts on the deployment: marked so the role-aware checks (and tests) can find every one. */
export function actionButton(label: string, testid: string, onclick: (e: Event) => void, kind: 'primary' | 'danger' | 'plain' = 'primary'): HTMLButtonElement {
  return el('button', { type: 'button', class: `btn ${kind}`, testid, 'data-role-action': true, onclick }, label);
}

export function button(label: string, testid: string, onclick: (e: Event) => void): HTMLButtonElement {
  return el('button', { type: 'button', class: 'btn plain', testid, onclick }, label);
}

export function badge(text: string, tone: 'ok' | 'warn' | 'bad' | 'muted'): HTMLElement {
  return el('span', { class: `badge ${tone}` }, text);
}

export function pre(value: unknown, testid?: string): HTMLElement {
  return el('pre', { class: 'json', testid }, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
}
