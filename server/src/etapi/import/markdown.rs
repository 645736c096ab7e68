//! Markdown notes in an imported zip (`"format": "markdown"` in the meta file) become the HTML
//! Trilium 0.63.7 stores for them. Trilium parses with `marked` (GitHub-flavoured: tables,
//! strikethrough, task lists, bare-URL autolinks, fenced code classed `language-<info>`, raw HTML
//! passed through, no heading ids, no footnotes), turns an `<h1>` holding the note's title into
//! nothing and any other plain `<h1>` into `<h2>`, then runs its import sanitizer over the result.
//! comrak with the same GFM extensions gives the same elements (newlines between tags differ, and
//! in a loose task list the checkbox sits before the item's `<p>`, not inside it); [`sanitize`] keeps what Trilium's
//! sanitizer keeps, so a `<script>`, an `onerror=` or a `javascript:` link never reaches the note.
//!
//! What Trilium's sanitizer does to a task list is kept too: its allowlist has no `type` or
//! `checked`, so a task item stores a bare `<input disabled>` before the text.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// The HTML a markdown note is stored as, `title` being the note's title.
pub fn render_to_html(md: &str, title: &str) -> String {
    let mut options = comrak::Options::default();
    options.extension.table = true;
    options.extension.strikethrough = true;
    options.extension.tasklist = true;
    options.extension.autolink = true;
    // marked passes raw HTML through; the sanitizer below decides what of it stays.
    options.render.r#unsafe = true;
    let html = comrak::markdown_to_html(md, &options);
    // Before sanitizing, as Trilium does: the sanitizer's heading demotion looks for `<h1`.
    sanitize(&handle_h1(&html, title))
}

static PLAIN_H1: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)<h1>([^<]*)</h1>").expect("regex"));

/// An `<h1>` with only text: gone when it repeats the title (the title shows above the note),
/// otherwise an `<h2>` (a note has one top-level heading, its title).
fn handle_h1(html: &str, title: &str) -> String {
    PLAIN_H1
        .replace_all(html, |c: &Captures<'_>| if title.trim() == c[1].trim() { String::new() } else { format!("<h2>{}</h2>", &c[1]) })
        .into_owned()
}

/// Tags Trilium's import sanitizer lets through (`en-media` is Evernote's).
const TAGS: &[&str] = &[
    "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "p", "a", "ul", "ol", "li", "b", "i", "strong", "em", "strike", "s",
    "del", "abbr", "code", "hr", "br", "div", "table", "thead", "caption", "tbody", "tfoot", "tr", "th", "td", "pre",
    "section", "img", "figure", "figcaption", "span", "label", "input", "details", "summary", "address", "aside",
    "footer", "header", "hgroup", "main", "nav", "dl", "dt", "menu", "bdi", "bdo", "dfn", "kbd", "mark", "q", "time",
    "var", "wbr", "area", "map", "track", "video", "audio", "picture", "ins", "en-media",
];

/// Attributes it keeps, on any tag (plus every `data-*`).
const ATTRIBUTES: &[&str] = &["class", "style", "title", "src", "href", "hash", "disabled", "align", "alt", "center"];

/// URL schemes it keeps in `href`/`src`; relative URLs stay as they are.
const SCHEMES: &[&str] = &[
    "http", "https", "ftp", "ftps", "mailto", "data", "evernote", "file", "facetime", "irc", "gemini", "git", "gopher",
    "imap", "irc6", "jabber", "jar", "lastfm", "ldap", "ldaps", "magnet", "message", "mumble", "nfs", "onenote", "pop",
    "rmi", "s3", "sftp", "skype", "sms", "spotify", "steam", "svn", "udp", "view-source", "vnc", "ws", "wss", "xmpp",
    "jdbc", "slack",
];

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::empty();
    builder
        .tags(TAGS.iter().copied().collect())
        .tag_attributes(HashMap::new())
        .generic_attributes(ATTRIBUTES.iter().copied().collect())
        .generic_attribute_prefixes(HashSet::from(["data-"]))
        .url_schemes(SCHEMES.iter().copied().collect())
        // These go with their content; any other unknown tag goes, its text stays.
        .clean_content_tags(HashSet::from(["script", "style", "textarea", "option"]))
        .link_rel(None)
        .strip_comments(true);
    builder
});

static HEADING_TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)<(/?)h([1-6])\b").expect("regex"));

/// Imported HTML as Trilium's import sanitizer leaves it. Headings are demoted first, the way
/// Trilium does it, so that no `<h1>` stays: if `<h1` occurs, every h1 becomes h2; if `<h2` also
/// occurs, every h2 becomes h3; and so on while the levels keep occurring (up to h5 → h6).
pub fn sanitize(html: &str) -> String {
    let lower = html.to_lowercase();
    let demoted = (1..6).take_while(|i| lower.contains(&format!("<h{i}"))).count();
    let html = if demoted == 0 {
        std::borrow::Cow::Borrowed(html)
    } else {
        HEADING_TAG.replace_all(html, |c: &Captures<'_>| {
            let level: usize = c[2].parse().expect("one digit");
            let level = if level <= demoted { level + 1 } else { level };
            format!("<{}h{level}", &c[1])
        })
    };
    SANITIZER.clean(&html).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_heading_dropped_other_demoted() {
        assert_eq!(render_to_html("# Doc\n\ntext\n\n# Other\n", "Doc"), "\n<p>text</p>\n<h2>Other</h2>\n");
        // An h1 with markup is not a plain h1: the sanitizer demotes it, and the h2 below it.
        assert_eq!(render_to_html("# A *b*\n\n## C\n\n### D", "Doc"), "<h2>A <em>b</em></h2>\n<h3>C</h3>\n<h4>D</h4>\n");
    }

    #[test]
    fn unsafe_html_goes() {
        let html = render_to_html(
            "<script>alert(1)</script>\n\n<img src=\"x.png\" onerror=\"alert(2)\">\n\n[bad](javascript:alert(3)) <a href=\"javascript:alert(4)\" onclick=\"x()\">a</a> <span style=\"color: red\" data-x=\"1\">s</span>\n",
            "Doc",
        );
        assert!(!html.contains("script") && !html.contains("alert"), "{html}");
        assert!(html.contains("<img src=\"x.png\">"), "{html}");
        assert!(html.contains("<span style=\"color: red\" data-x=\"1\">s</span>"), "{html}");
    }
}
