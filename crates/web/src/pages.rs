//! The dashboard: server-rendered pages (askama templates compiled into the binary), the
//! stylesheet and script (`include_str!`), and the login form. Pages read through the same
//! functions as the API; the script refreshes `<main id="live">` every two seconds.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use smb_domain::DeliveryStatus;
use smb_store::DeliveryFilter;
use smb_store::stats::Counts;

use crate::api::{accounts, broadcasters, check, deliveries, messages, stats, targets};
use crate::auth;
use crate::error::ApiResult;
use crate::i18n::Labels;
use crate::settings::Lang;
use crate::state::AppState;

const APP_CSS: &str = include_str!("../assets/app.css");
const APP_JS: &str = include_str!("../assets/app.js");
const LANG_COOKIE: &str = "smb_lang";
/// Pages load their script and style from this server only; inline SVG needs nothing more.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

pub(crate) async fn app_css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], APP_CSS)
}

pub(crate) async fn app_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        APP_JS,
    )
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LangQuery {
    lang: Option<String>,
}

/// What every page's frame needs.
pub(crate) struct Layout {
    t: &'static Labels,
    /// The page's language (reasons are said in it).
    language: Lang,
    lang: &'static str,
    page: &'static str,
    title: &'static str,
    /// The visitor may make changes (a token is configured and they are logged in).
    can_change: bool,
    set_cookie: Option<&'static str>,
    /// Why the journal does not take writes (nothing is sent meanwhile), shown on every page.
    journal_down: Option<String>,
}

fn layout(s: &AppState, headers: &HeaderMap, q: &LangQuery, page: &'static str) -> Layout {
    let code = |v: Option<&str>| match v {
        Some("ru") => Some(Lang::Ru),
        Some("en") => Some(Lang::En),
        _ => None,
    };
    let chosen = code(q.lang.as_deref());
    let lang = chosen
        .or_else(|| code(auth::cookie(headers, LANG_COOKIE)))
        .unwrap_or(s.lang);
    // `?lang=` is remembered for the next pages.
    let set_cookie = chosen.map(|l| match l {
        Lang::Ru => "smb_lang=ru; Path=/; SameSite=Lax; Max-Age=31536000",
        Lang::En => "smb_lang=en; Path=/; SameSite=Lax; Max-Age=31536000",
    });
    let t = crate::i18n::labels(lang);
    let title = match page {
        "broadcasters" => t.broadcasters,
        "targets" => t.targets,
        "check" => t.check,
        "deliveries" => t.deliveries,
        "messages" => t.message_sets,
        "variants" => t.variants,
        "accounts" => t.accounts,
        "login" => t.login,
        _ => t.overview,
    };
    Layout {
        t,
        language: lang,
        lang: lang.code(),
        page,
        title,
        can_change: auth::authorized(s, headers, false),
        set_cookie,
        journal_down: match s.driver.journal() {
            smb_engine::JournalState::Up => None,
            smb_engine::JournalState::Down { reason, .. } => Some(reason),
        },
    }
}

fn respond(page: impl IntoResponse, set_cookie: Option<&'static str>) -> Response {
    let mut r = page.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    if let Some(c) = set_cookie {
        h.append(header::SET_COOKIE, HeaderValue::from_static(c));
    }
    r
}

/// A broadcaster row of the dashboard.
pub(crate) struct BroadcasterRow {
    name: String,
    account: String,
    state: String,
    state_class: &'static str,
    state_label: String,
    cycle: u64,
    done: usize,
    total: usize,
    has_test_list: bool,
    /// JSON body of its test-send button.
    test_body: String,
}

fn broadcaster_rows(s: &AppState, t: &Labels) -> Vec<BroadcasterRow> {
    broadcasters::with_states(s)
        .into_iter()
        .map(|(b, state)| BroadcasterRow {
            state_class: state.word(),
            state_label: t.state(&b.state),
            test_body: serde_json::json!({ "broadcaster": b.name }).to_string(),
            has_test_list: b.test_list.is_some(),
            name: b.name,
            account: b.account,
            state: b.state,
            cycle: b.cycle,
            done: b.done,
            total: b.total,
        })
        .collect()
}

/// The per-minute chart as two SVG polylines on a 1440 × 100 box.
pub(crate) struct Chart {
    line: String,
    area: String,
    max: u64,
    last_hour: u64,
}

fn chart(total: &[u64]) -> Chart {
    let max = total.iter().copied().max().unwrap_or(0);
    let n = total.len().max(1);
    let scale = if max == 0 { 0.0 } else { 95.0 / max as f64 };
    let pts: Vec<String> = total
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * 1440.0 / n as f64,
                100.0 - *v as f64 * scale
            )
        })
        .collect();
    let line = pts.join(" ");
    let area = format!("0,100 {line} 1440,100");
    let last_hour = total.iter().rev().take(60).sum();
    Chart {
        line,
        area,
        max,
        last_hour,
    }
}

