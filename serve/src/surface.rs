//! The rest of Alpaca's Trading API surface: watchlists (`watchlists`),
//! account configurations (`configs`), portfolio history (`portfolio`),
//! corporate announcements, option contracts and exercise, and `GET
//! /v3/clock`.
//!
//! Every request here is a call of the broker's `account` endpoint (the
//! v3 clock one of its `clock` endpoint), so it meets that endpoint's
//! latency, faults and rate-limit place, and is answered at the instant
//! it landed.
//!
//! What the simulated broker cannot have it answers as Alpaca answers an
//! account without it:
//!
//! - Corporate announcements: the simulated market has no corporate
//!   actions, so the announcements endpoints are refused as Alpaca
//!   refuses a feature the account does not have: 403 (`40310000`)
//!   naming them. A malformed query is still refused first by name, as
//!   Alpaca checks a query before the account: `ca_types`, `since` and
//!   `until` are required and the range is at most 90 days (alpaca-py's
//!   `GetCorporateAnnouncementsRequest`), a missing or bad one 422.
//! - Options: the account's `options_approved_level` is 0 and the market
//!   lists no option contracts, so option contracts, one contract, and
//!   exercise are refused 403 (`40310000`, the code Alpaca gives an
//!   action the account is not permitted) naming options, rather than
//!   answered with an empty chain that would read as "this underlying has
//!   no options".
//!
//! Entry point: [`Session::surface_route`]. Imports `api` (the broker
//! landing, query reading), `session`, `wire` and its sibling modules.

use std::time::Duration;

use fillproof_simulator::{LedgerRead, calendar::Session as Phase};
use serde_json::json;

use crate::api::query_param;
use crate::configs::Configs;
use crate::session::Session;
use crate::watchlists::Watchlists;
use crate::wire::{Reply, code};

/// The session's state for this surface: one field of the session's
/// `State`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SurfaceState {
    /// The account's watchlists.
    pub(crate) watchlists: Watchlists,
    /// The account's configurations.
    pub(crate) configs: Configs,
}

/// The corporate action types Alpaca takes in `ca_types`.
const CA_TYPES: [&str; 4] = ["dividend", "merger", "spinoff", "split"];

/// The longest `since`–`until` range, in days.
const MAX_ANNOUNCEMENT_DAYS: i64 = 90;

/// The routes of this surface, by first segments.
fn is_surface(segments: &[&str]) -> bool {
    matches!(
        segments,
        ["v2", "watchlists" | "watchlists:by_name", ..]
            | ["v2", "account", "configurations" | "portfolio", ..]
            | ["v2", "corporate_actions", ..]
            | ["v2", "options", ..]
            | ["v2", "positions", _, "exercise" | "do-not-exercise"]
            | ["v3", ..]
    )
}

impl Session {
    /// The answer to a request of this surface that arrived at `arrival`,
    /// or `None` when `segments` name none of its routes.
    pub(crate) async fn surface_route(
        &self,
        method: &str,
        segments: &[&str],
        query: &str,
        body: &[u8],
    ) -> Option<Reply> {
        if !is_surface(segments) {
            return None;
        }
        let read = if segments.first() == Some(&"v3") {
            LedgerRead::Clock
        } else {
            LedgerRead::Account
        };
        Some(
            self.landed(read, |at| {
                self.surface_answer(method, segments, query, body, at)
            })
            .await,
        )
    }

    fn surface_answer(
        &self,
        method: &str,
        segments: &[&str],
        query: &str,
        body: &[u8],
        at: Duration,
    ) -> Reply {
        if let Some(reply) = self.watchlist_route(method, segments, query, body, at) {
            return reply;
        }
        match (method, segments) {
            ("GET", ["v2", "account", "configurations"]) => {
                Reply::json(200, self.state().surface.configs.json())
            }
            ("PATCH", ["v2", "account", "configurations"]) => {
                let mut state = self.state();
                match state.surface.configs.patch(body) {
                    Ok(()) => Reply::json(200, state.surface.configs.json()),
                    Err(refusal) => refusal,
                }
            }
            ("GET", ["v2", "account", "portfolio", "history"]) => self.portfolio_history(query, at),
            ("GET", ["v2", "corporate_actions", "announcements"]) => announcements(query),
            ("GET", ["v2", "corporate_actions", "announcements", _]) => no_announcements(),
            ("GET", ["v2", "options", "contracts", ..])
            | ("POST", ["v2", "positions", _, "exercise" | "do-not-exercise"]) => no_options(),
            ("GET", ["v3", "clock"]) => self.clock_v3(query, at),
            ("GET", ["v3", "calendar", market]) => self.calendar_v3(market, query),
            (_, ["v3", "clock" | "calendar", ..])
            | (_, ["v2", "account" | "corporate_actions" | "options", ..]) => {
                Reply::error(405, code::BAD_REQUEST, "method not allowed")
            }
            _ => Reply::error(404, code::NOT_FOUND, "endpoint not found"),
        }
    }

