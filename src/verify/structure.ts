/**
 * Structure of a normalised answer: tuples and intervals (ordered, brackets matter), sets, lists and unions
 * (unordered), matrices (a sum of matrices is added entry-wise), `=`/`\approx` chains (a labelled answer
 * `(p,q)=(3,2)`, a worked line `x = 5+5+1 = 11`), single-variable inequalities as intervals (`x \ge 5` is
 * `[5, \infty)`), `a \pm b` as the two values, and scalars.
 */

/** `braced`: a collection written as a set in braces (not bare commas, several boxes or a union). */
export type Shape =
  | { kind: 'scalar'; text: string }
  | { kind: 'ordered'; open: string; close: string; items: Shape[] }
  | { kind: 'unordered'; items: Shape[]; braced: boolean }
  | { kind: 'matrix'; rows: Shape[][] }
  /**
   * `alternative`: index of a part that is also the answer besides the last (the exact value before the
   * first `\approx`, the letter of a multiple-choice answer `(B) 12`), or -1.
   */
  | { kind: 'chain'; texts: string[]; parts: Shape[]; alternative: number };

const OPENERS = '([{';
const CLOSERS = ')]}';

/** Splits at any of `separators` where the bracket depth is zero; a word separator needs a non-letter after it. */
export function splitTopLevel(s: string, ...separators: string[]): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    if (OPENERS.includes(s[i])) depth++;
    else if (CLOSERS.includes(s[i])) depth--;
    else if (depth === 0) {
      const separator = separators.find((sep) => s.startsWith(sep, i)
        && !(/[a-zA-Z]/.test(sep[sep.length - 1]) && /[a-zA-Z]/.test(s[i + sep.length] ?? '')));
      if (separator === undefined) continue;
      parts.push(s.slice(start, i));
      start = i + separator.length;
      i += separator.length - 1;
    }
  }
  parts.push(s.slice(start));
  return parts.map((p) => p.trim());
}

/** True when the bracket opened at index 0 closes at the last character. */
function enclosedWhole(s: string): boolean {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    if (OPENERS.includes(s[i])) depth++;
    else if (CLOSERS.includes(s[i]) && --depth === 0) return i === s.length - 1;
  }
  return false;
}

const MATRIX = /^\s*([+-]?)\s*\\begin\{([pbvBV]?matrix)\}([\s\S]*?)\\end\{\2\}/;

/** The terms of a sum of matrices (`A + B - C`), each as rows of entry texts and its sign; null if not one. */
function matrixTerms(s: string): Array<{ sign: string; rows: string[][] }> | null {
  const terms: Array<{ sign: string; rows: string[][] }> = [];
  let rest = s;
  while (rest.trim() !== '') {
    const m = MATRIX.exec(rest);
    if (!m || (terms.length > 0 && m[1] === '')) return null;
    const rows = m[3].split('\\\\').map((r) => r.trim()).filter((r) => r !== '');
    terms.push({ sign: m[1] || '+', rows: rows.map((r) => r.split('&').map((c) => c.trim())) });
    rest = rest.slice(m[0].length);
  }
  return terms.length > 0 ? terms : null;
}

/** One matrix shape from a sum of same-sized matrices, entries as `(a)+(b)`; null when sizes differ. */
function matrixShape(terms: Array<{ sign: string; rows: string[][] }>): Shape | null {
  const [first] = terms;
  const sameSize = terms.every((t) => t.rows.length === first.rows.length
    && t.rows.every((row, i) => row.length === first.rows[i].length));
  if (!sameSize) return null;
  const rows = first.rows.map((row, i) => row.map((_, j) => {
    if (terms.length === 1) return shapeOf(row[j]);
    return { kind: 'scalar', text: terms.map((t) => `${t.sign}(${t.rows[i][j]})`).join('') } as Shape;
  }));
  return { kind: 'matrix', rows };
}

const VARIABLE = /^[A-Za-z](?:_\w+)?$/;
const LESS = ['<', '\\le'];
const NEXT_RELATION = /^(.*?)(\\le|\\ge|\\ne|<|>)(?![a-zA-Z])/;
const MORE = ['>', '\\ge'];

