// CKEditor 5 for text notes, configured to read and write the HTML Trilium 0.63 writes.
import {
  DecoupledEditor,
  Essentials,
  Autoformat,
  AutoLink,
  BlockQuote,
  Bold,
  ButtonView,
  Code,
  CodeBlock,
  FindAndReplace,
  FontBackgroundColor,
  FontColor,
  FontSize,
  GeneralHtmlSupport,
  Heading,
  HorizontalLine,
  HtmlComment,
  Image,
  ImageCaption,
  ImageResize,
  ImageStyle,
  ImageTextAlternative,
  ImageToolbar,
  ImageUpload,
  Indent,
  IndentBlock,
  Italic,
  Link,
  LinkImage,
  List,
  ListProperties,
  Mention,
  Paragraph,
  PasteFromOffice,
  Plugin,
  RemoveFormat,
  SpecialCharacters,
  SpecialCharactersEssentials,
  Strikethrough,
  Subscript,
  Superscript,
  Table,
  TableCaption,
  TableCellProperties,
  TableColumnResize,
  TableProperties,
  TableToolbar,
  TextTransformation,
  TodoList,
  Underline,
  Widget,
  env,
  toWidget,
} from 'ckeditor5';
import { LANGUAGES, codeBlockLanguage } from './languages.js';

/** The note id a link points to: the last segment of a Trilium note path (`#root/a/b` → `b`), else null. */
export function noteIdOfHref(href) {
  const match = /^#root(?:\/[^?#/]+)*\/([^?#/]+)(?:[?].*)?$/.exec(href ?? '');
  if (match) return match[1];
  return href === '#root' ? 'root' : null;
}

/** Pasted and dropped images go through `uploadImage(file) -> { src }` (an attachment of the note). */
class UploadAdapter {
  constructor(loader, uploadImage) {
    this.loader = loader;
    this.uploadImage = uploadImage;
  }

  async upload() {
    const file = await this.loader.file;
    let src;
    try {
      ({ src } = await this.uploadImage(file));
    } catch (error) {
      // CKEditor shows a rejection's text as a warning (see Notices) and takes the placeholder out again.
      throw `The image was not added: ${error?.message ?? error}`;
    }
    if (!src) throw 'The image was not added: the upload returned no address.';
    return { default: src };
  }

  abort() {}
}

function uploadAdapterPlugin(editor) {
  const uploadImage = editor.config.get('canopy.uploadImage');
  editor.plugins.get('FileRepository').createUploadAdapter = (loader) =>
    uploadImage ? new UploadAdapter(loader, uploadImage) : { upload: () => Promise.reject('Images cannot be added here.'), abort() {} };
}

/**
 * CKEditor's warnings (a failed image upload, for one) as a notice above the text instead of its default,
 * a blocking `window.alert`.
 */
class Notices extends Plugin {
  init() {
    const editor = this.editor;
    editor.plugins.get('Notification').on(
      'show:warning',
      (evt, data) => {
        evt.stop();
        const show = editor.config.get('canopy.showNotice');
        show?.(String(data.message));
      },
      { priority: 'high' },
    );
  }
}

/**
 * Note content may hold embeds (imported, or written by other programs). The editing view already keeps
 * scripts, event handlers and `javascript:` links from running; this also keeps frames and media from
 * loading anything while the note is edited. They stay in the data unchanged.
 */
class InertEmbeds extends Plugin {
  init() {
    this.editor.editing.view.domConverter.unsafeElements.push('iframe', 'frame', 'object', 'embed', 'video', 'audio', 'source', 'track', 'portal');
  }
}

/**
 * Trilium's included notes, `<section class="include-note" data-note-id=… data-box-size=…>`: one block
 * object, written back exactly as Trilium writes it. In the editor it shows as a box that opens the note.
 */
class IncludeNote extends Plugin {
  static get requires() {
    return [Widget];
  }

