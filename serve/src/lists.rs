//! The Trading API's batched reads, answered through the simulated
//! broker's own calls so that each has the scenario's latency, faults and
//! rate-limit place for its endpoint:
//!
//! - `GET /v2/orders` (`status`, `limit`, `after`, `until`, `direction`,
//!   `symbols`, `nested`, `side`) is the broker's `list_orders`. The
//!   broker's query has no side: with `side` the list is asked for at the
//!   most orders one read returns (500) and filtered here, then cut at the
//!   client's `limit`, which is exact unless more than 500 orders of both
//!   sides fall in the query's window.
//! - `GET /v2/account/activities/{type}` and `GET /v2/account/activities`
//!   (`activity_types=FILL,DIV,...`, or none for every type): fills are
//!   the broker's `fill_activities`, one record per execution, paged by
//!   `page_token` (`after`, `until`, `date`, `direction`, `page_size`).
//!   The simulated account has no activity of any other of Alpaca's types
//!   (it receives no dividends, moves no money, pays no fees), so a
//!   request for those types only is an empty list, still a call of the
//!   broker's `account` endpoint; a type Alpaca does not have is 422
//!   naming it.
//!
//! A malformed parameter is 422 naming it, as Alpaca answers. Entry
//! points: [`Session::list_orders`], [`Session::activities`]. Imports
//! `api`'s query reading and error replies, and `wire`.

use fillproof_engine::{
    ActivityQuery, Broker as _, Direction, MAX_ACTIVITY_PAGE, MAX_LIST_LIMIT, OrderQuery, Side,
    StatusFilter, Timestamp,
};
use serde_json::Value;

use crate::api::{error_reply, query_param};
use crate::session::Session;
use crate::wire::{self, Reply, code};

/// The only account activity type the simulated account has.
const FILL: &str = "FILL";

/// The default number of orders a list read returns (Alpaca's).
const DEFAULT_LIST_LIMIT: u32 = 50;

/// A 422 naming the parameter `name` and what it takes.
fn refuse(name: &str, text: &str, expected: &str) -> Reply {
    Reply::error(
        422,
        code::BAD_REQUEST,
        &format!("invalid {name} \"{text}\": use {expected}"),
    )
}

/// `name`'s value as one of `allowed` (each paired with what it means),
/// `default` when absent.
fn choice<T: Copy>(query: &str, name: &str, allowed: &[(&str, T)], default: T) -> Result<T, Reply> {
    let Some(text) = query_param(query, name) else {
        return Ok(default);
    };
    allowed
        .iter()
        .find(|(spelling, _)| spelling.eq_ignore_ascii_case(text.trim()))
        .map(|(_, value)| *value)
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|(spelling, _)| *spelling).collect();
            let listed = match names.split_last() {
                Some((last, [])) => (*last).to_owned(),
                Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                None => String::new(),
            };
            refuse(name, &text, &listed)
        })
}

/// `name`'s value as an RFC 3339 instant, `None` when absent. A `+` of an
/// offset sent unescaped reads as a space once the query is decoded; it
/// is read back as the `+` it was.
fn instant(query: &str, name: &str) -> Result<Option<Timestamp>, Reply> {
    let Some(text) = query_param(query, name) else {
        return Ok(None);
    };
    let unescaped = match text.trim().rsplit_once(' ') {
        Some((time, offset)) if offset.len() == 5 => format!("{time}+{offset}"),
        _ => text.clone(),
    };
    Timestamp::parse_rfc3339(&text)
        .or_else(|| Timestamp::parse_rfc3339(&unescaped))
        .map(Some)
        .ok_or_else(|| {
            refuse(
                name,
                &text,
                "an RFC 3339 time, such as 2025-01-02T14:30:00Z",
            )
        })
}

/// `name`'s value as a whole number from 1 to `most`, `default` when
/// absent.
fn bounded(query: &str, name: &str, most: u32, default: u32) -> Result<u32, Reply> {
    let Some(text) = query_param(query, name) else {
        return Ok(default);
    };
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=most).contains(n))
        .ok_or_else(|| refuse(name, &text, &format!("a whole number from 1 to {most}")))
}

