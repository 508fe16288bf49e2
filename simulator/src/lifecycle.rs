//! Drawing an order's lifecycle at acceptance, from the order's own stream.
//!
//! Everything the broker will do to the order — whether and when it fills,
//! in how many pieces, at what prices, how long its status field lags, how
//! the filled status is spelt, whether it is rejected later — is drawn here,
//! once, from a stream keyed by the seed and the order's workload index.
//! How often the engine polls can therefore never change what the broker
//! does.

use std::time::Duration;

use fillproof_engine::{OrderRequest, OrderType, Side, TimeInForce, derive_rng};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

use crate::ledger::{BrokerEnd, Fill};
use crate::market::{Market, Stop};
use crate::model::{BrokerModel, OrderTarget};
use crate::scenario::{TimelineEvent, TimelineKind};

/// What the broker will do to one order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Refuse the submit outright.
    pub reject_now: bool,
    /// Fills, in time order.
    pub fills: Vec<Fill>,
    /// An end the broker chooses, and when.
    pub broker_end: Option<(Duration, BrokerEnd)>,
    /// Status field lag.
    pub status_lag: Duration,
    /// Spelling of the filled status.
    pub filled_spelling: String,
    /// When a stop order triggered (`None`: not a stop, or it never does).
    pub triggered_at: Option<Duration>,
}

impl Plan {
    /// A plan with nothing drawn: no fill, no status lag, the filled
    /// status spelt `filled`, and `broker_end` if any (a leg its group
    /// settles later; a replacement rejected at once).
    #[must_use]
    pub fn idle(broker_end: Option<(Duration, BrokerEnd)>) -> Self {
        Self {
            reject_now: false,
            fills: Vec::new(),
            broker_end,
            status_lag: Duration::ZERO,
            filled_spelling: "filled".into(),
            triggered_at: None,
        }
    }
}

/// The stream an order's lifecycle is drawn from.
#[must_use]
pub fn lifecycle_rng(seed: u64, order_key: u64) -> ChaCha8Rng {
    derive_rng(seed, "lifecycle", order_key)
}

/// Draws the lifecycle of an order accepted at `accepted_at`. `index` is its
/// workload index, when known: timeline events for it replace the random
/// fill model.
///
/// # Errors
/// An [`Overfill`] when the timeline fills the order with more than its
/// quantity: the order is refused rather than its fills cut short.
pub fn draw(
    model: &BrokerModel,
    market: &Market,
    rng: &mut ChaCha8Rng,
    index: Option<u32>,
    request: &OrderRequest,
    accepted_at: Duration,
) -> Result<Plan, Overfill> {
    let script = scripted_events(model, index, request);
    draw_scripted(model, market, rng, script, request, accepted_at)
}

