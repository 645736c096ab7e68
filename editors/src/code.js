// CodeMirror 6 for code notes.
import { basicSetup } from 'codemirror';
import { EditorView, keymap } from '@codemirror/view';
import { Compartment, EditorState } from '@codemirror/state';
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
          if (update.docChanged && onChange) onChange();
        }),
      ],
    });
  const view = new EditorView({ parent: host, state: stateWith(text) });

  // CodeMirror's own base styles (selection, panels) differ for dark themes; keep them in step.
  const onScheme = (e) => view.dispatch({ effects: darkSlot.reconfigure(EditorView.darkTheme.of(e.matches)) });
  query?.addEventListener('change', onScheme);

  return {
    getData: () => view.state.doc.toString(),
    /** New content with a fresh undo history: loading a note is not an edit, so no onChange. */
    setData: (value) => view.setState(stateWith(value ?? '')),
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
