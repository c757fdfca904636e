//! `/api/v1/deliveries`: the delivery journal as a paginated log with filters, and its export
//! as CSV or JSON.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use smb_domain::{DeliveryStatus, TargetRef};
use smb_store::{DeliveryFilter, DeliveryRow};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

/// The most rows one export returns; narrow the time range for more.
pub const EXPORT_LIMIT: u32 = 100_000;

/// One delivery: (broadcaster, cycle, target) with its message, random_id and outcome.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Delivery {
    pub id: i64,
    pub broadcaster: String,
    pub cycle: i64,
    pub target: String,
    pub account: String,
    pub random_id: i64,
    pub message: String,
    /// `pending`, `sent`, `failed` or `deferred`.
    pub outcome: String,
    pub attempts: i64,
    pub message_id: Option<i64>,
    pub error_class: Option<String>,
    pub error_code: Option<String>,
    pub error_text: Option<String>,
    pub retry_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<DeliveryRow> for Delivery {
    fn from(r: DeliveryRow) -> Self {
        Delivery {
            id: r.id,
            broadcaster: r.broadcaster,
            cycle: r.cycle,
            target: r.target,
            account: r.account,
            random_id: r.random_id,
            message: r.message,
            outcome: r.outcome.to_string(),
            attempts: r.attempts,
            message_id: r.message_id,
            error_class: r.error_class.map(|c| c.to_string()),
            error_code: r.error_code,
            error_text: r.error_text,
            retry_at: r.retry_at.map(|t| t.to_string()),
            created_at: r.created_at.to_string(),
            updated_at: r.updated_at.to_string(),
        }
    }
}

/// The values the `outcome` filter takes: `""` (no filter: what the dashboard's form sends for
/// "any"), `pending`, `sent`, `failed`, `deferred`. Only a schema: the handler reads a string.
#[derive(Debug, Clone, Copy)]
pub struct OutcomeFilter;

impl utoipa::PartialSchema for OutcomeFilter {
    fn schema() -> RefOr<Schema> {
        string_enum(&["", "pending", "sent", "failed", "deferred"])
    }
}

impl ToSchema for OutcomeFilter {}

/// The values the export's `format` takes: `""` (the default, csv), `csv`, `csv-excel`, `json`.
#[derive(Debug, Clone, Copy)]
pub struct ExportFormat;

impl utoipa::PartialSchema for ExportFormat {
    fn schema() -> RefOr<Schema> {
        string_enum(&["", "csv", "csv-excel", "json"])
    }
}

impl ToSchema for ExportFormat {}

/// An RFC 3339 time, or `""` for none (what an empty form field sends).
#[derive(Debug, Clone, Copy)]
pub struct TimeFilter;

impl utoipa::PartialSchema for TimeFilter {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::OneOf(
            utoipa::openapi::schema::OneOfBuilder::new()
                .item(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                            utoipa::openapi::KnownFormat::DateTime,
                        )))
                        .build(),
                )
                .item(string_enum(&[""]))
                .build(),
        ))
    }
}

impl ToSchema for TimeFilter {}

/// A string schema with these values. utoipa's derive drops a `#[serde(rename = "")]`, and the
/// empty value is one the API takes (an empty form field).
pub(crate) fn string_enum(values: &[&str]) -> RefOr<Schema> {
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(values.iter().copied()))
            .build(),
    ))
}

/// The largest `page`: the document says int32, so the API keeps to it.
pub const MAX_PAGE: u32 = i32::MAX as u32;

/// Filters of the log (all optional) and the page.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    pub broadcaster: Option<String>,
    /// A target in any accepted form.
    pub target: Option<String>,
    /// `pending`, `sent`, `failed` or `deferred`; empty: any.
    #[param(value_type = Option<OutcomeFilter>)]
    pub outcome: Option<String>,
    /// RFC 3339 time: last change at or after it.
    #[param(value_type = Option<TimeFilter>)]
    pub from: Option<String>,
    /// RFC 3339 time: last change before it (nothing matches when it is not after `from`).
    #[param(value_type = Option<TimeFilter>)]
    pub to: Option<String>,
    /// 1-based page (default 1).
    #[param(minimum = 1, maximum = 2147483647)]
    pub page: Option<u32>,
    /// Rows per page, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub per_page: Option<u32>,
}