  init() {
    const editor = this.editor;
    editor.model.schema.register('includeNote', {
      inheritAllFrom: '$blockObject',
      allowAttributes: ['noteId', 'boxSize'],
    });
    const { conversion } = editor;
    conversion.for('upcast').elementToElement({
      view: { name: 'section', classes: 'include-note' },
      model: (view, { writer }) =>
        writer.createElement('includeNote', {
          ...(view.hasAttribute('data-note-id') && { noteId: view.getAttribute('data-note-id') }),
          ...(view.hasAttribute('data-box-size') && { boxSize: view.getAttribute('data-box-size') }),
        }),
      converterPriority: 'high',
    });
    // Only the attributes the note had; the editing view adds a `box-size-*` class for its own styling.
    const attributes = (model, editing = false) => {
      const noteId = model.getAttribute('noteId');
      const boxSize = model.getAttribute('boxSize');
      return {
        class: editing && boxSize ? `include-note box-size-${boxSize}` : 'include-note',
        ...(noteId !== undefined && { 'data-note-id': noteId }),
        ...(boxSize !== undefined && { 'data-box-size': boxSize }),
      };
    };
    conversion.for('dataDowncast').elementToElement({
      model: 'includeNote',
      view: (model, { writer }) => writer.createContainerElement('section', attributes(model)),
    });
    conversion.for('editingDowncast').elementToElement({
      model: 'includeNote',
      view: (model, { writer }) => {
        const section = writer.createContainerElement('section', attributes(model, true));
        const label = writer.createUIElement('div', { class: 'canopy-include-note' }, function (domDocument) {
          const dom = this.toDomElement(domDocument);
          dom.textContent = `Included note ${model.getAttribute('noteId') ?? ''}`;
          dom.title = 'Open the included note';
          return dom;
        });
        writer.insert(writer.createPositionAt(section, 0), label);
        return toWidget(section, writer, { label: 'included note' });
      },
    });
  }
}

/**
 * A toolbar button for internal links: it types "@" (after a space where needed, as the mention feed only
 * starts at a word boundary), which opens the note search.
 */
class InternalLinkButton extends Plugin {
  init() {
    const editor = this.editor;
    editor.ui.componentFactory.add('internalLink', (locale) => {
      const button = new ButtonView(locale);
      button.set({
        label: 'Link to a note',
        keystroke: 'Ctrl+L',
        icon: '<svg viewBox="0 0 20 20" xmlns="http://www.w3.org/2000/svg"><path d="M10 2.5a7.5 7.5 0 1 0 3.9 13.9l-.8-1.3A6 6 0 1 1 16 10v.8a1.3 1.3 0 0 1-2.6 0V6.5h-1.5v.7a3.8 3.8 0 1 0 .4 5.5 2.8 2.8 0 0 0 5.2-1.9V10A7.5 7.5 0 0 0 10 2.5Zm0 9.8a2.3 2.3 0 1 1 0-4.6 2.3 2.3 0 0 1 0 4.6Z"/></svg>',
        tooltip: true,
      });
      button.bind('isEnabled').to(editor, 'isReadOnly', (readOnly) => !readOnly);
      this.listenTo(button, 'execute', () => this.start());
      return button;
    });
    // Trilium's shortcut for a link to a note.
    editor.keystrokes.set('Ctrl+L', (data, cancel) => {
      if (editor.isReadOnly) return;
      this.start();
      cancel();
    });
  }

  start() {
    const editor = this.editor;
    const before = editor.model.document.selection.getFirstPosition()?.nodeBefore;
    const glued = before?.is('$text') && !/\s$/.test(before.data);
    editor.execute('insertText', { text: glued ? ' @' : '@' });
    editor.editing.view.focus();
  }
}

/**
 * Internal links: `@` searches notes (searchNotes) and inserts Trilium's reference link; a click on any
 * `#root/…` link opens that note (openNote) instead of following the address.
 */
