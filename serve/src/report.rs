//! The session's report: per order what the broker did, and once clients
//! claimed, their claims judged against the ledger.
//!
//! Entry points: [`Session::report`], the report at a virtual time, and
//! [`Session::shut_down`], which lets every request on its way land, takes
//! the report and ends the request log. Every claim-versus-ledger rule and
//! figure is [`fillproof_simulator::judge`]'s (through
//! [`judge_claims`](crate::claims::judge_claims)), the ones `fillproof run`
//! measures an engine by. Imports `session` and `wire`.

use std::time::Duration;

use fillproof_engine::clock::sleep;
use fillproof_simulator::{Expectation, Ledger, LedgerOrder, judge};
use indexmap::IndexMap;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::claims::{ClaimBook, ClaimHistory, Verdict, judge_claims};
use std::sync::Arc;

use fillproof_simulator::SimBroker;

use crate::session::{Session, State};
use crate::wire::Reply;

impl Session {
    /// The report at virtual time `now`: per order what the broker did,
    /// calls by endpoint, 429s, faults by kind, duplicate orders, and once
    /// claims were posted the fills missed and invented against the ledger.
    ///
    /// Over every account: with more than one (API keys trading accounts
    /// of their own), the figures are the accounts' together, each order
    /// names its account, and [`Report::accounts`] gives each account's
    /// own figures.
    #[must_use]
    pub fn report(self: &Arc<Self>, now: Duration) -> Report {
        let (mut parts, counts): (Vec<Report>, Vec<Counts>) = self
            .all_accounts()
            .iter()
            .map(|account| account.account_report(now))
            .unzip();
        let requests = self.requests_received();
        let mut report = if parts.len() == 1 {
            parts.pop().unwrap_or_default()
        } else {
            let mut total = Report::total(&self.scenario, self.broker.seed(), now, &parts, &counts);
            for part in &mut parts {
                part.orders.clear();
            }
            total.accounts = parts;
            total
        };
        report.key = None;
        report.requests = requests;
        report.judge(&self.expectations);
        // Each account is judged on its own too: a bot that misses every
        // fill fails the session, however well the others did (a rate
        // over the pooled accounts would hide it).
        report.passed &= report.accounts.iter().all(|account| account.passed);
        report
    }

    /// This account's report at `now`, its thresholds judged, and the
    /// verdict counts behind its claims figures.
    fn account_report(&self, now: Duration) -> (Report, Counts) {
        let state = self.state();
        let claimed = !state.claims.is_empty();
        let (orders, counts) = self.broker.with_ledger(|ledger| {
            let mut counts = Counts::default();
            let orders: Vec<OrderReport> = ledger
                .orders()
                .iter()
                .filter(|o| o.accepted_at <= now)
                .map(|o| {
                    let claims = state.claims.get(&o.client_order_id);
                    let verdict = claimed.then(|| judge_claims(claims, Some(o), now));
                    counts.add(o.filled_qty_at(now), verdict);
                    let mut order = order_report(o, claims, &state, now);
                    order.account = self.key().map(str::to_owned);
                    order
                })
                .collect();
            if claimed {
                counts.false_positives += unheld_claims_invented(&state.claims, ledger, now);
            }
            (orders, counts)
        });
        let mut report = self.summary(now, &state, orders, &counts);
        if !state.restarts.is_empty() {
            let (orphaned, duplicates) = self
                .broker
                .with_ledger(|ledger| restart_figures(ledger, &state, now));
            report.restarts = Some(state.restarts.len() as u64);
            report.orders_orphaned = Some(orphaned);
            report.duplicates_across_restarts = Some(duplicates);
        }
        report.judge(&self.expectations);
        (report, counts)
    }

    /// Ends the session whose shutdown request `seq` arrived at `at`:
    /// lets every request still on its way to the broker land (the broker
    /// applies a request at its arrival whether or not anyone waits, so
    /// before then the ledger is not the whole truth), takes the report
    /// when the last of them has landed (at `at` when none was on its
    /// way), logs it as the shutdown's answer, writes what is left of the
    /// log and its end line, and logs no more.
    ///
    /// The wait is bounded by the requests' drawn request legs, and is in
    /// virtual time: the report's time is the last landing, so a replay
    /// takes the very same report.
    pub async fn shut_down(self: &Arc<Self>, seq: u64, at: Duration) -> Report {
        let (in_flight, until) = self.let_land(at).await;
        let mut report = self.report(until);
        report.requests_in_flight_at_shutdown = in_flight;
        self.end_log(seq, &report_reply(&report));
        report
    }