/// The oldest-or-newest-first parameter, newest first when absent.
fn direction(query: &str) -> Result<Direction, Reply> {
    choice(
        query,
        "direction",
        &[("asc", Direction::Asc), ("desc", Direction::Desc)],
        Direction::Desc,
    )
}

/// What `GET /v2/orders` asks for: the broker's list query, and the side
/// the port's query cannot carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListRequest {
    /// The list read, as the client asked for it.
    pub(crate) query: OrderQuery,
    /// Only orders on this side, when given.
    pub(crate) side: Option<Side>,
}

/// Reads `GET /v2/orders`'s query string.
///
/// # Errors
/// The refusal (422) naming the first parameter that does not read.
pub(crate) fn list_request(query: &str) -> Result<ListRequest, Reply> {
    let status = choice(
        query,
        "status",
        &[
            ("open", StatusFilter::Open),
            ("closed", StatusFilter::Closed),
            ("all", StatusFilter::All),
        ],
        StatusFilter::Open,
    )?;
    let limit = bounded(query, "limit", MAX_LIST_LIMIT, DEFAULT_LIST_LIMIT)?;
    let after = instant(query, "after")?;
    let until = instant(query, "until")?;
    let direction = direction(query)?;
    // alpaca-py sends Python's `True`: any case.
    let nested = choice(query, "nested", &[("true", true), ("false", false)], false)?;
    let side = choice(
        query,
        "side",
        &[("buy", Some(Side::Buy)), ("sell", Some(Side::Sell))],
        None,
    )?;
    let symbols = query_param(query, "symbols")
        .map(|list| {
            list.split(',')
                .map(|s| s.trim().to_ascii_uppercase())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Ok(ListRequest {
        query: OrderQuery {
            status,
            after,
            until,
            direction,
            symbols,
            nested,
            limit,
        },
        side,
    })
}

/// Every account activity type Alpaca has (alpaca-py's `ActivityType`).
pub(crate) const ACTIVITY_TYPES: [&str; 37] = [
    "FILL", "ACATC", "ACATS", "CFEE", "CIL", "CSD", "CSW", "DIV", "DIVCGL", "DIVCGS", "DIVNRA",
    "DIVROC", "DIVTXEX", "DIVWH", "EXTRD", "FEE", "FXTRD", "INT", "INTPNL", "JNLC", "JNLS", "MA",
    "MEM", "NC", "OCT", "OPASN", "OPCSH", "OPEXC", "OPEXP", "OPTRD", "PTC", "REORG", "SPIN",
    "SPLIT", "SWP", "VOF", "WH",
];

/// The types an activities request asks for: the path's, or those
/// `activity_types` lists (every type when neither names one).
fn activity_types(kind: Option<&str>, query: &str) -> Result<Vec<String>, Reply> {
    let listed: Vec<String> = match kind {
        Some(kind) => vec![kind.to_owned()],
        None => query_param(query, "activity_types")
            .unwrap_or_default()
            .split(',')
            .map(|t| t.trim().to_ascii_uppercase())
            .filter(|t| !t.is_empty())
            .collect(),
    };
    if let Some(unknown) = listed
        .iter()
        .find(|t| !ACTIVITY_TYPES.contains(&t.as_str()))
    {
        return Err(Reply::error(
            422,
            code::BAD_REQUEST,
            &format!("invalid activity type \"{unknown}\": use one of Alpaca's activity types"),
        ));
    }
    Ok(listed)
}

/// `date` as the window from its New York midnight to the next, when
/// given (and then without `after` or `until`).
fn date_window(query: &str) -> Result<Option<(Timestamp, Timestamp)>, Reply> {
    let Some(text) = query_param(query, "date") else {
        return Ok(None);
    };
    if query_param(query, "after").is_some() || query_param(query, "until").is_some() {
        return Err(refuse(
            "date",
            &text,
            "either date or after and until, not both",
        ));
    }
    let midnight = |date: fillproof_simulator::Date| date.eastern_midnight();
    let date: fillproof_simulator::Date = text
        .trim()
        .get(..10)
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| refuse("date", &text, "a date such as 2025-01-02"))?;
    let next = fillproof_simulator::Date::from_days_since_epoch(date.days_since_epoch() + 1);
    match (midnight(date), next.and_then(midnight)) {
        (Some(start), Some(end)) => Ok(Some((
            Timestamp::from_unix_micros(start - 1),
            Timestamp::from_unix_micros(end),
        ))),
        _ => Err(refuse("date", &text, "a date such as 2025-01-02")),
    }
}

/// Reads an activities query string; `kind` is the type the path names
/// (`/v2/account/activities/{kind}`), `None` for the path without one,
/// where `activity_types` may list them. `None` when the types asked for
/// exclude `FILL`: the simulated account has no activity of any other
/// type (no dividends, transfers, fees or corporate actions), so those
/// answer an empty list.
///
/// # Errors
/// The refusal (422) naming the first parameter that does not read, or
/// the activity type Alpaca does not have.
pub(crate) fn activity_query(
    kind: Option<&str>,
    query: &str,
) -> Result<Option<ActivityQuery>, Reply> {
    let types = activity_types(kind, query)?;
    let window = date_window(query)?;
    let query = ActivityQuery {
        after: window.map_or(instant(query, "after"), |w| Ok(Some(w.0)))?,
        until: window.map_or(instant(query, "until"), |w| Ok(Some(w.1)))?,
        direction: direction(query)?,
        page_size: bounded(query, "page_size", MAX_ACTIVITY_PAGE, MAX_ACTIVITY_PAGE)?,
        page_token: query_param(query, "page_token").filter(|t| !t.is_empty()),
    };
    Ok((types.is_empty() || types.iter().any(|t| t == FILL)).then_some(query))
}

impl Session {
    /// `GET /v2/orders`: the broker's list read, each order as Alpaca
    /// sends it.
    pub(crate) async fn list_orders(&self, query: &str) -> Reply {
        let ListRequest { mut query, side } = match list_request(query) {
            Ok(request) => request,
            Err(refusal) => return refusal,
        };
        let limit = query.limit as usize;
        if side.is_some() {
            query.limit = MAX_LIST_LIMIT;
        }
        match self.broker.list_orders(&query).await {
            Ok(orders) => Reply::json(
                200,
                Value::Array(
                    orders
                        .iter()
                        .filter(|o| side.is_none_or(|side| o.side == side))
                        .take(limit)
                        .map(|o| wire::order_json(o, &self.asset_id(&o.symbol)))
                        .collect(),
                ),
            ),
            Err(error) => error_reply(&error),
        }
    }

    /// `GET /v2/account/activities[/{kind}]`: the broker's fill
    /// activities, each as Alpaca sends a `FILL` activity.
    pub(crate) async fn activities(&self, kind: Option<&str>, query: &str) -> Reply {
        let query = match activity_query(kind, query) {
            Ok(Some(query)) => query,
            Ok(None) => {
                return self
                    .landed(fillproof_simulator::LedgerRead::Account, |_| {
                        Reply::json(200, Value::Array(Vec::new()))
                    })
                    .await;
            }
            Err(refusal) => return refusal,
        };
        match self.broker.fill_activities(&query).await {
            Ok(records) => {
                let account = self.account_id();
                Reply::json(
                    200,
                    Value::Array(
                        records
                            .iter()
                            .map(|r| wire::fill_activity_json(r, &account))
                            .collect(),
                    ),
                )
            }
            Err(error) => error_reply(&error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of(reply: &Reply) -> u16 {
        match reply {
            Reply::Json { status, .. } => *status,
            _ => 0,
        }
    }

    fn message_of(reply: &Reply) -> String {
        match reply {
            Reply::Json { body, .. } => body["message"].as_str().unwrap_or_default().to_owned(),
            _ => String::new(),
        }
    }

    /// Goal: a list query reads every parameter Alpaca takes, defaults
    /// included. Method: an empty query and one setting them all.
    #[test]
    fn list_queries_read_every_parameter() {
        assert_eq!(
            list_request(""),
            Ok(ListRequest {
                query: OrderQuery::default(),
                side: None
            })
        );
        let request = list_request(
            "status=all&limit=7&after=2025-01-02T14:30:00Z&until=2025-01-02T15:00:00%2B01:00\
             &direction=asc&symbols=spy,%20qqq,&nested=True&side=sell",
        )
        .expect("reads");
        let query = &request.query;
        assert_eq!(query.status, StatusFilter::All);
        assert_eq!(query.limit, 7);
        assert_eq!(
            query.after.map(|t| t.to_string()).as_deref(),
            Some("2025-01-02T14:30:00.000000Z")
        );
        assert_eq!(
            query.until.map(|t| t.to_string()).as_deref(),
            Some("2025-01-02T14:00:00.000000Z")
        );
        assert_eq!(query.direction, Direction::Asc);
        assert_eq!(query.symbols, ["SPY", "QQQ"]);
        assert!(query.nested);
        assert_eq!(request.side, Some(Side::Sell));
    }

    /// Goal: an offset's `+` sent unescaped (a space once decoded) still
    /// reads as the `+` it was.
    #[test]
    fn an_unescaped_offset_plus_reads_as_a_plus() {
        let request = list_request("after=2025-01-02T15:30:00+01:00").expect("reads");
        assert_eq!(
            request.query.after.map(|t| t.to_string()).as_deref(),
            Some("2025-01-02T14:30:00.000000Z")
        );
    }

    /// Goal: each malformed list parameter is a 422 naming it. Method: one
    /// bad value per parameter.
    #[test]
    fn malformed_list_parameters_are_refused_by_name() {
        for (query, name) in [
            ("status=done", "status"),
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("limit=many", "limit"),
            ("after=yesterday", "after"),
            ("until=2025-13-01T00:00:00Z", "until"),
            ("direction=up", "direction"),
            ("nested=yes", "nested"),
            ("side=short", "side"),
        ] {
            let refusal = list_request(query).expect_err(query);
            assert_eq!(status_of(&refusal), 422, "{query}");
            assert!(
                message_of(&refusal).starts_with(&format!("invalid {name} ")),
                "{query}: {refusal:?}"
            );
        }
    }

    /// Goal: an activities query reads its parameters; Alpaca's other
    /// types ask for no fills and an unknown type is refused naming it.
    /// Method: the path's type, the list's types, `date`, a page past the
    /// most, a type Alpaca does not have.
    #[test]
    fn activity_queries_read_every_type_and_refuse_unknown_ones() {
        assert_eq!(
            activity_query(Some("FILL"), ""),
            Ok(Some(ActivityQuery::default()))
        );
        assert_eq!(activity_query(None, ""), Ok(Some(ActivityQuery::default())));
        assert_eq!(activity_query(Some("DIV"), ""), Ok(None));
        assert_eq!(activity_query(None, "activity_types=DIV,CSD"), Ok(None));
        let query = activity_query(
            None,
            "activity_types=FILL,DIV&direction=asc&page_size=5&page_token=abc&after=2025-01-02T14:30:00Z",
        )
        .expect("reads")
        .expect("asks for fills");
        assert_eq!(query.direction, Direction::Asc);
        assert_eq!(query.page_size, 5);
        assert_eq!(query.page_token.as_deref(), Some("abc"));
        assert!(query.after.is_some() && query.until.is_none());
        let day = activity_query(Some("FILL"), "date=2025-01-02")
            .expect("reads")
            .expect("asks for fills");
        assert_eq!(
            day.until.map(|t| t.to_string()).as_deref(),
            Some("2025-01-03T05:00:00.000000Z")
        );
        for (kind, query, named) in [
            (Some("DIVIDEND"), "", "\"DIVIDEND\""),
            (None, "activity_types=FILL,XYZ", "\"XYZ\""),
            (Some("FILL"), "page_size=101", "page_size"),
            (Some("FILL"), "direction=sideways", "direction"),
            (Some("FILL"), "date=someday", "date"),
            (
                Some("FILL"),
                "date=2025-01-02&after=2025-01-02T14:30:00Z",
                "date",
            ),
        ] {
            let refusal = activity_query(kind, query).expect_err(query);
            assert_eq!(status_of(&refusal), 422, "{query}");
            assert!(message_of(&refusal).contains(named), "{query}: {refusal:?}");
        }
    }
}