/// Filters of the export (all optional) and its format; no pages (at most 100 000 rows).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    pub broadcaster: Option<String>,
    /// A target in any accepted form.
    pub target: Option<String>,
    /// `pending`, `sent`, `failed` or `deferred`; empty: any.
    #[param(value_type = Option<OutcomeFilter>)]
    pub outcome: Option<String>,
    /// RFC 3339 time: last change at or after it.
    #[param(value_type = Option<TimeFilter>)]
    pub from: Option<String>,
    /// RFC 3339 time: last change before it (nothing matches when it is not after `from`).
    #[param(value_type = Option<TimeFilter>)]
    pub to: Option<String>,
    /// `csv` (default: comma-separated UTF-8), `csv-excel` (`;`-separated UTF-8 with a
    /// byte-order mark, which Excel in a comma-decimal locale such as Russian opens as columns
    /// by a double click) or `json`; empty: csv.
    #[param(value_type = Option<ExportFormat>)]
    pub format: Option<String>,
}

impl ExportQuery {
    fn filters(&self) -> DeliveryQuery {
        DeliveryQuery {
            broadcaster: self.broadcaster.clone(),
            target: self.target.clone(),
            outcome: self.outcome.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            page: None,
            per_page: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    /// Rows matching the filters, on all pages.
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
    pub items: Vec<Delivery>,
}

fn blank(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// An RFC 3339 time, or `""` for none (an empty form field). Only the exact empty string
/// means none: the document says date-time or `""`, so `" "` is refused like any non-time.
pub(crate) fn time(name: &str, v: &Option<String>) -> ApiResult<Option<Timestamp>> {
    v.as_deref()
        .filter(|v| !v.is_empty())
        .map(|raw| {
            raw.parse::<Timestamp>().map_err(|_| {
                ApiError::Invalid(format!(
                    "{name}={raw:?}: expected an RFC 3339 time such as 2026-11-24T10:00:00Z"
                ))
            })
        })
        .transpose()
}

pub(crate) fn filter(q: &DeliveryQuery) -> ApiResult<DeliveryFilter> {
    let target = blank(&q.target)
        .map(|t| {
            TargetRef::parse(t)
                .map(|t| t.key())
                .map_err(|e| ApiError::Invalid(format!("target: {e}")))
        })
        .transpose()?;
    let outcome = blank(&q.outcome)
        .map(|o| {
            o.parse::<DeliveryStatus>().map_err(|_| {
                let words: Vec<&str> = DeliveryStatus::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::Invalid(format!("outcome `{o}`: use one of {}", words.join(", ")))
            })
        })
        .transpose()?;
    // `from` at or after `to` is an empty range (nothing matches), not an error: both are
    // valid times, and the document cannot say that one must come first.
    let (from, to) = (time("from", &q.from)?, time("to", &q.to)?);
    Ok(DeliveryFilter {
        broadcaster: blank(&q.broadcaster).map(str::to_string),
        target,
        outcome,
        from,
        to,
    })
}

pub(crate) async fn page(s: &AppState, q: &DeliveryQuery) -> ApiResult<DeliveryPage> {
    let f = filter(q)?;
    let page = q.page.unwrap_or(1);
    let per_page = q.per_page.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&page) {
        return Err(ApiError::Invalid(format!("page must be 1–{MAX_PAGE}")));
    }
    if !(1..=500).contains(&per_page) {
        return Err(ApiError::Invalid("per_page must be 1–500".into()));
    }
    let offset = u64::from(page - 1) * u64::from(per_page);
    let (total, rows) = s.store.deliveries(&f, per_page, offset).await?;
    Ok(DeliveryPage {
        total,
        page,
        per_page,
        items: rows.into_iter().map(Delivery::from).collect(),
    })
}

/// The delivery log, newest change first.
#[utoipa::path(get, path = "/api/v1/deliveries", tag = "deliveries", params(DeliveryQuery),
    responses((status = 200, body = DeliveryPage), (status = 422, body = ErrorBody)))]