    /// Waits until no request is on its way to the broker. Returns how
    /// many were still on their way at `at` (landing after it), and the
    /// time the last of them landed (`at` when none).
    async fn let_land(self: &Arc<Self>, at: Duration) -> (u64, Duration) {
        // A request that arrived in the same instant as the shutdown may
        // not have left for the broker yet (a replay hands it to a task
        // of its own): let it leave first.
        tokio::task::yield_now().await;
        let brokers = self.brokers();
        let in_flight = brokers
            .iter()
            .flat_map(SimBroker::requests_on_their_way)
            .filter(|lands| *lands > at)
            .count() as u64;
        let mut until = at;
        let last_on_the_way = || {
            brokers
                .iter()
                .filter_map(|b| b.requests_on_their_way().last().copied())
                .max()
        };
        while let Some(last) = last_on_the_way() {
            until = until.max(last);
            let now = self.broker.elapsed();
            // Past its time and not landed yet: its task has not run; give
            // it the runtime.
            sleep(last.saturating_sub(now).max(Duration::from_millis(1))).await;
        }
        (in_flight, until)
    }

    /// The report's figures from the orders and the counts of their
    /// verdicts, its thresholds not yet judged.
    fn summary(
        &self,
        now: Duration,
        state: &State,
        orders: Vec<OrderReport>,
        counts: &Counts,
    ) -> Report {
        let claimed = !state.claims.is_empty();
        let faults = self.broker.faults_injected();
        let calls = self.broker.calls();
        Report {
            scenario: self.scenario.clone(),
            seed: self.broker.seed(),
            at_ms: u64::try_from(now.as_millis()).unwrap_or(u64::MAX),
            key: self.key().map(str::to_owned),
            requests: state.requests,
            orders_placed: orders.len() as u64,
            filled_orders: counts.filled,
            calls_by_endpoint: calls
                .iter()
                .map(|(e, n)| (e.as_str().to_owned(), n))
                .collect(),
            rate_limited_calls: judge::rate_limited_calls(&faults),
            faults_injected: faults.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            duplicate_orders: state.duplicates.len() as u64,
            claims: claimed.then_some(state.claims.orders() as u64),
            missed_fills: claimed.then_some(counts.missed),
            false_positives: claimed.then_some(counts.false_positives),
            price_mismatches: judge::price_mismatches(counts.priced, counts.price_mismatches),
            detection_rate: claimed
                .then(|| judge::detection_rate(counts.detected, counts.filled))
                .flatten(),
            restarts: None,
            orders_orphaned: None,
            duplicates_across_restarts: None,
            orders,
            requests_in_flight_at_shutdown: 0,
            expectations: Vec::new(),
            partial: false,
            passed: true,
            accounts: Vec::new(),
        }
    }
}

/// The verdicts of a report's orders, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Counts {
    filled: u64,
    detected: u64,
    missed: u64,
    false_positives: u64,
    priced: u64,
    price_mismatches: u64,
}

impl Counts {
    /// Counts one order that filled `filled_qty`, with the verdict on its
    /// claims once any claim was posted.
    fn add(&mut self, filled_qty: Decimal, verdict: Option<Verdict>) {
        if let Some(verdict) = verdict {
            self.false_positives += u64::from(verdict.false_positive);
            self.missed += u64::from(verdict.missed);
            self.detected += u64::from(verdict.detected);
            if let Some(mismatch) = verdict.price_mismatch {
                self.priced += 1;
                self.price_mismatches += u64::from(mismatch);
            }
        }
        self.filled += u64::from(judge::filled(filled_qty));
    }

    /// Adds another account's counts.
    fn add_counts(&mut self, other: &Counts) {
        self.filled += other.filled;
        self.detected += other.detected;
        self.missed += other.missed;
        self.false_positives += other.false_positives;
        self.priced += other.priced;
        self.price_mismatches += other.price_mismatches;
    }
}

/// Claims for orders the broker never had (by the report's time) invent
/// fills too: how many of them do. Looked up by id, not searched for,
/// since a session may hold a million claims.
fn unheld_claims_invented(claims: &ClaimBook, ledger: &Ledger, now: Duration) -> u64 {
    claims
        .iter()
        .filter(|(id, _)| ledger.by_client_id(id).is_none_or(|o| o.accepted_at > now))
        .filter(|(_, c)| judge_claims(Some(c), None, now).false_positive)
        .count() as u64
}

