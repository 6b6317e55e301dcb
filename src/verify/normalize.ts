/**
 * Normalisation: removes the LaTeX that does not change an answer's value and gives each notation one
 * spelling, so that structure and comparison see `\dfrac12`, `\cfrac{1}{2}` and `\frac{1}{2}` alike.
 */
import { braceGroup } from './extract.js';

/** Gives `\frac` and `\sqrt` shorthand (`\frac12`, `\frac{270}7`, `\sqrt2`) explicit braces. */
function braceShorthand(s: string): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const m = /^\\(frac|sqrt)(?![a-zA-Z])/.exec(s.slice(i));
    if (!m) {
      out += s[i++];
      continue;
    }
    out += `\\${m[1]}`;
    i += m[0].length;
    const args = m[1] === 'frac' ? 2 : 1;
    for (let a = 0; a < args; a++) {
      while (s[i] === ' ') i++;
      if (m[1] === 'sqrt' && s[i] === '[') break;
      if (s[i] === '{') {
        const group = braceGroup(s, i);
        if (!group) break;
        out += `{${group.content}}`;
        i = group.end;
      } else if (i < s.length) {
        out += `{${s[i++]}}`;
      }
    }
  }
  return out;
}

const UNICODE: Record<string, string> = { '∞': '\\infty ', 'π': '\\pi ', '−': '-', '×': '\\times ', '·': '\\cdot ', '÷': '\\div ', '√': '\\sqrt' };
// Words that are mathematics, not a unit, after a number ("2 pi" is not 2).
const MATH_WORDS = /^(?:pi|sin|cos|tan|cot|sec|csc|log|ln|exp|sqrt|i|e)$/i;

/** A value followed by plain unit words ("5 square units", "12 cm") is the value. */
function stripUnitWords(s: string): string {
  const m = /^(.*[\d}])\s+([A-Za-z]{2,}(?:\s+[A-Za-z]{2,})*)$/.exec(s);
  if (!m || /[A-Za-z]/.test(m[1].replace(/\\[a-zA-Z]+/g, ''))) return s;
  return m[2].split(/\s+/).some((w) => MATH_WORDS.test(w)) ? s : m[1];
}

const TEXT_COMMANDS = 'text|textbf|textit|textrm|textnormal|textsf|textup|mathrm|mathbf|mathit|mathsf|mbox|operatorname|boldsymbol';

/** One spelling per relation: `\geq`, `\geqslant`, `>=` and `≥` are all `\ge`; `\lt` is `<`. */
function canonicalRelations(s: string): string {
  return s
    .replace(/\\(?:leqslant|leq|le)(?![a-zA-Z])|<=|≤/g, '\\le ')
    .replace(/\\(?:geqslant|geq|ge)(?![a-zA-Z])|>=|≥/g, '\\ge ')
    .replace(/\\(?:neq|ne)(?![a-zA-Z])|!=|≠/g, '\\ne ')
    .replace(/\\lt(?![a-zA-Z])/g, '<')
    .replace(/\\gt(?![a-zA-Z])/g, '>');
}

/** Thousands separators (`1{,}000`, `10,\!080`, `32,349`) go; `3{,}14` is a decimal comma. "32, 349" stays a list. */
function numberSeparators(s: string): string {
  s = s.replace(/(\d)\{,\}(?=\d{3}(?!\d))/g, '$1').replace(/(\d)\{,\}(?=\d)/g, '$1.');
  if (/^-?\d{1,3}(,\d{3})+(\.\d+)?$/.test(s)) s = s.replace(/,/g, '');
  return s;
}

/**
 * Removes the LaTeX that does not change an answer's value; see the module comment and docs/grading.md.
 * `keepVariable` keeps the `x =` of a one-letter equation, which is otherwise read as a label.
 */