/// As [`draw`], with the timeline's events for the order given: `script`
/// (a leg's, named by its entry) replaces the random fill model when there
/// is one.
///
/// # Errors
/// An [`Overfill`] when `script` fills the order with more than its
/// quantity.
pub fn draw_scripted(
    model: &BrokerModel,
    market: &Market,
    rng: &mut ChaCha8Rng,
    script: Option<&Vec<TimelineEvent>>,
    request: &OrderRequest,
    accepted_at: Duration,
) -> Result<Plan, Overfill> {
    let first = FirstDraws::take(model, rng);
    let mut plan = Plan {
        // A scripted order's story is its script's (which can reject
        // it): no drawn rejection cuts a scripted fill.
        reject_now: first.reject_now && script.is_none(),
        fills: Vec::new(),
        broker_end: None,
        status_lag: first.status_lag,
        filled_spelling: first.filled_spelling,
        triggered_at: None,
    };
    if plan.reject_now {
        return Ok(plan);
    }
    if let Some(events) = script {
        follow_script(&mut plan, events, request, market, accepted_at)?;
        return Ok(plan);
    }
    if first.reject_later {
        plan.broker_end = Some((accepted_at + first.reject_delay, BrokerEnd::Rejected));
        return Ok(plan);
    }
    let at_once = matches!(request.time_in_force, TimeInForce::Ioc | TimeInForce::Fok);
    let trading_ends = trading_ends(model, market, request, accepted_at);
    if let Some(auction) = auction_at(market, request, accepted_at) {
        // An auction past the run (or the calendar) never comes: the order
        // rests.
        if auction < model.horizon {
            plan.fills = auction_fill(market, request, auction, first.fills_at_all);
            if plan.fills.is_empty() {
                plan.broker_end = Some((auction, BrokerEnd::Expired));
            }
        }
        return Ok(plan);
    }
    if !first.fills_at_all {
        if at_once {
            plan.broker_end = Some((accepted_at, BrokerEnd::Canceled));
        }
        expire_at(&mut plan, request, trading_ends, model.horizon);
        return Ok(plan);
    }
    let pieces = Pieces {
        draws: first.pieces,
        market,
        // An order that must fill at once trades only at its acceptance;
        // a day order until its day's trading ends; any other until the
        // run's last instant.
        until: if at_once {
            accepted_at + Duration::from_nanos(1)
        } else {
            trading_ends
        },
    };
    if at_once {
        let fills = random_fills(model, rng, request, accepted_at, &pieces);
        fill_at_once(&mut plan, fills, request, accepted_at);
        return Ok(plan);
    }
    let Some(active_from) = active_from(&mut plan, market, request, (accepted_at, trading_ends))
    else {
        expire_at(&mut plan, request, trading_ends, model.horizon);
        return Ok(plan);
    };
    let starts_at = active_from + first.delay;
    let collared = collar(request);
    let request = collared.as_ref().unwrap_or(request);
    plan.fills = random_fills(model, rng, request, starts_at, &pieces);
    expire_at(&mut plan, request, trading_ends, model.horizon);
    Ok(plan)
}

/// When `request` may start trading, accepted at `accepted_at`: then, or
/// for a stop the instant it triggers before `trading_ends` (noted in
/// `plan`), after which it trades as a market order (a stop, a trailing
/// stop) or at its limit (a stop limit); `None` when it never triggers.
fn active_from(
    plan: &mut Plan,
    market: &Market,
    request: &OrderRequest,
    (accepted_at, trading_ends): (Duration, Duration),
) -> Option<Duration> {
    let Some(stop) = stop_of(request) else {
        return Some(accepted_at);
    };
    let triggered = market.first_trigger(
        &request.symbol,
        request.side,
        stop,
        accepted_at,
        trading_ends,
    )?;
    Some(*plan.triggered_at.insert(triggered.at))
}

/// A buy stop as Alpaca trades it once triggered: a limit 4% over its
/// stop (2.5% from a $50 stop up), so a gap cannot fill it at any price.
/// `None` for any other order.
fn collar(request: &OrderRequest) -> Option<OrderRequest> {
    let stop = request
        .stop_price
        .filter(|_| request.order_type == OrderType::Stop && request.side == Side::Buy)?;
    let factor = if stop < Decimal::from(50) {
        Decimal::new(104, 2)
    } else {
        Decimal::new(1025, 3)
    };
    Some(OrderRequest {
        limit_price: Some(on_price_grid(stop * factor)),
        ..request.clone()
    })
}

/// What a stop, stop-limit or trailing-stop order waits for; `None` for
/// an order that trades from its acceptance.
#[must_use]
pub fn stop_of(request: &OrderRequest) -> Option<Stop> {
    match request.order_type {
        OrderType::Stop | OrderType::StopLimit => request.stop_price.map(Stop::Level),
        OrderType::TrailingStop => request.trail.map(Stop::Trailing),
        OrderType::Market | OrderType::Limit => None,
    }
}