class NoteLinks extends Plugin {
  static get requires() {
    return [Mention, Link];
  }

  init() {
    const editor = this.editor;
    const openNote = editor.config.get('canopy.openNote');

    // Choosing a note in the `@` list writes a reference link instead of CKEditor's mention markup.
    editor.commands.get('mention').on(
      'execute',
      (evt, [options]) => {
        const note = options.mention;
        if (!note?.noteId) return;
        evt.stop();
        editor.model.change((writer) => {
          const link = writer.createText(note.title || note.noteId, {
            linkHref: `#root/${note.noteId}`,
            linkIsReferenceLink: true,
          });
          const range = editor.model.insertContent(link, options.range);
          const space = writer.createText(' ');
          writer.insert(space, range.end);
          writer.setSelection(writer.createPositionAfter(space));
        });
      },
      { priority: 'high' },
    );

    if (!openNote) return;
    // Ctrl/Cmd+click and the "open link" button of the link balloon.
    const linkEditing = editor.plugins.get('LinkEditing');
    linkEditing._registerLinkOpener?.((href) => {
      const noteId = noteIdOfHref(href);
      if (noteId) openNote(noteId);
      return !!noteId;
    });
    editor.ui.on('ready', () => {
      const root = editor.ui.getEditableElement();
      const onClick = (event) => {
        // Ctrl+click (Cmd+click on a Mac) goes to the link opener above, through CKEditor.
        if (event.button !== 0 || (env.isMac ? event.metaKey : event.ctrlKey)) return;
        const link = event.target.closest?.('a[href]');
        const section = event.target.closest?.('.canopy-include-note') && event.target.closest('section.include-note');
        const noteId = link ? noteIdOfHref(link.getAttribute('href')) : section?.getAttribute('data-note-id');
        if (!noteId) return;
        event.preventDefault();
        openNote(noteId);
      };
      // The listener goes with the editable element, which mountText's destroy removes.
      root.addEventListener('click', onClick);
    });
  }
}

/** A row of the `@` list: the note's title, its path under it. */
const mentionItem = (note) => {
  const item = document.createElement('span');
  item.className = 'canopy-mention-item';
  const title = document.createElement('span');
  title.className = 'canopy-mention-title';
  title.textContent = note.title;
  item.append(title);
  if (note.path) {
    const path = document.createElement('span');
    path.className = 'canopy-mention-path';
    path.textContent = note.path;
    item.append(path);
  }
  return item;
};