export function normalizeAnswer(answer: string, keepVariable = false): string {
  let s = answer.trim();
  s = s.replace(/^\\\(|\\\)$/g, '').replace(/^\\\[|\\\]$/g, '');
  s = s.replace(/\\\$/g, '').replace(/\$/g, '');
  s = s.replace(/\\(displaystyle|textstyle)/g, '');
  s = s.replace(/\\(left|right|bigl|bigr|Bigl|Bigr|big|Big)(?![a-zA-Z])\.?/g, '');
  // (?<!\\) keeps the row break \\ of a matrix intact; `\;` is spacing here, `;` a separator below.
  s = s.replace(/(?<!\\)\\[!,;:]/g, '').replace(/\\q?quad(?![a-zA-Z])/g, ' ').replace(/(?<!\\)\\ |~/g, ' ');
  s = s.replace(/\\[dtc]frac/g, '\\frac');
  s = s.replace(/[∞π−×·÷√]/g, (c) => UNICODE[c]);
  s = s.replace(/\\mathbb\s*\{?R\}?/g, '(-\\infty, \\infty)');
  s = s.replace(/\\varnothing|\\\{\s*\\\}/g, '\\emptyset');
  s = s.replace(/\^\s*\{?\s*\\circ\s*\}?|°|\\degree(?![a-zA-Z])/g, '');
  // Percent in any spelling becomes one trailing `%`; the comparison reads 28% as 28 or as 0.28.
  s = s.replace(/\s*\\(?:text|mbox|textrm|mathrm)\s*\{\s*(?:percent|per cent|pct)\.?\s*\}/g, '%');
  s = s.replace(/\s*(?:percent|per cent|pct)\.?\s*$/, '%').replace(/\\%/g, '%');
  // A unit in \text{...} after a value ("5.4 \text{ cents}", "864 \mbox{ inches}^2") is not part of it.
  const trailingUnit = new RegExp(`(\\S)\\s*\\\\(?:${TEXT_COMMANDS})\\s*\\{[^{}]*\\}(?:\\^\\s*\\{?\\d+\\}?)?\\s*$`);
  while (trailingUnit.test(s)) s = s.replace(trailingUnit, '$1');
  s = s.replace(new RegExp(`\\\\(?:${TEXT_COMMANDS})\\s*\\{([^{}]*)\\}`, 'g'), '$1');
  s = s.trim().replace(/\.$/, '').trim();
  s = canonicalRelations(s);
  s = s.replace(/\+\s*\\infty/g, '\\infty');
  // Solutions separated by ";", "or", "and" form one list; `(1; 2)` is the tuple (1, 2).
  s = s.replace(/;/g, ',').replace(/\s+(?:or|and)\s+/g, ', ');
  s = stripUnitWords(s);
  // "x = 5", "y = -2x", "x \in [-2, 7]": the value is the right-hand side (kept to compare two equations).
  const lhs = /^[A-Za-z](?:_\{?\w+\}?)?\s*(?:=|\\in(?![a-zA-Z]))\s*/.exec(s);
  if (!keepVariable && lhs && s.length > lhs[0].length && !s.slice(lhs[0].length).includes('=')) s = s.slice(lhs[0].length);
  s = braceShorthand(s);
  s = s.replace(/_\{(\w+)\}/g, '_$1');
  s = s.replace(/\\begin\{(?:array|smallmatrix)\}(?:\{[^{}]*\})?/g, '\\begin{pmatrix}').replace(/\\end\{(?:array|smallmatrix)\}/g, '\\end{pmatrix}');
  s = s.replace(/^[([]\s*(\\begin\{([pbvBV]?matrix)\}[\s\S]*\\end\{\2\})\s*[)\]]$/, '$1');
  // Mixed numbers: 137 \frac{1}{2} is 137 + 1/2, not a product.
  const mixed = /^(-?)(\d+)\s*\\frac\{(\d+)\}\{(\d+)\}$/.exec(s);
  if (mixed) s = `${mixed[1]}(${mixed[2]}+\\frac{${mixed[3]}}{${mixed[4]}})`;
  s = numberSeparators(s.trim());
  const choice = /^\(?([A-Ea-e])\)$|^\(([A-Ea-e])\)?$/.exec(s);
  if (choice) s = (choice[1] ?? choice[2]).toUpperCase();
  return s.replace(/\s+/g, ' ').trim();
}