/// When the order's trading ends: a `day` order's at its day's close (or,
/// trading extended hours, the after-hours end) when the market keeps
/// regular hours; otherwise the run's last instant.
fn trading_ends(
    model: &BrokerModel,
    market: &Market,
    request: &OrderRequest,
    accepted_at: Duration,
) -> Duration {
    match market.sessions() {
        Some(sessions) if request.time_in_force == TimeInForce::Day => sessions
            .trading_ends(accepted_at, request.extended_hours)
            .min(model.horizon),
        _ => model.horizon,
    }
}

/// Expires at `ends` an order not filled whole by then, when its trading
/// ends before the run does (a `day` order at its close).
fn expire_at(plan: &mut Plan, request: &OrderRequest, ends: Duration, horizon: Duration) {
    let filled: Decimal = plan.fills.iter().map(|f| f.qty).sum();
    if ends < horizon && filled < request.qty && plan.broker_end.is_none() {
        plan.broker_end = Some((ends, BrokerEnd::Expired));
    }
}

/// The auction an `opg` or `cls` order trades in, when the market keeps
/// regular hours: the next regular open, or the close of the day it was
/// placed for. `None` for any other order, or in a market always open
/// (where they trade as `day` orders).
fn auction_at(market: &Market, request: &OrderRequest, accepted_at: Duration) -> Option<Duration> {
    let sessions = market.sessions()?;
    let day = sessions.day_of(accepted_at, false);
    match request.time_in_force {
        TimeInForce::Opg => Some(day.map_or(Duration::MAX, |d| sessions.elapsed(d.open))),
        TimeInForce::Cls => Some(day.map_or(Duration::MAX, |d| sessions.elapsed(d.close))),
        _ => None,
    }
}

/// An auction's fill: the whole order at the price the market stands at
/// then (the last price before the close, for the closing auction), when
/// the order fills at all and its limit allows that price.
fn auction_fill(market: &Market, request: &OrderRequest, at: Duration, fills: bool) -> Vec<Fill> {
    let priced_at = if request.time_in_force == TimeInForce::Cls {
        at.saturating_sub(Duration::from_nanos(1))
    } else {
        at
    };
    // A halted symbol has no auction: the order goes unfilled.
    let price = market
        .price_at(&request.symbol, priced_at)
        .filter(|_| !market.halted_at(&request.symbol, at));
    match price {
        Some(price) if fills && marketable(request.side, request.limit_price, price) => {
            vec![Fill {
                at,
                qty: request.qty,
                price,
            }]
        }
        _ => Vec::new(),
    }
}

/// An `ioc` or `fok` order's fills: only what fills the instant it is
/// accepted (the drawn pieces at that instant; the delay the model draws
/// is the market's wait, which such an order does not take). `ioc` keeps
/// them and has the broker cancel the rest at once; `fok` keeps them only
/// when they fill it whole, and is otherwise canceled with nothing filled.
fn fill_at_once(plan: &mut Plan, fills: Vec<Fill>, request: &OrderRequest, accepted_at: Duration) {
    let now: Vec<Fill> = fills.into_iter().filter(|f| f.at == accepted_at).collect();
    let filled: Decimal = now.iter().map(|f| f.qty).sum();
    let whole = filled >= request.qty;
    if request.time_in_force == TimeInForce::Ioc || whole {
        plan.fills = now;
    }
    if !whole {
        plan.broker_end = Some((accepted_at, BrokerEnd::Canceled));
    }
}

/// The draws every order makes first, whatever its story: a fixed order
/// of draws keeps each order's stream aligned whatever the knobs are set
/// to.
struct FirstDraws {
    reject_now: bool,
    reject_later: bool,
    reject_delay: Duration,
    fills_at_all: bool,
    delay: Duration,
    pieces: PieceDraws,
    status_lag: Duration,
    filled_spelling: String,
}

