//! The read routes: one transaction, a page of them, the counts. A client reads only its own;
//! an operator reads all.

use super::*;

#[utoipa::path(
    get,
    path = "/transactions/{id}",
    operation_id = "show_transaction",
    tag = "transactions",
    params(("id" = String, Path, format = "uuid", max_length = 64, description = "The `transaction_id` `POST /transaction/broadcast` answered with.")),
    responses((status = 200, description = "The transaction (a client's own; any, for an operator).", body = TransactionView)),
)]
pub(crate) async fn show<S, P, K>(
    State(app): State<Arc<App<S, P, K>>>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Json<TransactionView>, ApiError>
where
    S: Reading,
{
    let id = transaction_id(id)?;
    let tx = visible(&app.store, &caller, id).await?;
    Ok(Json(TransactionView::from(&tx)))
}

/// The transaction `id` names, if the caller may see it: another client's is as absent (404)
/// as one that never existed.
pub(crate) async fn visible<S: Reading>(
    store: &S,
    caller: &Caller,
    id: TxId,
) -> Result<tx_shared::domain::Transaction, ApiError> {
    match store.get(id).await {
        Ok(Some(tx)) if caller.may_see(tx.client.as_ref()) => Ok(tx),
        Ok(_) => Err(ApiError::NotFound(format!(
            "transaction {id} does not exist"
        ))),
        Err(e) => Err(ApiError::store(e)),
    }
}

/// The transaction id in a route's path.
pub(crate) fn transaction_id(
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<TxId, ApiError> {
    let Path(id) = id.map_err(|_| {
        ApiError::InvalidPath("the path's id is not a transaction id (a UUID)".into())
    })?;
    if id.len() > MAX_ID_LEN {
        return Err(ApiError::InvalidPath(format!(
            "a transaction id is a UUID, not {} characters",
            id.len()
        )));
    }
    id.parse()
        .map_err(|e: tx_shared::domain::InvalidTxId| ApiError::InvalidPath(e.to_string()))
}

/// Longer ids, cursors, searches and filters are refused before they are parsed.
const MAX_ID_LEN: usize = 64;
const MAX_CURSOR_LEN: usize = 1024;
const MAX_FILTER_LEN: usize = 1024;

/// A page of transactions, newest first.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct TransactionPage {
    transactions: Vec<TransactionView>,
    /// The next page's `cursor`; null on the last page.
    next_cursor: Option<String>,
}

/// The listing's query parameters (what [`list_query`] reads; a test holds the two together).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct ListParameters {
    /// Only transactions in this status.
    status: Option<Status>,
    /// Transactions per page.
    #[param(minimum = 1, maximum = 100, default = 25)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page of the same listing.
    #[param(max_length = 1024)]
    cursor: Option<String>,
    /// Only this function (any spelling of its signature).
    #[param(max_length = 1024)]
    message_type: Option<String>,
    /// Created on or after: `YYYY-MM-DD` or RFC 3339, years 1970–9999.
    #[param(max_length = 1024)]
    from: Option<String>,
    /// Created on or before (a date includes its whole day).
    #[param(max_length = 1024)]
    to: Option<String>,
    /// A transaction id or hash.
    #[param(max_length = 1024)]
    q: Option<String>,
    /// A chain id (served now or not) or a served chain's name.
    #[param(max_length = 1024)]
    chain: Option<String>,
    /// A lane: the sender address that took the nonce.
    #[param(max_length = 1024)]
    lane: Option<String>,
}

