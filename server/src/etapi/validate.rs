//! Request-body checks with Trilium's rules (`etapi/validators.js` + `validateAndPatch`):
//! every key of the body must be allowed for the method, then each allowed key's value
//! goes through its validators in order; the first failure is the answer.

use rusqlite::Connection;
use serde_json::{Map, Value};

use super::error::{EtapiError, EtapiResult};
use crate::entities::{self, Note, NOTE_TYPES};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The key must be present (Canopy also applies this to missing keys; Trilium only
    /// noticed later and answered 500).
    Mandatory,
    NotNull,
    IsString,
    IsBoolean,
    IsInteger,
    IsNoteId,
    IsNoteType,
    IsAttributeType,
    IsValidEntityId,
    IsLocalDateTime,
    IsUtcDateTime,
}

/// `{key: [checks]}` in Trilium's order.
pub type Rules = &'static [(&'static str, &'static [Check])];

/// The body as a JSON object; anything else is a 400.
pub fn parse_object(body: &[u8]) -> EtapiResult<Map<String, Value>> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| EtapiError::generic(format!("Request body is not valid JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(EtapiError::generic(format!("Request body must be a JSON object, got {}", js_type(&other)))),
    }
}

fn js_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// How JS renders a value inside a template string (`'${obj}'`).
pub fn js_string(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| if i.is_null() { String::new() } else { js_string(i) })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

/// Validates `body` against `rules`; `Mandatory` keys must be present.
pub fn validate(conn: &Connection, body: &Map<String, Value>, rules: Rules) -> EtapiResult<()> {
    for key in body.keys() {
        if !rules.iter().any(|(k, _)| k == key) {
            return Err(EtapiError::property_not_allowed(key));
        }
    }
    for (key, checks) in rules {
        match body.get(*key) {
            None => {
                if checks.contains(&Check::Mandatory) {
                    return Err(EtapiError::validation(key, "mandatory, but not set"));
                }
            }
            Some(v) => {
                for check in *checks {
                    if let Some(problem) = run(conn, *check, v)? {
                        return Err(EtapiError::validation(key, &problem));
                    }
                }
            }
        }
    }
    Ok(())
}

fn run(conn: &Connection, check: Check, v: &Value) -> EtapiResult<Option<String>> {
    if v.is_null() {
        return Ok((check == Check::NotNull).then(|| "cannot be null".to_owned()));
    }
    let shown = js_string(v);
    Ok(match check {
        Check::Mandatory | Check::NotNull => None,
        Check::IsString => (!v.is_string()).then(|| format!("'{shown}' is not a string")),
        Check::IsBoolean => (!v.is_boolean()).then(|| format!("'{shown}' is not a boolean")),
        Check::IsInteger => as_integer(v).is_none().then(|| format!("'{shown}' is not an integer")),
        Check::IsNoteId => match v.as_str() {
            None => Some(format!("'{shown}' is not a valid noteId")),
            Some(id) => match entities::load::<Note>(conn, id)? {
                Some(n) if !n.is_deleted => None,
                _ => Some(format!("Note '{id}' does not exist")),
            },
        },
        Check::IsNoteType => (!v.as_str().is_some_and(|t| NOTE_TYPES.contains(&t))).then(|| {
            format!("'{shown}' is not a valid note type, allowed types are: {}", NOTE_TYPES.join(", "))
        }),
        Check::IsAttributeType => (!matches!(v.as_str(), Some("label") | Some("relation")))
            .then(|| format!("'{shown}' is not a valid attribute type, allowed types are: label, relation")),
        Check::IsValidEntityId => (!v.as_str().is_some_and(is_valid_entity_id)).then(|| {
            format!("'{shown}' is not a valid entityId. Only alphanumeric characters are allowed of length 4 to 32.")
        }),
        // Trilium lets an empty string through (and then uses "now").
        Check::IsLocalDateTime => v.as_str().filter(|s| !s.is_empty()).and_then(local_date_time_problem),
        Check::IsUtcDateTime => v.as_str().filter(|s| !s.is_empty()).and_then(utc_date_time_problem),
    })
}

/// JS `Number.isInteger` (so `5.0` counts), within i64.
pub fn as_integer(v: &Value) -> Option<i64> {
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    let f = v.as_f64()?;
    (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
}

pub fn is_valid_entity_id(s: &str) -> bool {
    (4..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `YYYY-MM-DD HH:MM:SS.sss` at the start of `s` and a real calendar date/time.
fn date_time_prefix_ok(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 23 {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let shape = digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b' '
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..23);
    shape && chrono::NaiveDateTime::parse_from_str(&s[..23], "%Y-%m-%d %H:%M:%S%.3f").is_ok()
}

pub fn local_date_time_problem(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let ok = date_time_prefix_ok(s)
        && b.len() == 28
        && (b[23] == b'+' || b[23] == b'-')
        && b[24..28].iter().all(u8::is_ascii_digit);
    (!ok).then(|| {
        format!("Invalid local date time format in '{s}'. Correct format shoud follow example: '2023-08-21 23:38:51.110+0200'")
    })
}

pub fn utc_date_time_problem(s: &str) -> Option<String> {
    let ok = date_time_prefix_ok(s) && s.len() == 24 && s.ends_with('Z');
    (!ok).then(|| {
        format!("Invalid UTC date time format in '{s}'. Correct format shoud follow example: '2023-08-21 23:38:51.110Z'")
    })
}

/// Typed getters for an already validated body.
pub fn str_of(body: &Map<String, Value>, key: &str) -> Option<String> {
    body.get(key).and_then(Value::as_str).map(str::to_owned)
}
pub fn int_of(body: &Map<String, Value>, key: &str) -> Option<i64> {
    body.get(key).and_then(as_integer)
}
pub fn bool_of(body: &Map<String, Value>, key: &str) -> Option<bool> {
    body.get(key).and_then(Value::as_bool)
}