function config({ html, searchNotes, openNote, uploadImage, showNotice }) {
  return {
    licenseKey: 'GPL',
    initialData: html ?? '',
    placeholder: 'Write here. Type @ to link to another note.',
    // The GPL edition shows CKEditor's logo; keep it small, inside the bottom corner of the editable area.
    ui: { poweredBy: { position: 'inside', side: 'right', label: null } },
    plugins: [
      Essentials, Paragraph, Heading, Autoformat, TextTransformation, PasteFromOffice, RemoveFormat,
      Bold, Italic, Underline, Strikethrough, Code, Subscript, Superscript, FontColor, FontBackgroundColor, FontSize,
      Link, AutoLink, List, ListProperties, TodoList, Indent, IndentBlock, BlockQuote, HorizontalLine,
      Table, TableToolbar, TableProperties, TableCellProperties, TableColumnResize, TableCaption,
      CodeBlock, Image, LinkImage, ImageCaption, ImageResize, ImageStyle, ImageTextAlternative, ImageToolbar, ImageUpload,
      FindAndReplace, SpecialCharacters, SpecialCharactersEssentials, Mention,
      GeneralHtmlSupport, HtmlComment, InertEmbeds, IncludeNote, NoteLinks, InternalLinkButton, Notices, uploadAdapterPlugin,
    ],
    canopy: { searchNotes, openNote, uploadImage, showNotice },
    toolbar: {
      items: [
        'undo', 'redo', '|', 'heading', '|',
        'bold', 'italic', 'underline', 'strikethrough', 'code', 'subscript', 'superscript', '|',
        'link', 'internalLink', '|',
        'bulletedList', 'numberedList', 'todoList', 'outdent', 'indent', '|',
        'blockQuote', 'insertTable', 'codeBlock', 'horizontalLine', 'uploadImage', '|',
        'fontSize', 'fontColor', 'fontBackgroundColor', 'removeFormat', '|', 'findAndReplace', 'specialCharacters',
      ],
    },
    // Trilium's headings: the note title is the h1, so the body starts at h2.
    heading: {
      options: [
        { model: 'paragraph', title: 'Paragraph', class: 'ck-heading_paragraph' },
        { model: 'heading2', view: 'h2', title: 'Heading 2', class: 'ck-heading_heading2' },
        { model: 'heading3', view: 'h3', title: 'Heading 3', class: 'ck-heading_heading3' },
        { model: 'heading4', view: 'h4', title: 'Heading 4', class: 'ck-heading_heading4' },
        { model: 'heading5', view: 'h5', title: 'Heading 5', class: 'ck-heading_heading5' },
        { model: 'heading6', view: 'h6', title: 'Heading 6', class: 'ck-heading_heading6' },
      ],
    },
    link: {
      defaultProtocol: 'https://',
      decorators: {
        // `linkIsReferenceLink` in the model: Trilium's link that shows the target note's title.
        isReferenceLink: { mode: 'manual', label: 'Reference link (shows the note title)', classes: 'reference-link' },
      },
    },
    mention: {
      feeds: [
        {
          marker: '@',
          minimumCharacters: 0,
          feed: async (query) => {
            if (!searchNotes) return [];
            try {
              return (await searchNotes(query)).map((note) => ({ ...note, id: `@${note.noteId}`, text: note.title }));
            } catch (error) {
              showNotice(`Notes could not be searched: ${error?.message ?? error}`);
              return [];
            }
          },
          itemRenderer: mentionItem,
        },
      ],
    },
    // Every language Trilium knows, so no code block loses its class, in Trilium's naming of the class.
    // Trilium's default ones first (Plain text, the default for a new block, leads), then the rest.
    codeBlock: {
      languages: [...LANGUAGES.filter((l) => l.common), ...LANGUAGES.filter((l) => !l.common)].map(({ mime, label }) => ({
        language: codeBlockLanguage(mime),
        label,
      })),
    },
    list: { properties: { styles: true, startIndex: true, reversed: true } },
    table: {
      contentToolbar: ['tableColumn', 'tableRow', 'mergeTableCells', 'tableProperties', 'tableCellProperties', 'toggleTableCaption'],
      // CKEditor drops a border style equal to its default when loading; with no defaults, a table's
      // borders are written back exactly as Trilium wrote them.
      tableProperties: { defaultProperties: { borderStyle: '', borderColor: '', borderWidth: '' } },
      tableCellProperties: { defaultProperties: { borderStyle: '', borderColor: '', borderWidth: '' } },
    },
    image: {
      styles: { options: ['inline', 'alignBlockLeft', 'alignCenter', 'alignBlockRight', 'alignLeft', 'alignRight', 'block', 'side'] },
      resizeOptions: [
        { name: 'resizeImage:original', value: null, icon: 'original' },
        { name: 'resizeImage:25', value: '25', icon: 'small' },
        { name: 'resizeImage:50', value: '50', icon: 'medium' },
        { name: 'resizeImage:75', value: '75', icon: 'large' },
      ],
      toolbar: [
        'imageStyle:inline', 'imageStyle:alignLeft', 'imageStyle:alignCenter', 'imageStyle:alignRight', '|',
        'resizeImage:25', 'resizeImage:50', 'resizeImage:original', '|', 'toggleImageCaption', 'imageTextAlternative', 'linkImage',
      ],
      upload: { types: ['jpeg', 'png', 'gif', 'bmp', 'webp', 'tiff', 'svg+xml', 'avif'] },
    },
    // Keep every element, attribute, class and style the editor has no feature for (Trilium's math, marks,
    // keyboard keys, its table and image styling, anything imported): they are written back unchanged.
    htmlSupport: {
      allow: [{ name: /^[a-zA-Z][\w-]*$/, attributes: true, classes: true, styles: true }],
    },
  };
}