pub async fn list_deliveries(
    State(s): State<AppState>,
    Query(q): Query<DeliveryQuery>,
) -> ApiResult<Json<DeliveryPage>> {
    page(&s, &q).await.map(Json)
}

/// The filtered log as a file: CSV (default) or JSON, at most 100 000 rows.
#[utoipa::path(get, path = "/api/v1/deliveries/export", tag = "deliveries", params(ExportQuery),
    responses((status = 200, description = "an attachment: CSV (default) or JSON",
            content((String = "text/csv"), ([Delivery] = "application/json"))),
        (status = 422, body = ErrorBody)))]
pub async fn export_deliveries(
    State(s): State<AppState>,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    let f = filter(&q.filters())?;
    let format = blank(&q.format).unwrap_or("csv");
    if !matches!(format, "csv" | "csv-excel" | "json") {
        return Err(ApiError::Invalid(format!(
            "format `{format}`: use csv, csv-excel (for Excel in a Russian locale) or json"
        )));
    }
    let rows = s.store.delivery_rows(&f, EXPORT_LIMIT, 0).await?;
    let rows: Vec<Delivery> = rows.into_iter().map(Delivery::from).collect();
    let (content_type, disposition, body) = if format == "json" {
        let body =
            serde_json::to_vec_pretty(&rows).map_err(|e| ApiError::Internal(e.to_string()))?;
        (
            "application/json",
            "attachment; filename=\"deliveries.json\"",
            body,
        )
    } else if format == "csv-excel" {
        // Excel reads a BOM as "UTF-8", and `;` is its list separator where `,` is the decimal
        // mark.
        let mut body = "\u{feff}".as_bytes().to_vec();
        body.extend(to_csv_with(&rows, ';').into_bytes());
        (
            "text/csv; charset=utf-8",
            "attachment; filename=\"deliveries.csv\"",
            body,
        )
    } else {
        (
            "text/csv; charset=utf-8",
            "attachment; filename=\"deliveries.csv\"",
            to_csv(&rows).into_bytes(),
        )
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// RFC 4180: every field quoted, quotes doubled; a leading `=`, `+`, `-` or `@` in text is
/// prefixed with `'` so spreadsheets do not run it as a formula.
pub(crate) fn to_csv(rows: &[Delivery]) -> String {
    to_csv_with(rows, ',')
}

/// [`to_csv`] with `sep` between the fields (`,` or `;`).
pub(crate) fn to_csv_with(rows: &[Delivery], sep: char) -> String {
    fn field(out: &mut String, v: &str, text: bool) {
        out.push('"');
        if text && v.starts_with(['=', '+', '-', '@']) && v.parse::<i64>().is_err() {
            out.push('\'');
        }
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    }
    let mut out = "id,broadcaster,cycle,target,account,random_id,outcome,attempts,message_id,error_class,error_code,error_text,retry_at,created_at,updated_at,message"
        .replace(',', &sep.to_string());
    out.push_str("\r\n");
    for r in rows {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let cols: [(String, bool); 16] = [
            (r.id.to_string(), false),
            (r.broadcaster.clone(), true),
            (r.cycle.to_string(), false),
            (r.target.clone(), true),
            (r.account.clone(), true),
            (r.random_id.to_string(), false),
            (r.outcome.clone(), true),
            (r.attempts.to_string(), false),
            (
                r.message_id.map(|m| m.to_string()).unwrap_or_default(),
                false,
            ),
            (opt(&r.error_class), true),
            (opt(&r.error_code), true),
            (opt(&r.error_text), true),
            (opt(&r.retry_at), false),
            (r.created_at.clone(), false),
            (r.updated_at.clone(), false),
            (r.message.clone(), true),
        ];
        for (i, (v, text)) in cols.iter().enumerate() {
            if i > 0 {
                out.push(sep);
            }
            field(&mut out, v, *text);
        }
        out.push_str("\r\n");
    }
    out
}