    /// `GET /v3/clock` at `now`: the NYSE's clock (the one market the
    /// scenario trades), from the same calendar as `GET /v2/clock`.
    fn clock_v3(&self, query: &str, now: Duration) -> Reply {
        if let Some(markets) = query_param(query, "markets") {
            if let Some(other) = markets.split(',').map(str::trim).find(|m| *m != "NYSE") {
                return Reply::error(
                    400,
                    code::BAD_REQUEST,
                    &format!("invalid markets \"{other}\": fillproof serve's market is NYSE"),
                );
            }
        }
        if let Some(time) = query_param(query, "time") {
            return Reply::error(
                400,
                code::BAD_REQUEST,
                &format!("invalid time \"{time}\": fillproof serve answers the clock now only"),
            );
        }
        let stamp = self.stamp(now);
        let unix = stamp.unix_micros;
        let at = |micros: Option<i64>| {
            micros.map(|m| fillproof_engine::Timestamp::from_unix_micros(m).to_string())
        };
        let clock = match self.broker.market().sessions().map(|s| s.calendar()) {
            Some(calendar) => {
                let day = calendar.day_at(unix);
                let (phase, until) = match (day, calendar.session_at(unix)) {
                    (Some(d), Some(Phase::PreMarket)) => ("pre", Some(d.open)),
                    (Some(d), Some(Phase::Regular)) => ("core", Some(d.close)),
                    (Some(d), Some(Phase::AfterHours)) => ("post", Some(d.session_close)),
                    _ => (
                        "closed",
                        calendar
                            .next_open(unix)
                            .and_then(|o| calendar.day_at(o).map(|d| d.session_open)),
                    ),
                };
                json!({
                    "timestamp": stamp.to_string(),
                    "is_market_day": day.is_some(),
                    "next_market_open": at(calendar.next_open(unix.saturating_add(1))),
                    "next_market_close": at(calendar.next_close(unix)),
                    "phase": phase,
                    "phase_until": at(until),
                })
            }
            None => {
                // A market open at any hour: always in its core session,
                // with `/v2/clock`'s next open and close.
                let v2 = crate::wire::clock_json(stamp, None);
                json!({
                    "timestamp": stamp.to_string(),
                    "is_market_day": true,
                    "next_market_open": v2["next_open"],
                    "next_market_close": v2["next_close"],
                    "phase": "core",
                    "phase_until": v2["next_close"],
                })
            }
        };
        let mut clock = clock;
        clock["market"] = crate::calendar::nyse_json();
        Reply::json(200, json!({ "clocks": [clock] }))
    }
}

/// `GET /v2/corporate_actions/announcements`: a well-formed query is
/// refused as the feature is (the scenario's market has no corporate
/// actions), a malformed one by the parameter.
fn announcements(query: &str) -> Reply {
    let refuse = |name: &str, text: &str, expected: &str| {
        Reply::error(
            422,
            code::UNPROCESSABLE,
            &format!("invalid {name} \"{text}\": use {expected}"),
        )
    };
    let types = query_param(query, "ca_types").unwrap_or_default();
    if types.trim().is_empty() {
        return refuse(
            "ca_types",
            &types,
            "one or more of dividend, merger, spinoff, split",
        );
    }
    if let Some(other) = types
        .split(',')
        .map(str::trim)
        .find(|t| !CA_TYPES.contains(t))
    {
        return refuse("ca_types", other, "dividend, merger, spinoff or split");
    }
    let mut dates = Vec::new();
    for name in ["since", "until"] {
        let text = query_param(query, name).unwrap_or_default();
        match text.trim().parse::<fillproof_simulator::Date>() {
            Ok(date) => dates.push(date.days_since_epoch()),
            Err(_) => return refuse(name, &text, "a date such as 2025-01-02"),
        }
    }
    if dates[1] < dates[0] || dates[1] - dates[0] > MAX_ANNOUNCEMENT_DAYS {
        return refuse(
            "until",
            &query_param(query, "until").unwrap_or_default(),
            &format!("a date from since to {MAX_ANNOUNCEMENT_DAYS} days after it"),
        );
    }
    if let Some(kind) = query_param(query, "date_type") {
        let allowed = ["declaration_date", "ex_date", "record_date", "payable_date"];
        if !allowed.contains(&kind.trim()) {
            return refuse("date_type", &kind, &allowed.join(", "));
        }
    }
    no_announcements()
}

/// The refusal of the corporate announcements endpoints.
fn no_announcements() -> Reply {
    Reply::error(
        403,
        code::FORBIDDEN,
        "corporate announcements are not enabled for this account: fillproof serve's market \
         has no corporate actions",
    )
}

/// The refusal of every options request.
fn no_options() -> Reply {
    Reply::error(
        403,
        code::FORBIDDEN,
        "options trading is not enabled for this account (options_approved_level 0): \
         fillproof serve simulates no options",
    )
}