export async function mountText(element, { html = '', readOnly = false, onChange, searchNotes, openNote, uploadImage } = {}) {
  const root = document.createElement('div');
  root.className = 'canopy-text';
  const toolbarSlot = document.createElement('div');
  toolbarSlot.className = 'canopy-text-toolbar';
  const editable = document.createElement('div');
  editable.className = 'canopy-text-editable';
  const notice = document.createElement('div');
  notice.className = 'canopy-text-notice';
  notice.setAttribute('role', 'alert');
  notice.hidden = true;
  let noticeTimer;
  const showNotice = (message) => {
    notice.textContent = message;
    notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => (notice.hidden = true), 10_000);
  };
  notice.addEventListener('click', () => (notice.hidden = true));
  root.append(toolbarSlot, notice, editable);
  element.append(root);

  let editor;
  try {
    editor = await DecoupledEditor.create(editable, config({ html, searchNotes, openNote, uploadImage, showNotice }));
  } catch (error) {
    root.remove();
    throw error;
  }
  toolbarSlot.append(editor.ui.view.toolbar.element);
  if (readOnly) {
    editor.enableReadOnlyMode('canopy');
    root.classList.add('read-only');
  }

  // Only the user's edits count: the initial content is in before this listener, setData runs with
  // `loading` set.
  let loading = false;
  editor.model.document.on('change:data', () => {
    if (!loading && onChange) onChange();
  });

  return {
    // Without CKEditor's random `data-list-item-id` on every <li>, which Trilium never writes.
    getData: () => editor.getData({ skipListItemIds: true }),
    /**
     * A version saved elsewhere. CKEditor rebuilds its model from the data, which puts the caret at
     * the start: the selection is kept as paths into the model and put back where they still lead
     * (clamped to the text there), so the caret stays where it was.
     */
    setData(value) {
      const model = editor.model;
      const kept = Array.from(model.document.selection.getRanges(), (range) => [range.start.path, range.end.path]);
      const backward = model.document.selection.isBackward;
      loading = true;
      try {
        editor.setData(value ?? '');
        const root = model.document.getRoot();
        const ranges = kept.map(([start, end]) => model.createRange(positionAt(model, root, start), positionAt(model, root, end)));
        if (ranges.length) {
          model.change((writer) => writer.setSelection(ranges, { backward }));
        }
      } catch (_) {
        // The old place is gone in the new content: the caret stays where CKEditor put it.
      } finally {
        loading = false;
      }
    },
    focus: () => editor.editing.view.focus(),
    async destroy() {
      clearTimeout(noticeTimer);
      toolbarSlot.replaceChildren();
      await editor.destroy();
      root.remove();
    },
  };
}

/**
 * The model position at `path` in `root`, or the nearest one that exists: each step clamped to what
 * the new content has there, ending in a text offset or between elements.
 */
function positionAt(model, root, path) {
  let parent = root;
  const steps = [];
  for (let i = 0; i < path.length; i++) {
    const last = i === path.length - 1;
    const offset = Math.min(path[i], parent.maxOffset);
    if (last) {
      steps.push(offset);
      break;
    }
    const child = parent.getChild(parent.offsetToIndex(offset));
    if (!child || !child.is('element')) {
      steps.push(offset);
      break;
    }
    steps.push(offset);
    parent = child;
  }
  const position = model.createPositionFromPath(root, steps);
  // A caret must be where text may go; otherwise the nearest such place.
  return model.schema.getNearestSelectionRange(position)?.start ?? position;
}
