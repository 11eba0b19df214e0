//! `GET /v2/biometric-validations`: the caller's validations, filtered and
//! paginated with Verifik's query conventions (`where_status`,
//! `in_status[]`, `where>_createdAt`, `page`, `perPage`, `sort`, …).

use axum::Json;
use axum::extract::{RawQuery, State};
use bv_contract::closed_set::UnknownValue;
use bv_contract::{ApiError, ErrorCode};
use bv_store::validations::ListFilter;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::answer::{Failure, db_unavailable};
use crate::auth::Client;
use crate::state::AppState;

const DEFAULT_PER_PAGE: u64 = 20;
/// Deeper pages are refused rather than scanned (and kept within SQL's integer range).
const MAX_PAGE: u64 = 1_000_000;

/// A parsed list query.
#[derive(Debug, PartialEq, Eq)]
pub struct ListQuery {
    pub filter: ListFilter,
    pub page: u64,
    pub per_page: u64,
}

pub async fn list(
    State(state): State<AppState>,
    Client(client): Client,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, Failure> {
    let q = parse(query.as_deref().unwrap_or(""), state.settings.max_per_page)?;
    let (rows, total) = bv_store::bounded(
        state.db_timeout,
        bv_store::validations::list(&state.db, &client, &q.filter, q.page, q.per_page),
    )
    .await
    .map_err(db_unavailable)?;
    let data: Vec<_> = rows.iter().map(bv_store::validations::to_api).collect();
    Ok(Json(json!({
        "success": true,
        "data": data,
        "pagination": {
            "page": q.page,
            "perPage": q.per_page,
            "total": total,
            "pages": total.div_ceil(q.per_page),
        }
    })))
}

fn bad(name: &str, rule: &str) -> ApiError {
    ApiError::field(
        ErrorCode::InvalidParameters,
        name,
        format!("Query parameter `{name}` {rule}"),
    )
}

/// Parses the query string; an unknown or malformed parameter is named.
pub fn parse(raw: &str, max_per_page: u64) -> Result<ListQuery, ApiError> {
    let mut q = ListQuery {
        filter: ListFilter {
            newest_first: true,
            ..Default::default()
        },
        page: 1,
        per_page: DEFAULT_PER_PAGE,
    };
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        let (name, value) = (name.as_ref(), value.into_owned());
        match name {
            "page" => {
                q.page = value
                    .parse()
                    .ok()
                    .filter(|p| (1..=MAX_PAGE).contains(p))
                    .ok_or_else(|| bad(name, "must be a whole number from 1 to 1000000"))?
            }
            "perPage" => {
                let n: u64 = value
                    .parse()
                    .ok()
                    .filter(|p| *p >= 1)
                    .ok_or_else(|| bad(name, "must be a whole number from 1"))?;
                q.per_page = n.min(max_per_page);
            }
            "where_status" => q.filter.status = Some(one_of(name, &value)?),
            "in_status[]" | "in_status" => {
                for s in value.split(',') {
                    q.filter.status_in.push(one_of(name, s)?);
                }
            }
            "where_type" => q.filter.kind = Some(one_of(name, &value)?),
            "where_project" => q.filter.project = Some(non_empty(name, value)?),
            "where_projectFlow" => q.filter.project_flow = Some(non_empty(name, value)?),
            "where_identifier" => q.filter.identifier = Some(non_empty(name, value)?),
            "where>_createdAt" => q.filter.created_after = Some(time(name, &value)?),
            "where<_createdAt" => q.filter.created_before = Some(time(name, &value)?),
            "sort" => {
                q.filter.newest_first = match value.as_str() {
                    "-createdAt" => true,
                    "createdAt" => false,
                    _ => return Err(bad(name, "must be `createdAt` or `-createdAt`")),
                }
            }
            other => {
                return Err(ApiError::field(
                    ErrorCode::InvalidParameters,
                    other,
                    format!("Unknown query parameter `{other}`"),
                ));
            }
        }
    }
    Ok(q)
}

/// A value of a closed set (a status, a type), named in the error.
fn one_of<T>(name: &str, value: &str) -> Result<T, ApiError>
where
    T: std::str::FromStr<Err = UnknownValue>,
{
    value
        .parse()
        .map_err(|e: UnknownValue| bad(name, &format!("must be one of {}", e.expected)))
}

/// A free-text filter: not empty, and no control characters (which the
/// database would refuse, and no stored value holds).
fn non_empty(name: &str, value: String) -> Result<String, ApiError> {
    if value.is_empty() {
        Err(bad(name, "must not be empty"))
    } else if value.chars().any(char::is_control) {
        Err(bad(name, "must not contain control characters"))
    } else {
        Ok(value)
    }
}

fn time(name: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| bad(name, "must be an RFC 3339 date-time"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bv_contract::{ValidationStatus, ValidationType};

    #[test]
    fn defaults_are_page_one_of_twenty_newest_first() {
        let q = parse("", 100).unwrap();
        assert_eq!((q.page, q.per_page, q.filter.newest_first), (1, 20, true));
    }

    #[test]
    fn verifik_conventions_parse() {
        let q = parse(
            "page=2&perPage=500&where_status=new&in_status[]=new&in_status%5B%5D=expired&where_type=login\
             &where%3E_createdAt=2026-01-01T00:00:00Z&where<_createdAt=2027-01-01T00:00:00Z&sort=createdAt",
            100,
        )
        .unwrap();
        assert_eq!(q.page, 2);
        assert_eq!(q.per_page, 100, "perPage is capped");
        assert_eq!(q.filter.status, Some(ValidationStatus::New));
        assert_eq!(
            q.filter.status_in,
            vec![ValidationStatus::New, ValidationStatus::Expired]
        );
        assert_eq!(q.filter.kind, Some(ValidationType::Login));
        assert!(q.filter.created_after.is_some() && q.filter.created_before.is_some());
        assert!(!q.filter.newest_first);
    }

    #[test]
    fn bad_parameters_are_named() {
        for (raw, field) in [
            ("page=0", "page"),
            ("page=18446744073709551615", "page"),
            ("perPage=x", "perPage"),
            ("where_status=done", "where_status"),
            ("where_type=selfie", "where_type"),
            ("where%3E_createdAt=yesterday", "where>_createdAt"),
            ("sort=name", "sort"),
            ("where_stauts=new", "where_stauts"),
            ("where_projectFlow=a%00b", "where_projectFlow"),
            ("where_identifier=%1F", "where_identifier"),
        ] {
            let err = parse(raw, 100).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidParameters);
            assert_eq!(err.field.as_deref(), Some(field), "{raw}");
        }
    }
}