impl FirstDraws {
    /// Takes them from `rng`, in their fixed order.
    fn take(model: &BrokerModel, rng: &mut ChaCha8Rng) -> Self {
        let reject_now = rng.random::<f64>() < model.reject_probability;
        let reject_later = rng.random::<f64>() < model.async_reject_probability;
        let reject_delay = model.async_reject_delay.sample(rng);
        let fills_at_all = rng.random::<f64>() < model.fill_probability;
        let delay = model.fill_delay.sample(rng);
        let pieces = PieceDraws {
            in_pieces: rng.random::<f64>(),
            rests: rng.random::<f64>(),
        };
        let status_lag = model.status_lag.sample(rng);
        let filled_spelling = pick_spelling(model, rng.random::<f64>());
        Self {
            reject_now,
            reject_later,
            reject_delay,
            fills_at_all,
            delay,
            pieces,
            status_lag,
            filled_spelling,
        }
    }
}

/// The draws that decide whether an order fills in pieces and whether its
/// last piece rests.
#[derive(Debug, Clone, Copy)]
struct PieceDraws {
    in_pieces: f64,
    rests: f64,
}

/// The timeline's events for the order, by workload index or client
/// order id, when it scripts any.
fn scripted_events<'m>(
    model: &'m BrokerModel,
    index: Option<u32>,
    request: &OrderRequest,
) -> Option<&'m Vec<TimelineEvent>> {
    index
        .and_then(|i| model.timeline.get(&OrderTarget::Index(i)))
        .or_else(|| {
            // Most scenarios have no timeline: skip the key's allocation.
            (!model.timeline.is_empty())
                .then(|| {
                    model
                        .timeline
                        .get(&OrderTarget::ClientOrderId(request.client_order_id.clone()))
                })
                .flatten()
        })
}

/// The timeline's events for leg `role` of the group whose head is the
/// workload's order `index` or the client's `client_order_id`, when it
/// scripts any.
#[must_use]
pub fn leg_script<'m>(
    model: &'m BrokerModel,
    index: Option<u32>,
    client_order_id: &str,
    role: crate::ledger::LegRole,
) -> Option<&'m Vec<TimelineEvent>> {
    if model.timeline.is_empty() {
        return None;
    }
    let leg = |head| model.timeline.get(&OrderTarget::Leg(Box::new(head), role));
    index
        .and_then(|i| leg(OrderTarget::Index(i)))
        .or_else(|| leg(OrderTarget::ClientOrderId(client_order_id.to_owned())))
}

/// Writes the scripted `events` into `plan`: their fills, and the first
/// end the broker gives the order.
fn follow_script(
    plan: &mut Plan,
    events: &[TimelineEvent],
    request: &OrderRequest,
    market: &Market,
    accepted_at: Duration,
) -> Result<(), Overfill> {
    let takes = scripted_fills(events, request.qty)?;
    for (event, qty) in events.iter().zip(takes) {
        let at = event.at().max(accepted_at);
        match event.event.value {
            TimelineKind::Fill => {
                // A fill without a scripted price trades at the market's
                // price then (the broker refused a symbol it does not list).
                let price = event
                    .price
                    .map(|p| p.0)
                    .or_else(|| market.price_at(&request.symbol, at))
                    .unwrap_or(Decimal::ONE);
                let price = within_limit(price, request.side, request.limit_price);
                plan.fills.push(Fill { at, qty, price });
            }
            TimelineKind::Reject => {
                plan.broker_end.get_or_insert((at, BrokerEnd::Rejected));
            }
            TimelineKind::Cancel => {
                plan.broker_end.get_or_insert((at, BrokerEnd::Canceled));
            }
            TimelineKind::Expire => {
                plan.broker_end.get_or_insert((at, BrokerEnd::Expired));
            }
            // Call faults are kept apart, in the model's `call_faults`.
            TimelineKind::Fault | TimelineKind::Crash => {}
        }
    }
    // A scripted fill of a stop is its trigger: it trades from then.
    if matches!(
        request.order_type,
        OrderType::Stop | OrderType::StopLimit | OrderType::TrailingStop
    ) {
        plan.triggered_at = plan.fills.first().map(|f| f.at);
    }
    // `check` refuses a timeline that fills an order when or after the
    // broker rejects it, or after it ends otherwise, and one that ends
    // an order twice: nothing scripted is dropped here.
    debug_assert!(
        match plan.broker_end {
            Some((_, BrokerEnd::Rejected)) => plan.fills.is_empty(),
            Some((end, _)) => plan
                .fills
                .iter()
                .all(|f| crate::ledger::fill_done_by(f.at, end)),
            None => true,
        },
        "a checked timeline scripts a fill after its order ends"
    );
    Ok(())
}

