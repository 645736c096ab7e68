// CodeMirror 6 for code notes.
import { basicSetup } from 'codemirror';
import { EditorView, keymap } from '@codemirror/view';
import { Compartment, EditorState, Transaction } from '@codemirror/state';
import { indentWithTab } from '@codemirror/commands';
import { HighlightStyle, indentUnit, syntaxHighlighting } from '@codemirror/language';
import { tags as t } from '@lezer/highlight';
import { languageFor } from './code-modes.js';

// Colours are CSS variables (defined in code.css for light and dark), so the theme follows
// `prefers-color-scheme` without rebuilding the editor's state.
const highlight = HighlightStyle.define([
  { tag: [t.keyword, t.modifier, t.operatorKeyword, t.controlKeyword, t.definitionKeyword, t.moduleKeyword], color: 'var(--cm-keyword)' },
  { tag: [t.string, t.special(t.string), t.regexp, t.character], color: 'var(--cm-string)' },
  { tag: [t.comment, t.lineComment, t.blockComment, t.docComment], color: 'var(--cm-comment)', fontStyle: 'italic' },
  { tag: [t.number, t.bool, t.null, t.atom, t.unit], color: 'var(--cm-number)' },
  { tag: [t.function(t.variableName), t.function(t.propertyName), t.macroName], color: 'var(--cm-function)' },
  { tag: [t.definition(t.variableName), t.definition(t.propertyName)], color: 'var(--cm-definition)' },
  { tag: [t.typeName, t.className, t.namespace, t.standard(t.variableName)], color: 'var(--cm-type)' },
  { tag: [t.propertyName, t.attributeName], color: 'var(--cm-property)' },
  { tag: [t.tagName, t.angleBracket], color: 'var(--cm-tag)' },
  { tag: [t.operator, t.punctuation, t.separator, t.bracket], color: 'var(--cm-punctuation)' },
  { tag: [t.meta, t.annotation, t.processingInstruction], color: 'var(--cm-meta)' },
  { tag: [t.heading], color: 'var(--cm-keyword)', fontWeight: 'bold' },
  { tag: t.strong, fontWeight: 'bold' },
  { tag: t.emphasis, fontStyle: 'italic' },
  { tag: t.strikethrough, textDecoration: 'line-through' },
  { tag: [t.link, t.url], color: 'var(--cm-string)', textDecoration: 'underline' },
  { tag: t.invalid, color: 'var(--cm-invalid)' },
]);

const theme = EditorView.theme({
  '&': { height: '100%', color: 'var(--cm-fg)', backgroundColor: 'var(--cm-bg)' },
  '.cm-scroller': { fontFamily: 'var(--mono, ui-monospace, SFMono-Regular, Menlo, Consolas, monospace)', lineHeight: '1.5' },
  '.cm-content': { caretColor: 'var(--cm-fg)' },
  '.cm-cursor, .cm-dropCursor': { borderLeftColor: 'var(--cm-fg)' },
  '.cm-gutters': { backgroundColor: 'var(--cm-gutter-bg)', color: 'var(--cm-gutter-fg)', borderRight: '1px solid var(--cm-border)' },
  '.cm-activeLine': { backgroundColor: 'var(--cm-active-line)' },
  '.cm-activeLineGutter': { backgroundColor: 'var(--cm-active-line)' },
  '&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground, .cm-content ::selection':
    { backgroundColor: 'var(--cm-selection)' },
  '&.cm-focused .cm-matchingBracket': { backgroundColor: 'var(--cm-bracket)', outline: '1px solid var(--cm-border)' },
  '.cm-panels': { backgroundColor: 'var(--cm-gutter-bg)', color: 'var(--cm-fg)' },
});

const darkQuery = () => window.matchMedia?.('(prefers-color-scheme: dark)');