#[utoipa::path(
    get,
    path = "/transactions",
    operation_id = "list_transactions",
    tag = "transactions",
    params(ListParameters),
    responses((status = 200, description = "A page of the caller's transactions (all, for an operator), newest first.", body = TransactionPage)),
)]
pub(crate) async fn list<S, P, K>(
    State(app): State<Arc<App<S, P, K>>>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<TransactionPage>, ApiError>
where
    S: Reading,
{
    let mut query = list_query(&params, &app.chains)?;
    query.client = caller.scope().cloned();
    // Searching for a transaction id is a lookup, not a listing.
    if let Some(id) = params.get("q").and_then(|q| q.trim().parse::<TxId>().ok()) {
        let found = app.store.get(id).await.map_err(ApiError::store)?;
        let items: Vec<TransactionView> = found
            .iter()
            .filter(|tx| caller.may_see(tx.client.as_ref()))
            .map(TransactionView::from)
            .collect();
        return Ok(Json(TransactionPage {
            transactions: items,
            next_cursor: None,
        }));
    }
    let page = app.store.list(&query).await.map_err(ApiError::store)?;
    Ok(Json(TransactionPage {
        transactions: page.items.iter().map(TransactionView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

pub(crate) const LIST_PARAMETERS: [&str; 9] = [
    "status",
    "limit",
    "cursor",
    "message_type",
    "from",
    "to",
    "q",
    "chain",
    "lane",
];

fn list_query<K>(
    params: &HashMap<String, String>,
    chains: &ByChain<ServedChain<K>>,
) -> Result<ListQuery, ApiError> {
    let invalid = |message: String| ApiError::InvalidQuery(message);
    if let Some(unknown) = params
        .keys()
        .find(|k| !LIST_PARAMETERS.contains(&k.as_str()))
    {
        return Err(invalid(format!(
            "unknown query parameter `{unknown}`; use {}",
            LIST_PARAMETERS.join(", ")
        )));
    }
    if let Some((name, value)) = params.iter().find(|(name, value)| {
        let limit = if name.as_str() == "cursor" {
            MAX_CURSOR_LEN
        } else {
            MAX_FILTER_LEN
        };
        value.len() > limit
    }) {
        return Err(invalid(format!(
            "`{name}` is {} characters long; that is more than any valid value",
            value.len()
        )));
    }
    exact_values(params)?;
    let given = |name: &str| params.get(name).map(String::as_str);
    let status = given("status")
        .map(|s| s.parse::<Status>())
        .transpose()
        .map_err(|e| invalid(format!("status: {e}")))?;
    let limit = match given("limit") {
        None => DEFAULT_PAGE_SIZE,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            // Digits only: `+5` is no more a page size than ` 5`.
            .filter(|n| raw.bytes().all(|b| b.is_ascii_digit()) && (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                invalid(format!(
                    "limit must be a whole number from 1 to {MAX_PAGE_SIZE}, got `{raw}`"
                ))
            })?,
    };
    // Any spelling of a signature filters by its canonical form.
    let function_signature = given("message_type")
        .map(|raw| {
            alloy::json_abi::Function::parse(raw)
                .map(|f| f.signature())
                .map_err(|e| {
                    invalid(format!(
                        "message_type `{raw}` is not a function signature: {e}"
                    ))
                })
        })
        .transpose()?;
    let from = given("from")
        .map(|raw| parse_time("from", raw, false))
        .transpose()?;
    let to = given("to")
        .map(|raw| parse_time("to", raw, true))
        .transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(invalid("`from` is after `to`".into()));
    }
    let tx_hash = given("q")
        .filter(|raw| raw.parse::<TxId>().is_err())
        .map(|raw| {
            raw.parse::<alloy::primitives::B256>().map_err(|_| {
                invalid(format!(
                    "q must be a transaction id or a 0x-prefixed 32-byte hash, got `{raw}`"
                ))
            })
        })
        .transpose()?;
    let chain_id = given("chain")
        .map(|raw| chain_filter(raw, chains))
        .transpose()?;
    let lane = given("lane")
        .map(|raw| {
            raw.parse::<alloy::primitives::Address>().map_err(|_| {
                invalid(format!(
                    "lane must be a sender address (0x and 40 hex digits), got `{raw}`"
                ))
            })
        })
        .transpose()?;
    Ok(ListQuery {
        chain_id,
        lane,
        client: None,
        status,
        limit,
        cursor: given("cursor").map(str::to_owned),
        function_signature,
        from,
        to,
        tx_hash,
    })
}

/// A chain by id (served now or not: its transactions stay), or by a served chain's name.
fn chain_filter<K>(raw: &str, chains: &ByChain<ServedChain<K>>) -> Result<u64, ApiError> {
    let asked = ChainRef::Name(raw.to_owned());
    raw.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| raw.parse::<u64>().ok())
        .flatten()
        .or_else(|| {
            chains
                .iter()
                .find(|(id, chain)| asked.names(*id, &chain.name))
                .map(|(id, _)| id)
        })
        .ok_or_else(|| {
            ApiError::InvalidQuery(format!(
                "chain must be a chain id or the name of a chain served, got {asked}"
            ))
        })
}

/// RFC 3339, or a bare `YYYY-MM-DD` (the whole day: its start for `from`, its end for `to`),
/// from 1970 to 9999. Nothing here can overflow: the end of a day is its last nanosecond, not
/// the next day's start.
fn parse_time(name: &str, raw: &str, end_of_day: bool) -> Result<OffsetDateTime, ApiError> {
    use time::format_description::well_known::Rfc3339;
    let invalid = || {
        ApiError::InvalidQuery(format!(
            "`{name}` must be a date (YYYY-MM-DD) or an RFC 3339 time from 1970 to 9999, got `{raw}`"
        ))
    };
    let at = match OffsetDateTime::parse(raw, &Rfc3339) {
        Ok(at) => at,
        Err(_) => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            let day = time::Date::parse(raw, &format).map_err(|_| invalid())?;
            let time = if end_of_day {
                time::Time::from_hms_nano(23, 59, 59, 999_999_999).map_err(|_| invalid())?
            } else {
                time::Time::MIDNIGHT
            };
            day.with_time(time).assume_utc()
        }
    };
    // `to_offset` would panic past year 9999 in UTC; the checked form says so instead.
    match at.checked_to_offset(time::UtcOffset::UTC) {
        Some(utc) if (1970..=9999).contains(&utc.year()) => Ok(utc),
        _ => Err(invalid()),
    }
}

/// The pipeline's last hour, per chain and minute (operators only: it counts every client's).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Timeline {
    /// The server's current minute: the last of the hour shown.
    #[schema(format = DateTime)]
    now: String,
    /// Every chain served (or the one asked for), the default first.
    chains: Vec<ChainTimeline>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ChainTimeline {
    chain_id: u64,
    name: String,
    /// The minutes of the last hour with any progress, oldest first.
    minutes: Vec<MinuteView>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct MinuteView {
    /// The minute's start.
    #[schema(format = DateTime)]
    minute: String,
    /// Steps taken in the minute, by the names of the `TxBroadcaster` metrics (`Accepted`,
    /// `Confirmed`, …).
    counts: std::collections::BTreeMap<String, u64>,
    /// The mean time between stages of the transactions that reached the later stage in the
    /// minute (`AcceptedToSignedSeconds`, …), in seconds.
    mean_seconds: std::collections::BTreeMap<String, f64>,
}

/// The one parameter of the counts and the timeline, `chain` (its id or a served chain's
/// name), if given.
fn only_chain<K>(
    params: &HashMap<String, String>,
    chains: &ByChain<ServedChain<K>>,
) -> Result<Option<u64>, ApiError> {
    if let Some(unknown) = params.keys().find(|k| k.as_str() != "chain") {
        return Err(ApiError::InvalidQuery(format!(
            "unknown query parameter `{unknown}`; use chain"
        )));
    }
    exact_values(params)?;
    match params.get("chain").map(String::as_str) {
        Some(raw) if raw.len() > MAX_FILTER_LEN => Err(ApiError::InvalidQuery(format!(
            "`chain` is {} characters long; that is more than any valid value",
            raw.len()
        ))),
        Some(raw) => chain_filter(raw, chains).map(Some),
        None => Ok(None),
    }
}

/// A query value is taken as it is: an empty one, or one with spaces around it, is refused
/// rather than read as absent or trimmed, so that what the API accepts is what the OpenAPI
/// document says it does (a filter left blank is left out).
fn exact_values(params: &HashMap<String, String>) -> Result<(), ApiError> {
    match params
        .iter()
        .find(|(_, value)| value.is_empty() || value.trim() != value.as_str())
    {
        Some((name, value)) if value.is_empty() => Err(ApiError::InvalidQuery(format!(
            "`{name}` is empty: leave it out, or give it a value"
        ))),
        Some((name, _)) => Err(ApiError::InvalidQuery(format!(
            "`{name}` has spaces around its value"
        ))),
        None => Ok(()),
    }
}

/// A minute (Unix time over 60) as the RFC 3339 time it starts at.
fn minute_start(minute: i64) -> String {
    OffsetDateTime::from_unix_timestamp(minute * 60)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// How far back the timeline looks, in minutes.
const TIMELINE_MINUTES: i64 = 60;

#[utoipa::path(
    get,
    path = "/transactions/timeline",
    operation_id = "transaction_timeline",
    tag = "operators",
    security(("operator" = [])),
    params(("chain" = Option<String>, Query, max_length = 1024, description = "Only this chain: its id or a served chain's name.")),
    responses((status = 200, description = "The pipeline's last hour, per chain and minute (the status page's charts).", body = Timeline)),
)]
pub(crate) async fn timeline<S, P, K>(
    State(app): State<Arc<App<S, P, K>>>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Timeline>, ApiError>
where
    S: ProgressLog,
{
    if caller.scope().is_some() {
        return Err(ApiError::Forbidden(
            "the timeline counts every client's transactions: operators only".into(),
        ));
    }
    let only = only_chain(&params, &app.chains)?;
    let now = OffsetDateTime::now_utc().unix_timestamp() / 60;
    let mut chains = Vec::new();
    for (chain_id, chain) in app.chains.iter() {
        if only.is_some_and(|only| only != chain_id) {
            continue;
        }
        let minutes = app
            .store
            .progress(chain_id, now - TIMELINE_MINUTES + 1..now + 1)
            .await
            .map_err(ApiError::store)?;
        chains.push(ChainTimeline {
            chain_id,
            name: chain.name.clone(),
            minutes: minutes
                .into_iter()
                .map(|(minute, step)| MinuteView {
                    minute: minute_start(minute),
                    counts: step.counts,
                    mean_seconds: step
                        .seconds
                        .into_iter()
                        .filter(|(_, (_, count))| *count > 0)
                        .map(|(name, (sum, count))| (name, sum / count as f64))
                        .collect(),
                })
                .collect(),
        });
    }
    Ok(Json(Timeline {
        now: minute_start(now),
        chains,
    }))
}

/// Counts of the caller's transactions (all, for an operator).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Stats {
    /// Confirmed.
    passed: u64,
    /// Reverted or in review.
    failed: u64,
    /// Everything else.
    pending: u64,
    /// Every status's count.
    by_status: std::collections::BTreeMap<&'static str, u64>,
    /// The count stopped at its cap (100,000 read for an operator, 20,000 for a client):
    /// the numbers are at least these.
    capped: bool,
}

#[utoipa::path(
    get,
    path = "/transactions/stats",
    operation_id = "transaction_stats",
    tag = "transactions",
    params(("chain" = Option<String>, Query, max_length = 1024, description = "Only this chain: its id or a served chain's name.")),
    responses((status = 200, description = "Counts by status.", body = Stats)),
)]
/// Counts for the status page: passed (confirmed), failed (reverted, needs review), pending;
/// of one chain's transactions with `?chain=`.
pub(crate) async fn stats<S, P, K>(
    State(app): State<Arc<App<S, P, K>>>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Stats>, ApiError>
where
    S: Reading,
{
    let chain_id = only_chain(&params, &app.chains)?;
    // Operators count the whole table; a client's count filters it, so it reads less.
    let cap: u64 = match caller.scope() {
        None => 100_000,
        Some(_) => 20_000,
    };
    let counts = app
        .store
        .count_by_status(
            cap,
            CountScope {
                client: caller.scope(),
                chain_id,
            },
        )
        .await
        .map_err(ApiError::store)?;
    let by_status = counts
        .counts
        .iter()
        .map(|(s, n)| (s.as_str(), *n))
        .collect();
    let sum = |pick: &dyn Fn(Status) -> bool| -> u64 {
        counts
            .counts
            .iter()
            .filter(|(s, _)| pick(*s))
            .map(|(_, n)| n)
            .sum()
    };
    Ok(Json(Stats {
        passed: sum(&|s| s == Status::Confirmed),
        failed: sum(&|s| matches!(s, Status::Reverted | Status::NeedsReview)),
        pending: sum(&|s| {
            !matches!(
                s,
                Status::Confirmed | Status::Reverted | Status::NeedsReview
            )
        }),
        by_status,
        capped: counts.capped,
    }))
}