/// How an order's pieces meet the market: the draws that decide whether
/// it fills in pieces, the market its pieces trade in, and the instant
/// they must trade before.
struct Pieces<'m> {
    draws: PieceDraws,
    market: &'m Market,
    until: Duration,
}

/// The fills the random model draws for an order that fills, the first
/// due at `starts_at`: in one piece or several (spaced, each slipped and
/// held within the limit), the last perhaps left resting. Each piece trades
/// at the first instant from when it is due that the market lets it (not
/// halted, the touch at its limit or better), against the touch then; a
/// piece the market never lets trade before `until` rests, with those
/// after it.
fn random_fills(
    model: &BrokerModel,
    rng: &mut ChaCha8Rng,
    request: &OrderRequest,
    starts_at: Duration,
    pieces: &Pieces<'_>,
) -> Vec<Fill> {
    let draws = pieces.draws;
    let count = match &model.partial {
        Some(partial) if draws.in_pieces < partial.probability => {
            rng.random_range(partial.pieces_low..=partial.pieces_high)
        }
        _ => 1,
    };
    let qty = request.qty;
    let count = Decimal::from(count).min(qty).max(Decimal::ONE);
    let whole = qty.trunc();
    let base = (whole / count).floor();
    let count: u32 = count.try_into().unwrap_or(1);
    let mut leftover = qty - base * Decimal::from(count);
    let mut due = starts_at;
    let mut fills = Vec::new();
    let mut blocked = false;
    for piece in 0..count {
        if piece > 0 {
            due += model
                .partial
                .as_ref()
                .map_or(Duration::ZERO, |p| p.spacing.sample(rng));
        }
        let mut piece_qty = base;
        if leftover >= Decimal::ONE {
            piece_qty += Decimal::ONE;
            leftover -= Decimal::ONE;
        }
        if piece + 1 == count {
            piece_qty += leftover;
        }
        let bps = model.slippage_bps.0.sample(rng);
        // Every piece takes its draws, traded or not, so the stream stays
        // aligned whatever the market does.
        if blocked {
            continue;
        }
        let Some((at, touch)) = pieces.market.first_fill(
            &request.symbol,
            (request.side, request.limit_price, request.extended_hours),
            due,
            pieces.until,
        ) else {
            blocked = true;
            continue;
        };
        due = at;
        fills.push(Fill {
            at,
            qty: piece_qty,
            price: within_limit(
                slipped_price(touch, bps, request.side),
                request.side,
                request.limit_price,
            ),
        });
    }
    let last_rests = match &model.partial {
        Some(partial) => count > 1 && draws.rests < partial.unfilled && !blocked,
        None => false,
    };
    if last_rests {
        fills.pop();
    }
    fills
}

/// A timeline that fills an order with more than it orders: the run is
/// refused rather than the fill cut short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "line {line}: the timeline fills {target} past its {qty} shares: {problem}; make its \
     scripted fills add up to at most the order's quantity"
)]
pub struct Overfill {
    /// The line of the fill that does not fit, from 1.
    pub line: u64,
    /// The order, as the timeline names it: `order 3`.
    pub target: String,
    /// What does not fit.
    pub problem: String,
    /// The order's quantity.
    pub qty: Decimal,
    /// The fill's place among the events given to [`scripted_fills`].
    pub event: usize,
}