/** `text` the note's content, `mime` its mime type (Trilium's names); onChange on user edits only. */
export async function mountCode(element, { text = '', mime = 'text/plain', readOnly = false, onChange } = {}) {
  const languageSlot = new Compartment();
  const darkSlot = new Compartment();
  const query = darkQuery();
  let language = (await languageFor(mime)) ?? [];
  // Set while setData puts in a version saved elsewhere: not the user's edit, so no onChange.
  let loading = false;
  const host = document.createElement('div');
  host.className = 'canopy-code';
  element.append(host);

  const stateWith = (doc) =>
    EditorState.create({
      doc,
      extensions: [
        basicSetup,
        // As in Trilium: Tab indents (Escape, then Tab, leaves the editor), by four spaces.
        keymap.of([indentWithTab]),
        indentUnit.of('    '),
        theme,
        syntaxHighlighting(highlight),
        darkSlot.of(EditorView.darkTheme.of(!!query?.matches)),
        languageSlot.of(language),
        EditorState.readOnly.of(!!readOnly),
        EditorView.editable.of(!readOnly),
        EditorView.contentAttributes.of({ 'aria-label': 'Code', spellcheck: 'false' }),
        EditorView.updateListener.of((update) => {
          if (update.docChanged && !loading && onChange) onChange();
        }),
      ],
    });
  const view = new EditorView({ parent: host, state: stateWith(text) });

  // CodeMirror's own base styles (selection, panels) differ for dark themes; keep them in step.
  const onScheme = (e) => view.dispatch({ effects: darkSlot.reconfigure(EditorView.darkTheme.of(e.matches)) });
  query?.addEventListener('change', onScheme);

  return {
    getData: () => view.state.doc.toString(),
    /**
     * A version saved elsewhere, put in as small replacements (the lines both share kept, and in each
     * changed run the common start and end), so the caret and the selection stay where they were,
     * mapped through the changes. Outside the undo history and not an edit, so no onChange.
     */
    setData(value) {
      const next = value ?? '';
      const current = view.state.doc.toString();
      if (next === current) return;
      loading = true;
      try {
        view.dispatch({ changes: changesBetween(current, next), annotations: Transaction.addToHistory.of(false) });
      } finally {
        loading = false;
      }
    },
    /** Changes the highlighting when the note's language changes; the text and its undo history stay. */
    async setMime(newMime) {
      language = (await languageFor(newMime)) ?? [];
      view.dispatch({ effects: languageSlot.reconfigure(language) });
    },
    focus: () => view.focus(),
    destroy() {
      query?.removeEventListener('change', onScheme);
      view.destroy();
      host.remove();
    },
  };
}

const isHighSurrogate = (code) => code >= 0xd800 && code <= 0xdbff;
const isLowSurrogate = (code) => code >= 0xdc00 && code <= 0xdfff;

/** The range of `current` to replace, and by what, to get `next`: all but the common start and end. */
export function smallestChange(current, next) {
  const shorter = Math.min(current.length, next.length);
  let start = 0;
  while (start < shorter && current.charCodeAt(start) === next.charCodeAt(start)) start++;
  // Never between the two halves of a character outside the BMP.
  if (start > 0 && isHighSurrogate(current.charCodeAt(start - 1))) start--;
  let end = 0;
  while (end < shorter - start && current.charCodeAt(current.length - 1 - end) === next.charCodeAt(next.length - 1 - end)) end++;
  if (end > 0 && isLowSurrogate(current.charCodeAt(current.length - end))) end--;
  return { from: start, to: current.length - end, insert: next.slice(start, next.length - end) };
}

/** Above this many line pairs in the changed middle, it is replaced as one run instead of matched. */
const MAX_LINE_PAIRS = 1_000_000;

/**
 * The changes that turn `current` into `next`, in `current`'s offsets: lines (each with its newline)
 * matched by their longest common subsequence, each run between matched lines replaced by its
 * smallest change.
 */
export function changesBetween(current, next) {
  const lines = (text) => text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  const a = lines(current);
  const b = lines(next);
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const am = a.slice(head, a.length - tail);
  const bm = b.slice(head, b.length - tail);
  // Matched pairs (index in am, index in bm), in order, and a sentinel at the end.
  const pairs = am.length * bm.length <= MAX_LINE_PAIRS ? commonLines(am, bm) : [];
  pairs.push([am.length, bm.length]);
  const changes = [];
  let offset = a.slice(0, head).reduce((n, line) => n + line.length, 0);
  let i = 0;
  let j = 0;
  for (const [pi, pj] of pairs) {
    const removed = am.slice(i, pi).join('');
    const inserted = bm.slice(j, pj).join('');
    if (removed !== inserted) {
      const change = smallestChange(removed, inserted);
      changes.push({ from: offset + change.from, to: offset + change.to, insert: change.insert });
    }
    offset += removed.length + (pi < am.length ? am[pi].length : 0);
    i = pi + 1;
    j = pj + 1;
  }
  return changes;
}

/** The longest common subsequence of two lists of lines, as index pairs in order. */
function commonLines(a, b) {
  const width = b.length + 1;
  const table = new Uint32Array((a.length + 1) * width);
  for (let x = a.length - 1; x >= 0; x--) {
    for (let y = b.length - 1; y >= 0; y--) {
      table[x * width + y] =
        a[x] === b[y] ? table[(x + 1) * width + y + 1] + 1 : Math.max(table[(x + 1) * width + y], table[x * width + y + 1]);
    }
  }
  const pairs = [];
  let x = 0;
  let y = 0;
  while (x < a.length && y < b.length) {
    if (a[x] === b[y]) {
      pairs.push([x, y]);
      x++;
      y++;
    } else if (table[(x + 1) * width + y] >= table[x * width + y + 1]) {
      x++;
    } else {
      y++;
    }
  }
  return pairs;
}
