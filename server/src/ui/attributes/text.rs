//! Trilium's attribute text syntax, as its attribute editor reads it: `#label`, `#label=value`,
//! `#label(inheritable)=value`, `~relation=target`, values with spaces in `"…"`, `'…'` or `` `…` ``,
//! `\` escaping the next character. A relation's target is a note id, optionally written `@noteId` (as
//! the picker inserts it) or as a note path `#root/…/noteId` (as Trilium's editor inserts it).
//!
//! Only the structure is checked here; names are validated by the domain layer, the one place for that.
use crate::domain::attributes::{AttributeKind, NewAttribute};

/// A syntax error, worded for the person who typed the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SyntaxError(pub String);

#[derive(Debug, PartialEq, Eq)]
enum Token {
    /// A word as typed, after unquoting; `quoted` tells a quoted `"#x"` value from a `#x` attribute.
    Word { text: String, quoted: bool },
    Equals,
    Open,
    Close,
}

fn lex(input: &str) -> Result<Vec<Token>, SyntaxError> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = input.chars();
    let finish = |word: &mut String, in_word: &mut bool, tokens: &mut Vec<Token>| {
        if *in_word {
            tokens.push(Token::Word { text: std::mem::take(word), quoted: false });
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                word.push(chars.next().unwrap_or('\\'));
                in_word = true;
            }
            '"' | '\'' | '`' => {
                finish(&mut word, &mut in_word, &mut tokens);
                let mut quoted = String::new();
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('\\') => quoted.push(chars.next().unwrap_or('\\')),
                        Some(other) => quoted.push(other),
                        None => return Err(SyntaxError(format!("A value starting with {c} is not closed."))),
                    }
                }
                tokens.push(Token::Word { text: quoted, quoted: true });
            }
            '=' | '(' | ')' => {
                finish(&mut word, &mut in_word, &mut tokens);
                tokens.push(match c {
                    '=' => Token::Equals,
                    '(' => Token::Open,
                    _ => Token::Close,
                });
            }
            c if c.is_whitespace() => finish(&mut word, &mut in_word, &mut tokens),
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    finish(&mut word, &mut in_word, &mut tokens);
    Ok(tokens)
}

/// The attributes written in `input`, in order. Nothing in `input` is an error (nothing to add).
pub fn parse(input: &str) -> Result<Vec<NewAttribute>, SyntaxError> {
    let tokens = lex(input)?;
    let mut attributes = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let (kind, name) = match &tokens[i] {
            Token::Word { text, quoted: false } if text.starts_with('#') => (AttributeKind::Label, &text[1..]),
            Token::Word { text, quoted: false } if text.starts_with('~') => (AttributeKind::Relation, &text[1..]),
            Token::Word { text, .. } => {
                return Err(SyntaxError(format!(
                    "\"{text}\" is not an attribute: start a label with # and a relation with ~."
                )))
            }
            Token::Equals => return Err(SyntaxError("\"=\" must follow a label or relation name.".into())),
            Token::Open | Token::Close => {
                return Err(SyntaxError("Parentheses may only hold \"inheritable\", after a name.".into()))
            }
        };
        let sigil = if kind == AttributeKind::Label { '#' } else { '~' };
        i += 1;
        let mut is_inheritable = false;
        if tokens.get(i) == Some(&Token::Open) {
            match (tokens.get(i + 1), tokens.get(i + 2)) {
                (Some(Token::Word { text, .. }), Some(Token::Close)) if text == "inheritable" => {
                    is_inheritable = true;
                    i += 3;
                }
                _ => {
                    return Err(SyntaxError(format!(
                        "After {sigil}{name}, only \"(inheritable)\" may stand in parentheses."
                    )))
                }
            }
        }
        let value = if tokens.get(i) == Some(&Token::Equals) {
            match tokens.get(i + 1) {
                Some(Token::Word { text, .. }) => {
                    i += 2;
                    Some(text.clone())
                }
                _ => return Err(SyntaxError(format!("{sigil}{name}= has no value."))),
            }
        } else {
            None
        };
        let value = match (kind, value) {
            (AttributeKind::Label, value) => value.unwrap_or_default(),
            (AttributeKind::Relation, Some(target)) => relation_target(&target),
            (AttributeKind::Relation, None) => {
                return Err(SyntaxError(format!("Relation ~{name} needs a target note: ~{name}=@noteId.")))
            }
        };
        attributes.push(NewAttribute { kind, name: name.to_owned(), value, is_inheritable });
    }
    Ok(attributes)
}

/// `@noteId`, `#root/parent/noteId` or a bare note id: the note id.
fn relation_target(target: &str) -> String {
    let path = target.strip_prefix('@').or_else(|| target.strip_prefix('#')).unwrap_or(target);
    path.rsplit('/').next().unwrap_or(path).to_owned()
}