/// One order as the report shows it at `now`, with the latest of its
/// `claims`.
fn order_report(
    o: &LedgerOrder,
    claims: Option<&ClaimHistory>,
    state: &State,
    now: Duration,
) -> OrderReport {
    let ms = |t: Duration| u64::try_from(t.as_millis()).unwrap_or(u64::MAX);
    OrderReport {
        account: None,
        arrival_index: state
            .arrivals
            .get_index_of(&o.client_order_id)
            .and_then(|i| u32::try_from(i).ok()),
        id: o.id.clone(),
        client_order_id: o.client_order_id.clone(),
        symbol: o.symbol.clone(),
        side: o.side.to_string(),
        qty: o.qty,
        accepted_at_ms: ms(o.accepted_at),
        status: o.status_at(now).as_str().to_owned(),
        filled_qty: o.filled_qty_at(now),
        fills: o
            .fills_by(now)
            .map(|f| FillReport {
                at_ms: ms(f.at),
                qty: f.qty,
                price: f.price,
            })
            .collect(),
        cancel_requested_at_ms: o.cancel_requested_at.filter(|t| *t <= now).map(ms),
        fills_due: o.fills.iter().filter(|f| f.at > now).count() as u64,
        claimed_qty: claims.map(|c| c.latest.qty),
        claimed_avg_price: claims.and_then(|c| c.latest.avg_price),
        duplicate_of: state.duplicates.get(&o.id).cloned(),
    }
}

/// An order as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderReport {
    /// The API key of the account that placed it, in a session where
    /// keys trade accounts of their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Its arrival index (the `order` a timeline names), when a submit
    /// carried its client id.
    pub arrival_index: Option<u32>,
    /// The broker's id.
    pub id: String,
    /// The client's id (made up by the server when the client sent none).
    pub client_order_id: String,
    /// The instrument.
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// Ordered quantity.
    pub qty: Decimal,
    /// When the broker accepted it, virtual milliseconds.
    pub accepted_at_ms: u64,
    /// Its true status at the report's time.
    pub status: String,
    /// Quantity truly filled by then.
    pub filled_qty: Decimal,
    /// Each execution.
    pub fills: Vec<FillReport>,
    /// When a cancel was first asked for.
    pub cancel_requested_at_ms: Option<u64>,
    /// Executions the broker had set for after the report's time (its
    /// fill was on its way when the session ended): a claim on the order
    /// was judged before the fills the bot was to see.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fills_due: u64,
    /// What the client claimed filled last, if it claimed.
    pub claimed_qty: Option<Decimal>,
    /// The average price that claim gave, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_avg_price: Option<Decimal>,
    /// The order this one duplicates: a resend of a submit whose answer the
    /// client never got.
    pub duplicate_of: Option<String>,
}

/// One execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FillReport {
    /// When, virtual milliseconds.
    pub at_ms: u64,
    /// How much.
    pub qty: Decimal,
    /// At what price.
    pub price: Decimal,
}

/// One `expect:` threshold, judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judged {
    /// `metric op value`.
    pub expectation: String,
    /// The measured value; absent when the session cannot measure it.
    pub actual: Option<f64>,
    /// Whether it held (an absent metric never holds).
    pub ok: bool,
}