/// Checks, before a run of `orders` orders of `scenario` under `seed`, that
/// the timeline's fills fit each workload order they name, by index or by
/// the client order id the workload gives it.
///
/// # Errors
/// The first order (in the timeline's order of targets) whose scripted
/// fills exceed its quantity.
pub fn check_scripted_quantities(
    model: &BrokerModel,
    scenario: &crate::scenario::Scenario,
    seed: u64,
    orders: u32,
) -> Result<(), Overfill> {
    for (target, events) in &model.timeline {
        // A leg is for its entry's quantity.
        let index = match target.head() {
            OrderTarget::Index(index) => Some(*index),
            OrderTarget::ClientOrderId(id) => crate::workload::index_of_client_order_id(seed, id),
            OrderTarget::Leg(..) => None,
        };
        let Some(index) = index.filter(|i| *i < orders) else {
            continue;
        };
        scripted_fills(events, crate::workload::order_qty(scenario, seed, index))?;
    }
    Ok(())
}

/// The quantity each of an order's scripted `events` (in time order) fills:
/// a `fill`'s `qty`, or the rest of an order of `qty` shares when it gives
/// none, and zero for other events. Nothing is cut to fit.
///
/// # Errors
/// The first fill that would take the order past `qty`, or that has nothing
/// left to fill.
pub fn scripted_fills(
    events: &[crate::scenario::TimelineEvent],
    qty: Decimal,
) -> Result<Vec<Decimal>, Overfill> {
    let mut remaining = qty;
    let mut takes = Vec::with_capacity(events.len());
    for (position, event) in events.iter().enumerate() {
        if event.event.value != TimelineKind::Fill {
            takes.push(Decimal::ZERO);
            continue;
        }
        let refuse = |problem: String| Overfill {
            line: event.location().line(),
            target: event.target_name(),
            problem,
            qty,
            event: position,
        };
        let take = match event.qty {
            Some(scripted) if Decimal::from(scripted) > remaining => {
                return Err(refuse(format!(
                    "the fill at {} for {scripted} shares is {} too many",
                    crate::duration::format_duration(event.at()),
                    Decimal::from(scripted) - remaining
                )));
            }
            Some(scripted) => Decimal::from(scripted),
            None if remaining <= Decimal::ZERO => {
                return Err(refuse(format!(
                    "the fill at {} (the rest of the order) finds nothing left",
                    crate::duration::format_duration(event.at())
                )));
            }
            None => remaining,
        };
        remaining -= take;
        takes.push(take);
    }
    Ok(takes)
}

fn pick_spelling(model: &BrokerModel, u: f64) -> String {
    let total: f64 = model.spellings.iter().map(|(_, w)| w).sum();
    let mut cumulative = 0.0;
    for (spelling, weight) in &model.spellings {
        cumulative += weight / total;
        if u < cumulative {
            return spelling.clone();
        }
    }
    model
        .spellings
        .last()
        .map_or_else(|| "filled".to_owned(), |(s, _)| s.clone())
}

/// The reference price moved `bps` basis points against the trader (up for
/// a buy, down for a sell), on the price grid: whole cents from $1.00 up,
/// hundredths of a cent below (as US equities trade), never below the
/// smallest increment.
#[must_use]
pub fn slipped_price(reference: Decimal, bps: f64, side: Side) -> Decimal {
    let bps = Decimal::from_f64(bps).unwrap_or(Decimal::ZERO).round_dp(4);
    let factor = Decimal::ONE + side.sign() * bps / Decimal::from(10_000);
    on_price_grid(reference.checked_mul(factor).unwrap_or(reference))
}

/// `price` rounded to its increment: $0.01 from $1.00 up, $0.0001 below,
/// and within the prices anything trades at ($0.0001 to $10,000,000).
#[must_use]
pub fn on_price_grid(price: Decimal) -> Decimal {
    let places = if price >= Decimal::ONE { 2 } else { 4 };
    price
        .round_dp(places)
        .clamp(fillproof_engine::MIN_PRICE, fillproof_engine::MAX_PRICE)
}