/** `x < 3`, `2 < x`, `-2 < x \le 3` as an interval; null for any other relation. */
function inequalityInterval(s: string): Shape | null {
  const tokens: string[] = [];
  let rest = s;
  for (let m = NEXT_RELATION.exec(rest); m !== null; m = NEXT_RELATION.exec(rest)) {
    tokens.push(m[1].trim(), m[2]);
    rest = rest.slice(m[0].length);
  }
  tokens.push(rest.trim());
  if (tokens.length !== 3 && tokens.length !== 5) return null;
  if (tokens.some((t, i) => i % 2 === 0 && (t === '' || /[<>]/.test(t)))) return null;
  const bound = (text: string): Shape => ({ kind: 'scalar', text });
  const interval = (low: string, lowOp: string, high: string, highOp: string): Shape => ({
    kind: 'ordered',
    open: lowOp === '\\le' || lowOp === '\\ge' ? '[' : '(',
    close: highOp === '\\le' || highOp === '\\ge' ? ']' : ')',
    items: [bound(low), bound(high)],
  });
  if (tokens.length === 3) {
    const [left, op, right] = tokens;
    if (op === '\\ne') {
      if (VARIABLE.test(left) === VARIABLE.test(right)) return null;
      const value = VARIABLE.test(left) ? right : left;
      return { kind: 'unordered', braced: false, items: [interval('-\\infty', '<', value, '<'), interval(value, '<', '\\infty', '<')] };
    }
    const leftVar = VARIABLE.test(left);
    if (leftVar === VARIABLE.test(right)) return null;
    const [variable, value, relation] = leftVar ? [left, right, op] : [right, left, flip(op)];
    if (value.includes(variable)) return null;
    return LESS.includes(relation) ? interval('-\\infty', '<', value, relation) : interval(value, relation, '\\infty', '<');
  }
  const [low, op1, variable, op2, high] = tokens;
  if (!VARIABLE.test(variable)) return null;
  if (LESS.includes(op1) && LESS.includes(op2)) return interval(low, op1, high, op2);
  if (MORE.includes(op1) && MORE.includes(op2)) return interval(high, op2, low, op1);
  return null;
}

function flip(op: string): string {
  return { '<': '>', '>': '<', '\\le': '\\ge', '\\ge': '\\le' }[op] ?? op;
}

/** The shape of a normalised answer (see the module comment). */
export function shapeOf(s: string): Shape {
  s = s.trim();
  const union = splitTopLevel(s, '\\cup');
  if (union.length > 1) return { kind: 'unordered', items: union.map(shapeOf), braced: false };
  const terms = s.includes('\\begin{') ? matrixTerms(s) : null;
  const matrix = terms && matrixShape(terms);
  if (matrix) return matrix;
  const escapedSet = s.startsWith('\\{') && s.endsWith('\\}') && enclosedWhole(s.slice(1));
  if (escapedSet || (s.startsWith('{') && s.endsWith('}') && enclosedWhole(s) && splitTopLevel(s.slice(1, -1), ',').length > 1)) {
    const inner = escapedSet ? s.slice(2, -2) : s.slice(1, -1);
    return { kind: 'unordered', items: splitTopLevel(inner, ',').filter((x) => x !== '').flatMap(collectionItems), braced: true };
  }
  if ('(['.includes(s[0]) && ')]'.includes(s[s.length - 1]) && enclosedWhole(s)) {
    const items = splitTopLevel(s.slice(1, -1), ',');
    if (items.length === 1) return s[0] === '(' && s[s.length - 1] === ')' ? shapeOf(items[0]) : { kind: 'scalar', text: s };
    return { kind: 'ordered', open: s[0], close: s[s.length - 1], items: items.map(shapeOf) };
  }
  const list = splitTopLevel(s, ',');
  if (list.length > 1) return { kind: 'unordered', items: list.flatMap(collectionItems), braced: false };
  const choice = /^\(([A-E])\)\s*(\S.*)$/.exec(s);
  if (choice) {
    return { kind: 'chain', texts: [choice[1], choice[2]], parts: [{ kind: 'scalar', text: choice[1] }, shapeOf(choice[2])], alternative: 0 };
  }
  const chain = splitTopLevel(s, '=', '\\approx');
  if (chain.length > 1 && chain.every((p) => p !== '')) {
    const beforeApprox = splitTopLevel(s, '\\approx');
    const alternative = beforeApprox.length > 1 ? splitTopLevel(beforeApprox[0], '=').length - 1 : -1;
    return { kind: 'chain', texts: chain, parts: chain.map(shapeOf), alternative };
  }
  const interval = /<|>|\\[lgn]e(?![a-zA-Z])/.test(s) ? inequalityInterval(s) : null;
  if (interval) return interval;
  const pm = plusMinus(s);
  return pm.length === 2 ? { kind: 'unordered', items: pm, braced: false } : { kind: 'scalar', text: s };
}

/** `a \pm b` as the two scalars a + b and a - b; anything else as one item. */
function plusMinus(s: string): Shape[] {
  const pm = splitTopLevel(s, '\\pm');
  if (pm.length !== 2) return [{ kind: 'scalar', text: s }];
  return [`${pm[0]}+${pm[1]}`, `${pm[0]}-${pm[1]}`].map((text) => ({ kind: 'scalar', text }) as Shape);
}

/** The items an element of a set or list contributes: two for `a \pm b`, else itself. */
function collectionItems(s: string): Shape[] {
  const pm = plusMinus(s);
  return pm.length === 2 ? pm : [shapeOf(s)];
}
