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
    const { src } = await this.uploadImage(file);
    if (!src) throw new Error('the upload returned no image address');
    return { default: src };
  }

  abort() {}
}

function uploadAdapterPlugin(editor) {
  const uploadImage = editor.config.get('canopy.uploadImage');
  editor.plugins.get('FileRepository').createUploadAdapter = (loader) =>
    uploadImage ? new UploadAdapter(loader, uploadImage) : { upload: () => Promise.reject(new Error('images cannot be added here')), abort() {} };
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
          noteId: view.getAttribute('data-note-id') ?? '',
          boxSize: view.getAttribute('data-box-size') ?? '',
        }),
      converterPriority: 'high',
    });
    const attributes = (model, extraClass = '') => {
      const boxSize = model.getAttribute('boxSize');
      return {
        class: `include-note${extraClass && boxSize ? ` ${extraClass}${boxSize}` : ''}`,
        'data-note-id': model.getAttribute('noteId'),
        'data-box-size': boxSize,
      };
    };
    conversion.for('dataDowncast').elementToElement({
      model: 'includeNote',
      view: (model, { writer }) => writer.createContainerElement('section', attributes(model)),
    });
    conversion.for('editingDowncast').elementToElement({
      model: 'includeNote',
      view: (model, { writer }) => {
        const section = writer.createContainerElement('section', attributes(model, 'box-size-'));
        const label = writer.createUIElement('div', { class: 'canopy-include-note' }, function (domDocument) {
          const dom = this.toDomElement(domDocument);
          dom.textContent = `Included note ${model.getAttribute('noteId')}`;
          dom.title = 'Open the included note';
          return dom;
        });
        writer.insert(writer.createPositionAt(section, 0), label);
        return toWidget(section, writer, { label: 'included note' });
      },
    });
  }
}

/** A toolbar button for internal links: it types "@", which opens the note search of the mention feed. */
class InternalLinkButton extends Plugin {
  init() {
    const editor = this.editor;
    editor.ui.componentFactory.add('internalLink', (locale) => {
      const button = new ButtonView(locale);
      button.set({
        label: 'Link to a note (@)',
        icon: '<svg viewBox="0 0 20 20" xmlns="http://www.w3.org/2000/svg"><path d="M10 2.5a7.5 7.5 0 1 0 3.9 13.9l-.8-1.3A6 6 0 1 1 16 10v.8a1.3 1.3 0 0 1-2.6 0V6.5h-1.5v.7a3.8 3.8 0 1 0 .4 5.5 2.8 2.8 0 0 0 5.2-1.9V10A7.5 7.5 0 0 0 10 2.5Zm0 9.8a2.3 2.3 0 1 1 0-4.6 2.3 2.3 0 0 1 0 4.6Z"/></svg>',
        tooltip: true,
      });
      button.bind('isEnabled').to(editor, 'isReadOnly', (readOnly) => !readOnly);
      this.listenTo(button, 'execute', () => {
        editor.model.change((writer) => {
          editor.model.insertContent(writer.createText('@', editor.model.document.selection.getAttributes()));
        });
        editor.editing.view.focus();
      });
      return button;
    });
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
        if (event.button !== 0) return;
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

const mentionItem = (note) => {
  const button = document.createElement('span');
  button.className = 'canopy-mention-item';
  const title = document.createElement('span');
  title.className = 'canopy-mention-title';
  title.textContent = note.title;
  button.append(title);
  if (note.path) {
    const path = document.createElement('span');
    path.className = 'canopy-mention-path';
    path.textContent = note.path;
    button.append(path);
  }
  return button;
};

function config({ html, searchNotes, openNote, uploadImage }) {
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
      CodeBlock, Image, ImageCaption, ImageResize, ImageStyle, ImageTextAlternative, ImageToolbar, ImageUpload,
      FindAndReplace, SpecialCharacters, SpecialCharactersEssentials, Mention,
      GeneralHtmlSupport, HtmlComment, IncludeNote, NoteLinks, InternalLinkButton, uploadAdapterPlugin,
    ],
    canopy: { searchNotes, openNote, uploadImage },
    toolbar: {
      items: [
        'undo', 'redo', '|', 'heading', '|',
        'bold', 'italic', 'underline', 'strikethrough', 'code', 'subscript', 'superscript', '|',
        'link', 'internalLink', '|',
        'bulletedList', 'numberedList', 'todoList', 'outdent', 'indent', '|',
        'blockQuote', 'insertTable', 'codeBlock', 'horizontalLine', 'uploadImage', '|',
        'fontSize', 'fontColor', 'fontBackgroundColor', 'removeFormat', '|', 'findAndReplace', 'specialCharacters',
      ],
      shouldNotGroupWhenFull: false,
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
          feed: async (query) =>
            searchNotes
              ? (await searchNotes(query)).map((note) => ({ ...note, id: `@${note.noteId}`, text: note.title }))
              : [],
          itemRenderer: mentionItem,
        },
      ],
    },
    // Every language Trilium knows, so no code block loses its class; Trilium's naming of the class.
    codeBlock: {
      languages: LANGUAGES.map(({ mime, label }) => ({ language: codeBlockLanguage(mime), label })),
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
        'resizeImage:25', 'resizeImage:50', 'resizeImage:original', '|', 'toggleImageCaption', 'imageTextAlternative',
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
  root.append(toolbarSlot, editable);
  element.append(root);

  let editor;
  try {
    editor = await DecoupledEditor.create(editable, config({ html, searchNotes, openNote, uploadImage }));
  } catch (error) {
    root.remove();
    throw error;
  }
  toolbarSlot.append(editor.ui.view.toolbar.element);
  if (readOnly) {
    editor.enableReadOnlyMode('canopy');
    root.classList.add('read-only');
  }

  // Only the user's edits count: loading (initialData, setData) happens with `loading` set.
  let loading = false;
  editor.model.document.on('change:data', () => {
    if (!loading && onChange) onChange();
  });

  return {
    // Without CKEditor's random `data-list-item-id` on every <li>, which Trilium never writes.
    getData: () => editor.getData({ skipListItemIds: true }),
    setData(value) {
      loading = true;
      try {
        editor.setData(value ?? '');
      } finally {
        loading = false;
      }
    },
    focus: () => editor.editing.view.focus(),
    async destroy() {
      toolbarSlot.replaceChildren();
      await editor.destroy();
      root.remove();
    },
  };
}