/// Whether an order can trade at the market's `price`: a buy limit at or
/// above it, a sell limit at or below it; an order without a limit always
/// can.
#[must_use]
pub fn marketable(side: Side, limit: Option<Decimal>, price: Decimal) -> bool {
    match (side, limit) {
        (_, None) => true,
        (Side::Buy, Some(limit)) => limit >= price,
        (Side::Sell, Some(limit)) => limit <= price,
    }
}

/// A fill price that respects the order's limit: a buy never pays more
/// than its limit and a sell never takes less.
#[must_use]
pub fn within_limit(price: Decimal, side: Side, limit: Option<Decimal>) -> Decimal {
    match (limit, side) {
        (Some(limit), Side::Buy) => price.min(limit),
        (Some(limit), Side::Sell) => price.max(limit),
        (None, _) => price,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slippage moves a buy up and a sell down, to the cent.
    #[test]
    fn slippage_is_against_the_trader() {
        let reference: Decimal = "100.00".parse().expect("price");
        assert_eq!(
            slipped_price(reference, 10.0, Side::Buy),
            "100.10".parse().expect("p")
        );
        assert_eq!(
            slipped_price(reference, 10.0, Side::Sell),
            "99.90".parse().expect("p")
        );
        assert_eq!(slipped_price(reference, 0.0, Side::Buy), reference);
    }

    /// Below $1.00 prices keep their sub-penny increments instead of being
    /// floored to a cent; from $1.00 up they are whole cents.
    #[test]
    fn sub_dollar_prices_keep_sub_penny_increments() {
        let reference: Decimal = "0.0042".parse().expect("price");
        assert_eq!(slipped_price(reference, 0.0, Side::Buy), reference);
        assert_eq!(
            slipped_price("0.5000".parse().expect("p"), 10.0, Side::Buy),
            "0.5005".parse::<Decimal>().expect("p")
        );
        assert_eq!(
            on_price_grid("1.234".parse().expect("p")),
            "1.23".parse::<Decimal>().expect("p")
        );
        assert_eq!(on_price_grid(Decimal::ZERO), Decimal::new(1, 4));
    }

    /// A limit order never fills through its limit: a buy is capped at the
    /// limit, a sell floored at it, a market order is untouched.
    #[test]
    fn limit_orders_never_fill_through_the_limit() {
        let limit: Decimal = "100.00".parse().expect("price");
        let above: Decimal = "100.10".parse().expect("price");
        let below: Decimal = "99.90".parse().expect("price");
        assert_eq!(within_limit(above, Side::Buy, Some(limit)), limit);
        assert_eq!(within_limit(below, Side::Buy, Some(limit)), below);
        assert_eq!(within_limit(below, Side::Sell, Some(limit)), limit);
        assert_eq!(within_limit(above, Side::Sell, Some(limit)), above);
        assert_eq!(within_limit(above, Side::Buy, None), above);
    }

    /// A limit is marketable at the market's price exactly, and on its own
    /// side of it: a buy at or above, a sell at or below; a market order
    /// always is.
    #[test]
    fn marketable_at_the_price_and_on_the_limits_side() {
        let price: Decimal = "100.00".parse().expect("price");
        let above: Decimal = "100.01".parse().expect("price");
        let below: Decimal = "99.99".parse().expect("price");
        assert!(marketable(Side::Buy, Some(price), price));
        assert!(marketable(Side::Buy, Some(above), price));
        assert!(!marketable(Side::Buy, Some(below), price));
        assert!(marketable(Side::Sell, Some(price), price));
        assert!(marketable(Side::Sell, Some(below), price));
        assert!(!marketable(Side::Sell, Some(above), price));
        assert!(marketable(Side::Buy, None, price));
        assert!(marketable(Side::Sell, None, price));
    }
}