/// A session's report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// The API key of the account, in an entry of [`Report::accounts`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The seed.
    pub seed: u64,
    /// The report's virtual time, milliseconds since the session began:
    /// at a shutdown, when the last request still on its way to the
    /// broker landed ([`Report::requests_in_flight_at_shutdown`]), or the
    /// shutdown's own time when none was.
    pub at_ms: u64,
    /// API requests and claims received.
    pub requests: u64,
    /// Orders the broker accepted.
    pub orders_placed: u64,
    /// Orders with any quantity filled.
    pub filled_orders: u64,
    /// Broker calls by endpoint.
    pub calls_by_endpoint: IndexMap<String, u64>,
    /// `rate_limited_calls`, as the README's metrics table defines it
    /// ([`judge::rate_limited_calls`]).
    pub rate_limited_calls: u64,
    /// Faults injected, by kind.
    pub faults_injected: IndexMap<String, u64>,
    /// Orders that are resends of an order already placed.
    pub duplicate_orders: u64,
    /// Client order ids claimed; absent before any claim.
    pub claims: Option<u64>,
    /// `missed_fills`, judged on the latest claim per order; absent
    /// before any claim.
    pub missed_fills: Option<u64>,
    /// `false_positives`, judged on every claim at the moment it was
    /// posted, client order ids the broker never had included; absent
    /// before any claim.
    pub false_positives: Option<u64>,
    /// `price_mismatches`, judged on the latest claim per order; absent
    /// when no latest claim gave a price for a filled order.
    #[serde(default)]
    pub price_mismatches: Option<u64>,
    /// `detection_rate`, judged on the latest claim per order; absent
    /// before any claim, or when nothing filled.
    pub detection_rate: Option<f64>,
    /// Restarts the bot reported (`POST /_fillproof/restart`); absent
    /// when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts: Option<u64>,
    /// Orders placed before the bot's last restart, still working when
    /// the report is taken, that no claim posted since the restart
    /// covers: orders the restarted bot does not know it has. Absent
    /// without a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orders_orphaned: Option<u64>,
    /// Orders placed after a restart with the body (symbol, side,
    /// quantity, limit) of an order placed before it and not claimed
    /// since (one the bot does not know it has: still working, or filled
    /// while it was down), under another client order id, each paired
    /// with one such order: the bot sent again what it had sent. A bot
    /// tells serve what it recovered by claiming it. Absent without a
    /// restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicates_across_restarts: Option<u64>,
    /// Every order.
    pub orders: Vec<OrderReport>,
    /// Requests still on their way to the broker when the session shut
    /// down (broker calls: a `DELETE /v2/orders` makes one per open
    /// order). The report waited for them to land and is taken when the
    /// last did (`at_ms`), so the orders they placed and the cancels they
    /// asked for are in it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub requests_in_flight_at_shutdown: u64,
    /// The scenario's `expect:` thresholds, judged.
    pub expectations: Vec<Judged>,
    /// True for the replay of a request log with no end line (`fillproof
    /// replay-session --partial`): a report of part of a session, which
    /// never passes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// True when every threshold held (never for a partial report).
    pub passed: bool,
    /// Each account's own report, by key, when more than one account
    /// took part (its `orders` empty: the session's list names each
    /// order's account), its thresholds judged on its own figures; absent
    /// with one. The session passes only when the total and every account
    /// pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<Report>,
}

impl Report {
    /// The value of `metric`, when the session measures it.
    #[must_use]
    pub fn metric(&self, metric: &str) -> Option<f64> {
        let count = |n: u64| Some(n as f64);
        match metric {
            "detection_rate" => self.detection_rate,
            "missed_fills" => self.missed_fills.and_then(count),
            "false_positives" => self.false_positives.and_then(count),
            "price_mismatches" => self.price_mismatches.and_then(count),
            "duplicate_orders" => count(self.duplicate_orders),
            "filled_orders" => count(self.filled_orders),
            "orders" => count(self.orders_placed),
            "rate_limited_calls" => count(self.rate_limited_calls),
            "orders_orphaned" => self.orders_orphaned.and_then(count),
            "duplicates_across_restarts" => self.duplicates_across_restarts.and_then(count),
            _ => None,
        }
    }

    /// Marks the report as one of part of a session (a request log with
    /// no end line): it does not pass, whatever its thresholds say.
    pub fn mark_partial(&mut self) {
        self.partial = true;
        self.passed = false;
    }

    /// The session's report over the accounts' `parts`: counts summed,
    /// rates from the summed counts, every order listed. A claims figure
    /// is there only when every account that placed an order claimed
    /// (before then no total can be told), a restart figure when any
    /// account's bot restarted.
    fn total(
        scenario: &str,
        seed: u64,
        now: Duration,
        parts: &[Report],
        part_counts: &[Counts],
    ) -> Report {
        let sum = |f: fn(&Report) -> u64| parts.iter().map(f).sum::<u64>();
        let all_claimed = parts
            .iter()
            .all(|p| p.claims.is_some() || p.orders_placed == 0);
        let claimed_sum = |f: fn(&Report) -> Option<u64>| {
            all_claimed.then(|| parts.iter().filter_map(f).sum::<u64>())
        };
        let any_sum =
            |f: fn(&Report) -> Option<u64>| parts.iter().filter_map(f).reduce(|a, b| a + b);
        let mut counts = Counts::default();
        for (_, part) in parts
            .iter()
            .zip(part_counts)
            .filter(|(p, _)| p.claims.is_some())
        {
            counts.add_counts(part);
        }
        let mut calls_by_endpoint = IndexMap::new();
        let mut faults_injected = IndexMap::new();
        for part in parts {
            for (endpoint, n) in &part.calls_by_endpoint {
                *calls_by_endpoint.entry(endpoint.clone()).or_insert(0) += n;
            }
            for (kind, n) in &part.faults_injected {
                *faults_injected.entry(kind.clone()).or_insert(0) += n;
            }
        }
        Report {
            scenario: scenario.to_owned(),
            seed,
            at_ms: u64::try_from(now.as_millis()).unwrap_or(u64::MAX),
            orders_placed: sum(|p| p.orders_placed),
            filled_orders: sum(|p| p.filled_orders),
            calls_by_endpoint,
            rate_limited_calls: sum(|p| p.rate_limited_calls),
            faults_injected,
            duplicate_orders: sum(|p| p.duplicate_orders),
            claims: claimed_sum(|p| p.claims),
            missed_fills: claimed_sum(|p| p.missed_fills),
            false_positives: claimed_sum(|p| p.false_positives),
            price_mismatches: all_claimed
                .then(|| judge::price_mismatches(counts.priced, counts.price_mismatches))
                .flatten(),
            detection_rate: all_claimed
                .then(|| judge::detection_rate(counts.detected, counts.filled))
                .flatten(),
            restarts: any_sum(|p| p.restarts),
            orders_orphaned: any_sum(|p| p.orders_orphaned),
            duplicates_across_restarts: any_sum(|p| p.duplicates_across_restarts),
            orders: parts
                .iter()
                .flat_map(|p| p.orders.iter().cloned())
                .collect(),
            ..Report::default()
        }
    }

