//! The words around a search's matches in a note's plain text: what a result shows under its title.
//! Matching folds case and diacritics as the search does ([`super::normalize`]) but the snippet keeps
//! the note's own characters. It is plain text split into parts, the matched ones marked: the page
//! renders each part as text, so nothing in a note becomes markup.

use super::normalize;

/// One piece of a snippet; `marked` when it is a matched word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub text: String,
    pub marked: bool,
}

/// About this many characters of context, split around the first match.
const WIDTH: usize = 160;

/// The context of the first match of any token in `text`, with every match in it marked; `None`
/// when no token occurs.
pub fn snippet(text: &str, tokens: &[String]) -> Option<Vec<Part>> {
    let original: Vec<char> = collapse_whitespace(text).chars().collect();
    // Folded characters and, for each, the original character it came from.
    let mut folded: Vec<char> = Vec::with_capacity(original.len());
    let mut origin: Vec<usize> = Vec::with_capacity(original.len());
    let mut buf = [0u8; 4];
    for (i, c) in original.iter().enumerate() {
        if c.is_ascii() {
            folded.push(c.to_ascii_lowercase());
            origin.push(i);
            continue;
        }
        for f in normalize(c.encode_utf8(&mut buf)).chars() {
            folded.push(f);
            origin.push(i);
        }
    }
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for token in tokens {
        let token: Vec<char> = normalize(token).chars().collect();
        if token.is_empty() || token.len() > folded.len() {
            continue;
        }
        let mut at = 0;
        while at + token.len() <= folded.len() {
            if folded[at..at + token.len()] == token[..] {
                ranges.push((origin[at], origin[at + token.len() - 1] + 1));
                at += token.len();
            } else {
                at += 1;
            }
        }
    }
    if ranges.is_empty() {
        return None;
    }
    ranges.sort();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    let first = merged[0].0;
    let mut start = first.saturating_sub(WIDTH / 3);
    // Start at a word, not inside one.
    while start > 0 && start < first && !original[start - 1].is_whitespace() {
        start += 1;
    }
    let end = (start + WIDTH).min(original.len()).max(merged[0].1);
    let mut parts = Vec::new();
    let mut push = |text: String, marked: bool| {
        if !text.is_empty() {
            parts.push(Part { text, marked });
        }
    };
    let mut at = start;
    if start > 0 {
        push("…".into(), false);
    }
    for &(s, e) in merged.iter().filter(|(s, _)| *s < end) {
        let s = s.max(at);
        let e = e.min(end);
        push(original[at..s].iter().collect(), false);
        push(original[s..e].iter().collect(), true);
        at = e;
    }
    push(original[at..end].iter().collect(), false);
    if end < original.len() {
        push("…".into(), false);
    }
    Some(parts)
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_matches_in_the_original_characters() {
        let parts = snippet("Die <b>Grüße</b> aus München", &["grusse".into(), "munchen".into()]).unwrap();
        let marked: Vec<&str> = parts.iter().filter(|p| p.marked).map(|p| p.text.as_str()).collect();
        assert_eq!(marked, vec!["München"]);
        let parts = snippet("Ein  GRÜSSE", &["grusse".into()]).unwrap();
        assert_eq!(parts, vec![Part { text: "Ein ".into(), marked: false }, Part { text: "GRÜSSE".into(), marked: true }]);
        assert!(snippet("nothing here", &["absent".into()]).is_none());
        let long = format!("{} needle {}", "word ".repeat(100), "tail ".repeat(100));
        let parts = snippet(&long, &["needle".into()]).unwrap();
        assert_eq!(parts.first().unwrap().text, "…");
        assert_eq!(parts.last().unwrap().text, "…");
        assert!(parts.iter().any(|p| p.marked && p.text == "needle"));
    }
}
