//! wasm-bindgen calls into the editors bundle (browser only).
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use crate::note::api::{search_notes, NoteHit};

#[wasm_bindgen(inline_js = r#"
export function loadEditors() { return import('/pkg/editors/editors.js'); }
export function postImage(url, file, token) {
  const headers = { 'Content-Type': file.type || 'application/octet-stream' };
  if (token) headers['X-CSRF-Token'] = token;
  const target = `${url}?name=${encodeURIComponent(file.name || 'image')}`;
  return fetch(target, { method: 'POST', headers, body: file, credentials: 'same-origin' }).then(async (response) => {
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.message || `The image was not stored (HTTP ${response.status}).`);
    return body;
  });
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = loadEditors)]
    fn load_editors() -> Promise;
    #[wasm_bindgen(js_name = postImage)]
    fn post_image(url: &str, file: &JsValue, token: Option<String>) -> Promise;
}

/// A mounted editor (the bundle's handle).
pub struct Editor {
    handle: JsValue,
}

impl Editor {
    pub fn get_data(&self) -> Option<String> {
        self.call("getData", &[]).ok().and_then(|v| v.as_string())
    }

    /// Replaces the content (a version saved elsewhere); not an edit, so no `onChange`.
    pub fn set_data(&self, content: &str) {
        let _ = self.call("setData", &[JsValue::from_str(content)]);
    }

    /// New highlighting for a code note's new language (the text and its undo history stay).
    pub fn set_mime(&self, mime: &str) {
        let _ = self.call("setMime", &[JsValue::from_str(mime)]);
    }

    pub fn destroy(self) {
        let _ = self.call("destroy", &[]);
    }

    fn call(&self, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
        let f: Function = Reflect::get(&self.handle, &JsValue::from_str(method))?.dyn_into()?;
        f.apply(&self.handle, &args.iter().collect::<Array>())
    }
}

async fn module() -> Result<JsValue, String> {
    JsFuture::from(load_editors()).await.map_err(describe)
}

fn describe(e: JsValue) -> String {
    e.as_string()
        .or_else(|| Reflect::get(&e, &JsValue::from_str("message")).ok().and_then(|m| m.as_string()))
        .unwrap_or_else(|| "the editor failed to load".into())
}

fn set(obj: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

/// Calls `module[name](args…)` and waits for the handle it resolves to.
async fn mount(name: &str, element: &web_sys::HtmlElement, options: Object) -> Result<Editor, String> {
    let module = module().await?;
    let f: Function = Reflect::get(&module, &JsValue::from_str(name))
        .map_err(describe)?
        .dyn_into()
        .map_err(|_| format!("the editors bundle has no {name}"))?;
    let result = f.call2(&JsValue::NULL, element, &options).map_err(describe)?;
    let handle = JsFuture::from(Promise::resolve(&result)).await.map_err(describe)?;
    Ok(Editor { handle })
}

/// What a text editor calls back into the page for.
pub struct TextHooks {
    pub on_change: Rc<dyn Fn()>,
    pub open_note: Rc<dyn Fn(String)>,
    /// `POST` target for pasted images.
    pub upload_url: String,
}

pub async fn mount_text(element: &web_sys::HtmlElement, html: &str, hooks: TextHooks) -> Result<Editor, String> {
    let options = Object::new();
    set(&options, "html", &JsValue::from_str(html));
    set(&options, "readOnly", &JsValue::FALSE);
    let on_change = hooks.on_change;
    set(&options, "onChange", &Closure::<dyn Fn()>::new(move || on_change()).into_js_value());
    let open_note = hooks.open_note;
    set(&options, "openNote", &Closure::<dyn Fn(String)>::new(move |id: String| open_note(id)).into_js_value());
    let search = Closure::<dyn Fn(String) -> Promise>::new(|query: String| {
        future_to_promise(async move {
            let hits = search_notes(query).await.map_err(|e| JsValue::from_str(&e.to_string()))?;
            Ok(hits.into_iter().map(|hit| JsValue::from(hit_object(hit))).collect::<Array>().into())
        })
    });
    set(&options, "searchNotes", &search.into_js_value());
    let url = hooks.upload_url;
    let upload = Closure::<dyn Fn(JsValue) -> Promise>::new(move |file: JsValue| post_image(&url, &file, crate::csrf::token()));
    set(&options, "uploadImage", &upload.into_js_value());
    mount("mountText", element, options).await
}

pub async fn mount_code(element: &web_sys::HtmlElement, text: &str, mime: &str, on_change: Rc<dyn Fn()>) -> Result<Editor, String> {
    let options = Object::new();
    set(&options, "text", &JsValue::from_str(text));
    set(&options, "mime", &JsValue::from_str(mime));
    set(&options, "readOnly", &JsValue::FALSE);
    set(&options, "onChange", &Closure::<dyn Fn()>::new(move || on_change()).into_js_value());
    mount("mountCode", element, options).await
}

/// `(mime, label)` of every language the code editor highlights, in Trilium's order.
pub async fn code_languages() -> Result<Vec<(String, String)>, String> {
    let module = module().await?;
    let f: Function = Reflect::get(&module, &JsValue::from_str("codeLanguages"))
        .map_err(describe)?
        .dyn_into()
        .map_err(|_| "the editors bundle has no codeLanguages".to_string())?;
    let list: Array = f.call0(&JsValue::NULL).map_err(describe)?.dyn_into().map_err(|_| "codeLanguages is not a list".to_string())?;
    let field = |item: &JsValue, key: &str| Reflect::get(item, &JsValue::from_str(key)).ok().and_then(|v| v.as_string());
    Ok(list.iter().filter_map(|item| Some((field(&item, "mime")?, field(&item, "label")?))).collect())
}

fn hit_object(hit: NoteHit) -> Object {
    let o = Object::new();
    set(&o, "noteId", &JsValue::from_str(&hit.note_id));
    set(&o, "title", &JsValue::from_str(&hit.title));
    set(&o, "path", &JsValue::from_str(&hit.path));
    o
}