pub(crate) struct PausedAccount {
    name: String,
    until: Option<String>,
    stopped: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "overview.html")]
pub(crate) struct OverviewPage {
    layout: Layout,
    totals: Counts,
    broadcasters: Vec<BroadcasterRow>,
    chart: Chart,
    paused: Vec<PausedAccount>,
    errors: Vec<deliveries::Delivery>,
}

pub(crate) async fn overview(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> ApiResult<Response> {
    let layout = layout(&s, &headers, &q, "overview");
    let st = s.store.stats(None, s.clock.now()).await?;
    let rate = stats::rate(&s, 1440).await?;
    let paused = st
        .accounts
        .iter()
        .filter(|(_, a)| a.paused_until.is_some() || a.stopped_reason.is_some())
        .map(|(name, a)| PausedAccount {
            name: name.clone(),
            until: a.paused_until.clone(),
            stopped: a.stopped_reason.as_ref().map(ToString::to_string),
        })
        .collect();
    let failed = DeliveryFilter {
        outcome: Some(DeliveryStatus::Failed),
        ..Default::default()
    };
    let errors = s.store.delivery_rows(&failed, 10, 0).await?;
    let cookie = layout.set_cookie;
    let page = OverviewPage {
        broadcasters: broadcaster_rows(&s, layout.t),
        layout,
        totals: st.totals,
        chart: chart(&rate.total),
        paused,
        errors: errors.into_iter().map(deliveries::Delivery::from).collect(),
    };
    Ok(respond(page, cookie))
}

#[derive(Template, WebTemplate)]
#[template(path = "broadcasters.html")]
pub(crate) struct BroadcastersPage {
    layout: Layout,
    broadcasters: Vec<BroadcasterRow>,
}

pub(crate) async fn broadcasters_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Response {
    let layout = layout(&s, &headers, &q, "broadcasters");
    let cookie = layout.set_cookie;
    respond(
        BroadcastersPage {
            broadcasters: broadcaster_rows(&s, layout.t),
            layout,
        },
        cookie,
    )
}

#[derive(Template, WebTemplate)]
#[template(path = "targets.html")]
pub(crate) struct TargetsPage {
    layout: Layout,
    targets: Vec<targets::Target>,
    lists: Vec<String>,
    /// Per target key: (posts read, median reach) — issue 17.
    reach: std::collections::BTreeMap<String, (usize, f64)>,
}

impl TargetsPage {
    /// `412 (24)`: the median reach of the target's read posts and how many; empty before the
    /// first read.
    fn reach_of(&self, target: &str) -> String {
        self.reach
            .get(target)
            .map(|(n, median)| format!("{median:.0} ({n})"))
            .unwrap_or_default()
    }
}

pub(crate) async fn targets_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> ApiResult<Response> {
    let layout = layout(&s, &headers, &q, "targets");
    let cookie = layout.set_cookie;
    let lists = s.catalog().target_lists.keys().cloned().collect();
    let page = TargetsPage {
        layout,
        targets: targets::all(&s).await?,
        lists,
        reach: s.store.reach_per_target().await?,
    };
    Ok(respond(page, cookie))
}

#[derive(Template, WebTemplate)]
#[template(path = "deliveries.html")]
pub(crate) struct DeliveriesPage {
    layout: Layout,
    q: deliveries::DeliveryQuery,
    /// (name, selected)
    broadcaster_names: Vec<(String, bool)>,
    /// (outcome, selected)
    outcomes: Vec<(&'static str, bool)>,
    error: Option<String>,
    total: u64,
    page: u32,
    pages: u64,
    items: Vec<deliveries::Delivery>,
    prev: Option<String>,
    next: Option<String>,
    export_csv: String,
    export_json: String,
}

/// `application/x-www-form-urlencoded` value encoding.
fn enc(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn query_string(q: &deliveries::DeliveryQuery, extra: &[(&str, String)]) -> String {
    let mut parts: Vec<String> = [
        ("broadcaster", &q.broadcaster),
        ("target", &q.target),
        ("outcome", &q.outcome),
        ("from", &q.from),
        ("to", &q.to),
    ]
    .iter()
    .filter_map(|(k, v)| {
        v.as_deref()
            .filter(|v| !v.is_empty())
            .map(|v| format!("{k}={}", enc(v)))
    })
    .collect();
    parts.extend(extra.iter().map(|(k, v)| format!("{k}={}", enc(v))));
    parts.join("&")
}

pub(crate) async fn deliveries_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(lq): Query<LangQuery>,
    Query(q): Query<deliveries::DeliveryQuery>,
) -> Response {
    let layout = layout(&s, &headers, &lq, "deliveries");
    let cookie = layout.set_cookie;
    let (result, error) = match deliveries::page(&s, &q).await {
        Ok(p) => (Some(p), None),
        Err(e) => (None, Some(e.body().message)),
    };
    let (total, page, per_page, items) = result.map_or((0, 1, 50, Vec::new()), |p| {
        (p.total, p.page, p.per_page, p.items)
    });
    let pages = total.div_ceil(u64::from(per_page)).max(1);
    let link = |p: u32| {
        format!(
            "/deliveries?{}",
            query_string(&q, &[("page", p.to_string())])
        )
    };
    let page_view = DeliveriesPage {
        broadcaster_names: s
            .catalog()
            .broadcasters
            .iter()
            .map(|b| {
                (
                    b.name.clone(),
                    q.broadcaster.as_deref() == Some(b.name.as_str()),
                )
            })
            .collect(),
        outcomes: ["sent", "failed", "deferred", "pending"]
            .into_iter()
            .map(|o| (o, q.outcome.as_deref() == Some(o)))
            .collect(),
        error,
        total,
        page,
        pages,
        items,
        prev: (page > 1).then(|| link(page - 1)),
        next: (u64::from(page) < pages).then(|| link(page + 1)),
        export_csv: format!(
            "/api/v1/deliveries/export?{}",
            query_string(&q, &[("format", "csv".into())])
        ),
        export_json: format!(
            "/api/v1/deliveries/export?{}",
            query_string(&q, &[("format", "json".into())])
        ),
        q,
        layout,
    };
    respond(page_view, cookie)
}

pub(crate) struct SetView {
    info: messages::MessageSetInfo,
    versions: Vec<smb_store::MessageSetVersion>,
}

impl SetView {
    fn is_current(&self, v: &smb_store::MessageSetVersion) -> bool {
        self.info.version == Some(v.version)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "messages.html")]
pub(crate) struct MessagesPage {
    layout: Layout,
    sets: Vec<SetView>,
}

pub(crate) async fn messages_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> ApiResult<Response> {
    let layout = layout(&s, &headers, &q, "messages");
    let cookie = layout.set_cookie;
    let names: Vec<String> = s.catalog().message_sets.keys().cloned().collect();
    let mut sets = Vec::with_capacity(names.len());
    for n in names {
        sets.push(SetView {
            info: messages::info(&s, &n).await?,
            versions: s.store.message_set_history(&n).await?,
        });
    }
    Ok(respond(MessagesPage { layout, sets }, cookie))
}

/// One set of the variants page: its figures as text.
pub(crate) struct VariantSetView {
    set: String,
    broadcasters: String,
    compared_on: &'static str,
    rows: Vec<VariantRowView>,
    verdict: String,
}

pub(crate) struct VariantRowView {
    variant: String,
    posts: usize,
    measured: usize,
    views: String,
    reactions: String,
    replies: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "variants.html")]
pub(crate) struct VariantsPage {
    layout: Layout,
    sets: Vec<VariantSetView>,
}

fn figure_words(f: Option<&smb_store::variants::Figure>, median: &str) -> String {
    match f {
        None => "—".to_owned(),
        Some(f) if f.low == f.high => format!("{:.1} ({median} {:.1})", f.mean, f.median),
        Some(f) => format!(
            "{:.1} [{:.1}–{:.1}] ({median} {:.1})",
            f.mean, f.low, f.high, f.median
        ),
    }
}

/// The verdict of `r` in the page's language (the report's own words are English).
fn verdict_words(r: &smb_store::variants::SetReport, lang: Lang) -> String {
    if lang != Lang::Ru {
        return r.conclusion.clone();
    }
    match (&r.verdict, r.variants.len()) {
        (_, 0) => "постов с A/B-вариантами ещё нет".to_owned(),
        (_, 1) => "отправлялся только один вариант".to_owned(),
        (None, 2) => "мало измеренных постов (нужно хотя бы 2 на вариант)".to_owned(),
        (None, n) => format!("{n} вариантов: тест сравнивает два"),
        (Some(v), _) if v.significant && r.decided => {
            format!("{} лучше (p = {:.4})", v.better, v.p_value)
        }
        (Some(v), _) if v.significant => format!(
            "{} лучше (p = {:.4}), но постов меньше min_sample ({} на вариант)",
            v.better, v.p_value, r.min_sample
        ),
        (Some(v), _) => format!("значимой разницы нет (p = {:.4})", v.p_value),
    }
}

/// `/variants`: the A/B report of `/api/v1/variants` as a page (issue 17).
pub(crate) async fn variants_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> ApiResult<Response> {
    let layout = layout(&s, &headers, &q, "variants");
    let cookie = layout.set_cookie;
    let (sets, min_sample) = {
        let c = s.catalog();
        (
            crate::api::variants::variant_sets(&c),
            c.variants_min_sample,
        )
    };
    let reports = smb_store::variants::reports(&s.store, &sets, min_sample).await?;
    let median = if layout.language == Lang::Ru {
        "медиана"
    } else {
        "median"
    };
    let sets = reports
        .iter()
        .map(|r| VariantSetView {
            set: r.set.clone(),
            broadcasters: r.broadcasters.join(", "),
            compared_on: r.compared_on,
            rows: r
                .variants
                .iter()
                .map(|v| VariantRowView {
                    variant: v.variant.clone(),
                    posts: v.posts,
                    measured: v.measured,
                    views: figure_words(v.views.as_ref(), median),
                    reactions: figure_words(v.reactions.as_ref(), median),
                    replies: figure_words(v.replies.as_ref(), median),
                })
                .collect(),
            verdict: verdict_words(r, layout.language),
        })
        .collect();
    Ok(respond(VariantsPage { layout, sets }, cookie))
}

#[derive(Template, WebTemplate)]
#[template(path = "accounts.html")]
pub(crate) struct AccountsPage {
    layout: Layout,
    accounts: Vec<accounts::Account>,
}

pub(crate) async fn accounts_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> ApiResult<Response> {
    let layout = layout(&s, &headers, &q, "accounts");
    let cookie = layout.set_cookie;
    Ok(respond(
        AccountsPage {
            layout,
            accounts: accounts::all(&s).await?,
        },
        cookie,
    ))
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub(crate) struct LoginPage {
    layout: Layout,
    wrong: bool,
}

pub(crate) async fn login_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Response {
    let layout = layout(&s, &headers, &q, "login");
    let cookie = layout.set_cookie;
    respond(
        LoginPage {
            layout,
            wrong: false,
        },
        cookie,
    )
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    token: String,
}

/// Checks the token and keeps it in an HttpOnly, SameSite=Strict cookie.
pub(crate) async fn login(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
    Form(f): Form<LoginForm>,
) -> Response {
    if let Some(token) = &s.token
        && token.matches(f.token.trim())
        && let Ok(cookie) = HeaderValue::from_str(&format!(
            "{}={}; Path=/; HttpOnly; SameSite=Strict",
            auth::COOKIE,
            token.expose()
        ))
    {
        let mut r = Redirect::to("/").into_response();
        r.headers_mut().append(header::SET_COOKIE, cookie);
        return r;
    }
    // `?lang=` of the form's URL (or the cookie) chooses the failure page's language too.
    let layout = layout(&s, &headers, &q, "login");
    let cookie = layout.set_cookie;
    let mut r = respond(
        LoginPage {
            layout,
            wrong: true,
        },
        cookie,
    );
    *r.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
    r
}

#[derive(Template, WebTemplate)]
#[template(path = "check.html")]
pub(crate) struct CheckPage {
    layout: Layout,
    run: check::CheckRun,
    /// Pairs a run would check now.
    pairs: usize,
    /// The daemon can run the check (it has a gateway).
    available: bool,
    /// The schedule's time zone: times are shown in it.
    zone: jiff::tz::TimeZone,
}

impl CheckPage {
    /// Slow mode as `10m`, `1h`, `30s`, or "off".
    fn slow(&self, s: &Option<u32>) -> String {
        match *s {
            None => self.layout.t.off.to_owned(),
            Some(s) if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
            Some(s) if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
            Some(s) => format!("{s}s"),
        }
    }

    fn mark(&self, b: &bool) -> &'static str {
        if *b { "✓" } else { "✗" }
    }

    /// A moment in the schedule's zone, to the minute, with the zone (`2026-12-01 09:00 MSK`).
    fn when(&self, at: &jiff::Timestamp) -> String {
        smb_domain::local_minute(*at, &self.zone)
    }

    /// A row's reason in the page's language ("" for `ok`).
    fn reason(&self, r: &check::CheckedTarget) -> String {
        r.reason_in(self.layout.language).unwrap_or_default()
    }

    /// A hold's reason in the page's language, times in the schedule's zone.
    fn hold(&self, h: &check::HeldTarget) -> String {
        h.why.words(self.layout.language, &self.zone)
    }

    /// An RFC 3339 stamp of the run (started, finished) in the schedule's zone.
    fn stamp(&self, at: &str) -> String {
        at.parse::<jiff::Timestamp>()
            .map_or_else(|_| at.to_owned(), |t| self.when(&t))
    }
}

/// "Target check": the button that starts the pre-flight check and the table of its rows.
pub(crate) async fn check_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> ApiResult<Response> {
    let layout = layout(&s, &headers, &q, "check");
    let cookie = layout.set_cookie;
    let page = CheckPage {
        layout,
        run: check::current(&s).await,
        pairs: check::pairs(&s).len(),
        available: s.preflight.is_some(),
        zone: s.catalog().zone(),
    };
    Ok(respond(page, cookie))
}
