//! ETAPI's side of search: the query parameters of `GET /notes` with Trilium's validation messages.
//! The language itself lives in [`crate::domain::search`], shared with the web UI.

use super::error::{EtapiError, EtapiResult};
pub use crate::domain::search::{debug_info, parse_int, SearchParams};

const PARAM_ERROR: &str = "SEARCH_PARAM_VALIDATION_ERROR";

/// Query parameters with Trilium's validation messages.
pub fn params_from_query(pairs: &[(String, String)]) -> EtapiResult<SearchParams> {
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let query = get("search").unwrap_or("");
    if query.trim().is_empty() {
        return Err(EtapiError::bad_request("SEARCH_QUERY_PARAM_MANDATORY", "'search' query parameter is mandatory."));
    }
    let boolean = |name: &str| -> EtapiResult<bool> {
        match get(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(v) => Err(EtapiError::bad_request(
                PARAM_ERROR,
                format!("Cannot parse boolean '{name}' value '{v}, allowed values are 'true' and 'false'."),
            )),
        }
    };
    let descending = match get("orderDirection") {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(v) => {
            return Err(EtapiError::bad_request(
                PARAM_ERROR,
                format!("Cannot parse order direction value '{v}, allowed values are 'asc' and 'desc'."),
            ))
        }
    };
    let limit = match get("limit") {
        None => None,
        Some(v) => Some(parse_int(v).ok_or_else(|| {
            EtapiError::bad_request(PARAM_ERROR, format!("Cannot parse integer 'limit' value '{v}'."))
        })?),
    };
    Ok(SearchParams {
        query: query.to_owned(),
        fast_search: boolean("fastSearch")?,
        include_archived_notes: boolean("includeArchivedNotes")?,
        ancestor_note_id: get("ancestorNoteId").map(str::to_owned),
        ancestor_depth: get("ancestorDepth").map(str::to_owned),
        order_by: get("orderBy").filter(|s| !s.is_empty()).map(str::to_owned),
        descending,
        limit,
        debug: boolean("debug")?,
    })
}
