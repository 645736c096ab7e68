// Canopy's editors, loaded by the page after hydration with `import('/pkg/editors/editors.js')`.
// CKEditor and CodeMirror are separate chunks: a text note never downloads CodeMirror, a code note never
// downloads CKEditor. Each mount also makes sure the editors' stylesheet (editors.css, beside this file)
// is in the page.
export { codeLanguages } from './languages.js';

let stylesheet;
function ensureStylesheet() {
  if (!stylesheet) {
    const href = new URL('./editors.css', import.meta.url).href;
    const existing = [...document.querySelectorAll('link[rel="stylesheet"]')].find((link) => link.href === href);
    stylesheet = existing
      ? Promise.resolve()
      : new Promise((resolve, reject) => {
          const link = document.createElement('link');
          link.rel = 'stylesheet';
          link.href = href;
          link.onload = () => resolve();
          link.onerror = () => {
            // A later mount tries again.
            link.remove();
            stylesheet = undefined;
            reject(new Error(`cannot load ${href}`));
          };
          document.head.append(link);
        });
  }
  return stylesheet;
}

/**
 * CKEditor 5 for a text note inside `element`. Resolves to a handle once the editor is ready.
 * options: `{ html, readOnly, onChange(), searchNotes(query) -> Promise<[{ noteId, title, path }]>,
 * openNote(noteId), uploadImage(file) -> Promise<{ src }> }`.
 */
export async function mountText(element, options) {
  const [{ mountText: mount }] = await Promise.all([import('./text.js'), ensureStylesheet()]);
  return mount(element, options);
}

/**
 * CodeMirror 6 for a code note inside `element`. Resolves to a handle once the editor is ready.
 * options: `{ text, mime, readOnly, onChange() }`.
 */
export async function mountCode(element, options) {
  const [{ mountCode: mount }] = await Promise.all([import('./code.js'), ensureStylesheet()]);
  return mount(element, options);
}