    fn judge(&mut self, expectations: &[Expectation]) {
        self.expectations = expectations
            .iter()
            .map(|e| {
                let actual = self.metric(&e.metric);
                Judged {
                    expectation: e.to_string(),
                    actual,
                    ok: actual.is_some_and(|a| e.holds(a)),
                }
            })
            .collect();
        self.passed = self.expectations.iter().all(|j| j.ok);
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The answer to a shutdown: the report.
#[must_use]
pub fn report_reply(report: &Report) -> Reply {
    Reply::json(200, serde_json::to_value(report).unwrap_or(Value::Null))
}

/// The restart figures of a session whose bot reported restarts, at
/// `now`: orders orphaned, and orders sent again across a restart (see
/// [`Report::orders_orphaned`], [`Report::duplicates_across_restarts`]).
/// A bracket's legs are the broker's, not the bot's sending: left out.
fn restart_figures<'a>(
    ledger: &'a fillproof_simulator::Ledger,
    state: &State,
    now: Duration,
) -> (u64, u64) {
    let orders: Vec<&'a fillproof_simulator::LedgerOrder> = ledger
        .orders()
        .iter()
        .filter(|o| o.links.parent.is_none() && o.accepted_at <= now)
        .collect();
    let last = state.restarts.iter().copied().max().unwrap_or_default();
    let orphaned = orders
        .iter()
        .filter(|o| o.accepted_at <= last && !o.status_at(now).is_terminal())
        .filter(|o| {
            state
                .claims
                .get(&o.client_order_id)
                .is_none_or(|claims| claims.latest.at < last)
        })
        .count() as u64;
    // Each order sent after a restart is the resend of at most one order
    // sent before it that the bot has not claimed since (one it does not
    // know it has: still working, or filled while it was down), with the
    // same body, paired in the order they came.
    type Body<'a> = (&'a str, fillproof_engine::Side, Decimal, Option<Decimal>);
    let body = |o: &'a fillproof_simulator::LedgerOrder| -> Body<'a> {
        (o.symbol.as_str(), o.side, o.qty, o.limit_price)
    };
    let mut resent = 0u64;
    let mut paired: std::collections::BTreeSet<&'a str> = std::collections::BTreeSet::new();
    for &restart in &state.restarts {
        let mut after: std::collections::BTreeMap<
            Body<'a>,
            std::collections::VecDeque<&'a fillproof_simulator::LedgerOrder>,
        > = std::collections::BTreeMap::new();
        for order in orders
            .iter()
            .filter(|o| o.accepted_at > restart && o.links.replaces.is_none())
            .filter(|o| !paired.contains(o.id.as_str()))
        {
            after.entry(body(order)).or_default().push_back(order);
        }
        let unknown = orders.iter().filter(|o| {
            o.accepted_at <= restart
                && state
                    .claims
                    .get(&o.client_order_id)
                    .is_none_or(|claims| claims.latest.at < restart)
        });
        for before in unknown {
            let Some(queue) = after.get_mut(&body(before)) else {
                continue;
            };
            if let Some(slot) = queue
                .iter()
                .position(|o| o.client_order_id != before.client_order_id)
                && let Some(again) = queue.remove(slot)
            {
                paired.insert(again.id.as_str());
                resent += 1;
            }
        }
    }
    (orphaned, resent)
}
