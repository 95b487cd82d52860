//! The read routes: one transaction, a page of them, the counts. A client reads only its own;
//! an operator reads all.

use super::*;

pub(crate) async fn show<S, P, K>(
    State(app): State<Arc<App<S, P, K>>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<TransactionView>, ApiError>
where
    S: Reading,
{
    if id.len() > MAX_ID_LEN {
        return Err(ApiError::InvalidPath(format!(
            "a transaction id is a UUID, not {} characters",
            id.len()
        )));
    }
    let id: TxId = id
        .parse()
        .map_err(|e: tx_shared::domain::InvalidTxId| ApiError::InvalidPath(e.to_string()))?;
    match app.store.get(id).await {
        // Another client's transaction is as absent as one that never existed.
        Ok(Some(tx)) if caller.may_see(tx.client.as_ref()) => Ok(Json(TransactionView::from(&tx))),
        Ok(_) => Err(ApiError::NotFound(format!(
            "transaction {id} does not exist"
        ))),
        Err(e) => Err(ApiError::store(e)),
    }
}

/// Longer ids, cursors, searches and filters are refused before they are parsed.
const MAX_ID_LEN: usize = 64;
const MAX_CURSOR_LEN: usize = 1024;
const MAX_FILTER_LEN: usize = 1024;

pub(crate) async fn list<S, P, K>(
    State(app): State<Arc<App<S, P, K>>>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError>
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
        return Ok(Json(json!({ "transactions": items, "next_cursor": null })));
    }
    let page = app.store.list(&query).await.map_err(ApiError::store)?;
    let items: Vec<TransactionView> = page.items.iter().map(TransactionView::from).collect();
    Ok(Json(
        json!({ "transactions": items, "next_cursor": page.next_cursor }),
    ))
}

const LIST_PARAMETERS: [&str; 9] = [
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
    let given = |name: &str| params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let status = given("status")
        .map(|s| s.parse::<Status>())
        .transpose()
        .map_err(|e| invalid(format!("status: {e}")))?;
    let limit = match given("limit") {
        None => DEFAULT_PAGE_SIZE,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
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

/// Counts for the status page: passed (confirmed), failed (reverted, needs review), pending;
/// of one chain's transactions with `?chain=`.
pub(crate) async fn stats<S, P, K>(
    State(app): State<Arc<App<S, P, K>>>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError>
where
    S: Reading,
{
    if let Some(unknown) = params.keys().find(|k| k.as_str() != "chain") {
        return Err(ApiError::InvalidQuery(format!(
            "unknown query parameter `{unknown}`; use chain"
        )));
    }
    let chain_id = match params
        .get("chain")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        Some(raw) if raw.len() > MAX_FILTER_LEN => {
            return Err(ApiError::InvalidQuery(format!(
                "`chain` is {} characters long; that is more than any valid value",
                raw.len()
            )));
        }
        Some(raw) => Some(chain_filter(raw, &app.chains)?),
        None => None,
    };
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
    let by_status: serde_json::Map<String, serde_json::Value> = counts
        .counts
        .iter()
        .map(|(s, n)| (s.as_str().to_owned(), json!(n)))
        .collect();
    let sum = |pick: &dyn Fn(Status) -> bool| -> u64 {
        counts
            .counts
            .iter()
            .filter(|(s, _)| pick(*s))
            .map(|(_, n)| n)
            .sum()
    };
    Ok(Json(json!({
        "passed": sum(&|s| s == Status::Confirmed),
        "failed": sum(&|s| matches!(s, Status::Reverted | Status::NeedsReview)),
        "pending": sum(&|s| !matches!(s, Status::Confirmed | Status::Reverted | Status::NeedsReview)),
        "by_status": by_status,
        "capped": counts.capped,
    })))
}
