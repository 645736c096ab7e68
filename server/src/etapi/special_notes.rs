//! Calendar and inbox notes: `GET /calendar/{days,weeks,months,years}/…`, `GET /inbox/…`.
//! Missing year/month/day notes are created under the calendar root (the note labelled
//! `#calendarRoot`, itself created under `root` if missing), titled and labelled as
//! Trilium's `date_notes.js` does.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{Datelike, NaiveDate};

use super::error::{EtapiError, EtapiResult};
use super::graph::note_json;
use super::wire::NoteJson;
use super::EtapiState;
use crate::db::graph::Graph;
use crate::db::tree::{self, NewNote};
use crate::db::WriteTx;
use crate::domain::attributes::save as save_attribute;
use crate::entities::Attribute;

pub fn routes() -> Router<EtapiState> {
    Router::new()
        .route("/inbox/{date}", get(inbox))
        .route("/calendar/days/{date}", get(day))
        .route("/calendar/weeks/{date}", get(week))
        .route("/calendar/months/{month}", get(month))
        .route("/calendar/years/{year}", get(year))
}

const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS: [&str; 12] = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
    "December",
];

fn digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

fn parse_date(date: &str) -> EtapiResult<NaiveDate> {
    let shaped = date.len() == 10 && digits(&date[0..4]) && &date[4..5] == "-" && digits(&date[5..7]) && &date[7..8] == "-" && digits(&date[8..10]);
    shaped
        .then(|| NaiveDate::parse_from_str(date, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| EtapiError::bad_request("DATE_INVALID", format!("Date \"{date}\" is not valid.")))
}

/// A live note carrying `#name` (= `value` if given); with `within`, only in that subtree.
fn note_with_label(tx: &WriteTx<'_>, name: &str, value: Option<&str>, within: Option<&str>) -> EtapiResult<Option<String>> {
    let attrs = tree::labels_named(tx.conn(), name)?;
    let mut g = Graph::new(tx.conn());
    let scope = match within {
        Some(root) => Some(g.subtree(root)?),
        None => None,
    };
    for a in attrs {
        if value.is_some_and(|v| v != a.value) || g.note(&a.note_id)?.is_none() {
            continue;
        }
        if scope.as_ref().is_none_or(|s| s.contains(&a.note_id)) {
            return Ok(Some(a.note_id));
        }
    }
    Ok(None)
}

fn add_attr(tx: &mut WriteTx<'_>, note_id: &str, attr_type: &str, name: &str, value: &str) -> EtapiResult<()> {
    save_attribute(tx, Attribute::new(note_id, attr_type, name, value), None)?;
    Ok(())
}

fn create_child(tx: &mut WriteTx<'_>, parent: &str, title: &str) -> EtapiResult<String> {
    let (note, _) = tree::create_note(tx, NewNote::text(parent, title, ""))?;
    Ok(note.note_id)
}

/// The root note's owned label or relation value.
fn owned_value(tx: &WriteTx<'_>, note_id: &str, attr_type: &str, name: &str) -> EtapiResult<Option<String>> {
    let mut g = Graph::new(tx.conn());
    Ok(g.owned_attributes(note_id)?.into_iter().find(|a| a.attr_type == attr_type && a.name == name).map(|a| a.value))
}

fn template_for(tx: &mut WriteTx<'_>, root: &str, note_id: &str, relation: &str) -> EtapiResult<()> {
    if let Some(target) = owned_value(tx, root, "relation", relation)? {
        add_attr(tx, note_id, "relation", "template", &target)?;
    }
    Ok(())
}

fn calendar_root(tx: &mut WriteTx<'_>) -> EtapiResult<String> {
    if let Some(id) = note_with_label(tx, "calendarRoot", None, None)? {
        return Ok(id);
    }
    let id = create_child(tx, "root", "Calendar")?;
    add_attr(tx, &id, "label", "calendarRoot", "")?;
    add_attr(tx, &id, "label", "sorted", "")?;
    Ok(id)
}

fn year_note(tx: &mut WriteTx<'_>, root: &str, year: &str) -> EtapiResult<String> {
    if let Some(id) = note_with_label(tx, "yearNote", Some(year), Some(root))? {
        return Ok(id);
    }
    let id = create_child(tx, root, year)?;
    add_attr(tx, &id, "label", "yearNote", year)?;
    add_attr(tx, &id, "label", "sorted", "")?;
    template_for(tx, root, &id, "yearTemplate")?;
    Ok(id)
}

/// `month`: `YYYY-MM`.
fn month_note(tx: &mut WriteTx<'_>, root: &str, month: &str) -> EtapiResult<String> {
    if let Some(id) = note_with_label(tx, "monthNote", Some(month), Some(root))? {
        return Ok(id);
    }
    let number = &month[5..7];
    let name = MONTHS[number.parse::<usize>().unwrap_or(1).clamp(1, 12) - 1];
    let pattern = owned_value(tx, root, "label", "monthPattern")?.filter(|p| !p.is_empty());
    let title = pattern
        .unwrap_or_else(|| "{monthNumberPadded} - {month}".into())
        .replace("{shortMonth3}", &name[..3])
        .replace("{shortMonth4}", &name[..name.len().min(4)])
        .replace("{monthNumberPadded}", number)
        .replace("{month}", name);
    let year = year_note(tx, root, &month[..4])?;
    let id = create_child(tx, &year, &title)?;
    add_attr(tx, &id, "label", "monthNote", month)?;
    add_attr(tx, &id, "label", "sorted", "")?;
    template_for(tx, root, &id, "monthTemplate")?;
    Ok(id)
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 100, n % 10) {
        (11..=13, _) => "th",
        (_, 1) => "st",
        (_, 2) => "nd",
        (_, 3) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn day_note(tx: &mut WriteTx<'_>, date: NaiveDate) -> EtapiResult<String> {
    let root = calendar_root(tx)?;
    let date_str = date.format("%Y-%m-%d").to_string();
    if let Some(id) = note_with_label(tx, "dateNote", Some(&date_str), Some(&root))? {
        return Ok(id);
    }
    let month = month_note(tx, &root, &date_str[..7])?;
    let weekday = DAYS[date.weekday().num_days_from_sunday() as usize];
    let pattern = owned_value(tx, &root, "label", "datePattern")?.filter(|p| !p.is_empty());
    let title = pattern
        .unwrap_or_else(|| "{dayInMonthPadded} - {weekDay}".into())
        .replace("{ordinal}", &ordinal(date.day()))
        .replace("{dayInMonthPadded}", &date_str[8..10])
        .replace("{isoDate}", &date_str)
        .replace("{weekDay3}", &weekday[..3])
        .replace("{weekDay2}", &weekday[..2])
        .replace("{weekDay}", weekday);
    let id = create_child(tx, &month, &title)?;
    add_attr(tx, &id, "label", "dateNote", &date_str)?;
    template_for(tx, &root, &id, "dateTemplate")?;
    Ok(id)
}

async fn respond(
    state: &EtapiState,
    f: impl FnOnce(&mut WriteTx<'_>) -> EtapiResult<String> + Send + 'static,
) -> EtapiResult<Json<NoteJson>> {
    let json = state
        .write(|tx| {
            let id = f(tx)?;
            note_json(tx.conn(), &id)
        })
        .await?;
    Ok(Json(json))
}

async fn inbox(State(state): State<EtapiState>, Path(date): Path<String>) -> EtapiResult<Json<NoteJson>> {
    let date = parse_date(&date)?;
    respond(&state, move |tx| match note_with_label(tx, "inbox", None, None)? {
        Some(id) => Ok(id),
        None => day_note(tx, date),
    })
    .await
}

async fn day(State(state): State<EtapiState>, Path(date): Path<String>) -> EtapiResult<Json<NoteJson>> {
    let date = parse_date(&date)?;
    respond(&state, move |tx| day_note(tx, date)).await
}

/// The day note of the week's Monday.
async fn week(State(state): State<EtapiState>, Path(date): Path<String>) -> EtapiResult<Json<NoteJson>> {
    let date = parse_date(&date)?;
    let monday = date - chrono::Days::new(date.weekday().num_days_from_monday() as u64);
    respond(&state, move |tx| day_note(tx, monday)).await
}

async fn month(State(state): State<EtapiState>, Path(month): Path<String>) -> EtapiResult<Json<NoteJson>> {
    let ok = month.len() == 7
        && digits(&month[..4])
        && &month[4..5] == "-"
        && digits(&month[5..7])
        && (1..=12).contains(&month[5..7].parse::<u32>().unwrap_or(0));
    if !ok {
        return Err(EtapiError::bad_request("MONTH_INVALID", format!("Month \"{month}\" is not valid.")));
    }
    respond(&state, move |tx| {
        let root = calendar_root(tx)?;
        month_note(tx, &root, &month)
    })
    .await
}

async fn year(State(state): State<EtapiState>, Path(year): Path<String>) -> EtapiResult<Json<NoteJson>> {
    if !(year.len() == 4 && digits(&year)) {
        return Err(EtapiError::bad_request("YEAR_INVALID", format!("Year \"{year}\" is not valid.")));
    }
    respond(&state, move |tx| {
        let root = calendar_root(tx)?;
        year_note(tx, &root, &year)
    })
    .await
}
