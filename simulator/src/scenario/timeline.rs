//! The `timeline:` section: exact events for named orders, and the checks
//! of each event and of each order's scripted story.

use std::time::Duration;

use fillproof_engine::{Decimal, MAX_PRICE, MIN_PRICE, price_in_range};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Scenario;
use super::check::{Checker, out_of_range};
use super::values::Price;
use super::workload::qty_bounds;
use crate::duration::Dur;
use crate::fault::{FAULT_KINDS, FaultKind};
use crate::ledger::LegRole;
use crate::model::OrderTarget;
use fillproof_engine::Endpoint;

/// One scripted event for one order: something the broker does to it at a
/// time (`fill`, `reject`, `cancel`, `expire`), or a fault one of its calls
/// meets (`fault`: "the first POST of order 3 loses its response").
///
/// The order is named by its workload (arrival) index, `order`, or by its
/// `client_order_id`; exactly one of the two.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineEvent {
    /// When, in virtual time since the run began; required for every event
    /// but `fault`, which names a call instead.
    #[serde(default)]
    pub at: Option<Dur>,
    /// The workload order it applies to, numbered from 0 in arrival order.
    #[serde(default)]
    pub order: Option<Spanned<u32>>,
    /// The order it applies to, by the client's id for it.
    #[serde(default)]
    pub client_order_id: Option<Spanned<String>>,
    /// The exit leg of that order the event applies to, `take_profit` or
    /// `stop_loss`, when the order heads a bracket or an OTO: a leg's
    /// scripted fill happens at `at` or when the leg becomes active (its
    /// entry filled whole), whichever is later; a leg of an entry that
    /// never fills whole is canceled with it, script or not.
    #[serde(default)]
    pub leg: Option<LegRole>,
    /// What happens.
    pub event: Spanned<TimelineKind>,
    /// Quantity filled by a `fill`; default the rest of the order.
    #[serde(default)]
    pub qty: Option<u32>,
    /// Price of a `fill`; default the reference price.
    #[serde(default)]
    pub price: Option<Price>,
    /// The endpoint whose call a `fault` strikes.
    #[serde(default)]
    pub call: Option<Endpoint>,
    /// Which call of that endpoint for the order a `fault` strikes, from 1
    /// (the first); default 1.
    #[serde(default)]
    pub attempt: Option<u32>,
    /// The fault a `fault` event injects, one of the fault kinds of
    /// `broker.faults` (`timeout`, `lost_response`, `http_504`, ...).
    #[serde(default)]
    pub fault: Option<Spanned<String>>,
    /// Where a `crash` event crashes the engine: at one of its calls for
    /// the order (`attempt`, default the first).
    #[serde(default)]
    pub point: Option<CrashPoint>,
}

/// Where in an order's life a `crash` event crashes the engine under
/// test (a harness run; `serve` runs no engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrashPoint {
    /// After the journal's `submit` record, before the submit leaves: the
    /// broker never hears of it.
    BeforeSubmit,
    /// The submit has left and reaches the broker; its answer never
    /// comes back.
    DuringSubmit,
    /// A read of the order (`get_order`) has left; no answer comes back.
    DuringPoll,
    /// A cancel of the order has left and reaches the broker; no answer
    /// comes back.
    DuringCancel,
}

impl CrashPoint {
    /// The endpoint whose call the point is at.
    #[must_use]
    pub fn endpoint(self) -> Endpoint {
        match self {
            Self::BeforeSubmit | Self::DuringSubmit => Endpoint::Submit,
            Self::DuringPoll => Endpoint::GetOrder,
            Self::DuringCancel => Endpoint::Cancel,
        }
    }
}

impl TimelineEvent {
    /// True for a crash of the engine at an instant (`{at: 90s, event:
    /// crash}`): it names no order and no point.
    #[must_use]
    pub fn is_instant_crash(&self) -> bool {
        self.event.value == TimelineKind::Crash
            && self.order.is_none()
            && self.client_order_id.is_none()
            && self.point.is_none()
    }

    /// When the event happens; a `fault` event has no time and reads 0.
    #[must_use]
    pub fn at(&self) -> Duration {
        self.at.map_or(Duration::ZERO, |at| at.0)
    }

    /// Where in the file the event is, for messages.
    #[must_use]
    pub fn location(&self) -> serde_saphyr::Location {
        self.event.referenced
    }

    /// The order the event names, for messages: `order 3` or
    /// `client_order_id "abc"`.
    #[must_use]
    pub fn target_name(&self) -> String {
        let order = match (&self.order, &self.client_order_id) {
            (Some(order), _) => format!("order {}", order.value),
            (None, Some(id)) => format!("client_order_id {:?}", id.value),
            (None, None) => "no order".to_owned(),
        };
        match self.leg {
            Some(LegRole::TakeProfit) => format!("the take-profit leg of {order}"),
            Some(LegRole::StopLoss) => format!("the stop-loss leg of {order}"),
            None => order,
        }
    }
}

/// What a timeline event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    /// A fill of `qty` at `price`.
    Fill,
    /// The broker rejects the order.
    Reject,
    /// The broker cancels the order on its own.
    Cancel,
    /// The order expires.
    Expire,
    /// One call of the order's meets a fault (`call`, `attempt`, `fault`).
    Fault,
    /// The engine under test crashes at one of its calls for the order
    /// (`point`, `attempt`), as the `crashes:` section says it restarts.
    Crash,
}

/// Checks the `timeline:` section: each event on its own, each order's
/// scripted story as a whole, and no rejection of an order that filled.
pub(super) fn check(scenario: &Scenario, c: &mut Checker<'_>) {
    let orders = scenario.workload.orders.value;
    for (i, event) in scenario.timeline.iter().enumerate() {
        check_timeline_event(i, event, orders, c);
        check_leg(i, event, scenario, c);
    }
    check_timeline_orders(scenario, c);
    check_leg_pairs(scenario, c);
    check_rejections_after_fills(&scenario.timeline, c);
    check_scripted_prices(scenario, c);
}

/// Warns of a scripted fill price off the price grid (no execution trades
/// at $590.005), and that scripted fills in a scenario with a market
/// take effect as written: the market's halts, sessions and touch do not
/// apply to them.
fn check_scripted_prices(scenario: &Scenario, c: &mut Checker<'_>) {
    let mut warned = false;
    for (i, event) in scenario.timeline.iter().enumerate() {
        if event.event.value != TimelineKind::Fill {
            continue;
        }
        if let Some(price) = event
            .price
            .filter(|p| p.0 != crate::lifecycle::on_price_grid(p.0))
        {
            // An average price (an import without the fills) can sit off
            // the grid; one execution never does.
            c.warn(
                Some(event.event.referenced),
                format!("timeline[{i}].price"),
                format!(
                    "{} is off the price grid (whole cents from $1, hundredths of a cent \
                     below): no single execution trades there",
                    price.0
                ),
            );
        }
        if scenario.market.is_some() && !warned {
            warned = true;
            c.warn(
                Some(event.event.referenced),
                format!("timeline[{i}]"),
                "a scripted fill takes effect as written: the market section's halts, sessions \
                 and quotes do not apply to it",
            );
        }
    }
}

/// Refuses a rejection of an order with a fill at or before it: a broker
/// never rejects an order that has filled any quantity.
fn check_rejections_after_fills(timeline: &[TimelineEvent], c: &mut Checker<'_>) {
    for (i, event) in timeline.iter().enumerate() {
        if event.event.value != TimelineKind::Reject {
            continue;
        }
        let filled_before = timeline.iter().find(|other| {
            other.event.value == TimelineKind::Fill
                && OrderTarget::of(other) == OrderTarget::of(event)
                && other.at() <= event.at()
        });
        if let Some(fill) = filled_before {
            c.at(
                Some(event.location()),
                format!("timeline[{i}].event"),
                format!(
                    "{} fills at {} and is rejected at {}; a broker never rejects an \
                     order that has filled any quantity: use `cancel` or `expire`, or move \
                     the rejection before the fill",
                    event.target_name(),
                    crate::duration::format_duration(fill.at()),
                    crate::duration::format_duration(event.at())
                ),
            );
        }
    }
}

/// Checks each order's scripted story as a whole: none of its fills may
/// come after the order ends, it ends once, and its fills must fit its
/// quantity ([`check_timeline_quantities`]).
fn check_timeline_orders(scenario: &Scenario, c: &mut Checker<'_>) {
    let mut by_order: std::collections::BTreeMap<OrderTarget, Vec<(usize, &TimelineEvent)>> =
        std::collections::BTreeMap::new();
    for (i, event) in scenario.timeline.iter().enumerate() {
        if event.event.value == TimelineKind::Fault || event.at.is_none() {
            continue;
        }
        if let Some(target) = OrderTarget::of(event) {
            by_order.entry(target).or_default().push((i, event));
        }
    }
    for (target, events) in &mut by_order {
        // The order the broker applies them in (see `BrokerModel`).
        events.sort_by_key(|(_, event)| event.at());
        check_timeline_ends(events, c);
        check_timeline_quantities(scenario, target, events, c);
    }
}

/// Refuses a second end of one order's `events` (in time order), and any
/// fill after its first end.
fn check_timeline_ends(events: &[(usize, &TimelineEvent)], c: &mut Checker<'_>) {
    let ends: Vec<&(usize, &TimelineEvent)> = events
        .iter()
        .filter(|(_, e)| e.event.value != TimelineKind::Fill)
        .collect();
    let Some(&&(first_index, first)) = ends.first() else {
        return;
    };
    let ended = format!(
        "{} is {} at {} (`timeline[{first_index}]`, line {})",
        first.target_name(),
        end_word(first.event.value),
        crate::duration::format_duration(first.at()),
        first.location().line()
    );
    for &&(i, end) in &ends[1..] {
        c.at(
            Some(end.location()),
            format!("timeline[{i}].event"),
            format!("ends the order again: {ended}; an order ends once, remove one"),
        );
    }
    for &(i, fill) in events {
        if fill.event.value == TimelineKind::Fill && fill.at() > first.at() {
            c.at(
                Some(fill.location()),
                format!("timeline[{i}].at"),
                format!(
                    "fills at {}, after the order has ended: {ended}; move the fill to or \
                     before the end, or the end after the fill",
                    crate::duration::format_duration(fill.at())
                ),
            );
        }
    }
}

/// Refuses fills of one order's `events` (in time order) that no quantity
/// the workload can give it holds, and warns about fills that only some
/// drawn quantities hold (a run whose draw they do not fit is refused
/// before it starts).
fn check_timeline_quantities(
    scenario: &Scenario,
    target: &OrderTarget,
    events: &[(usize, &TimelineEvent)],
    c: &mut Checker<'_>,
) {
    let (least, most) = qty_bounds(scenario, target);
    let scripted: Vec<TimelineEvent> = events.iter().map(|(_, e)| (*e).clone()).collect();
    let field_of = |overfill: &crate::lifecycle::Overfill| {
        let (i, event) = events[overfill.event];
        let name = if event.qty.is_some() { "qty" } else { "event" };
        (event.location(), format!("timeline[{i}].{name}"))
    };
    let bound = match target.head() {
        _ if least == most => String::new(),
        OrderTarget::Index(_) => format!(" (`workload.qty` draws at most {most} for it)"),
        _ => " (no order is for more)".to_owned(),
    };
    if let Err(overfill) = crate::lifecycle::scripted_fills(&scripted, Decimal::from(most)) {
        let (location, field) = field_of(&overfill);
        c.at(
            Some(location),
            field,
            format!(
                "{} for {} of {most} shares{bound}; make its scripted fills add up to at most \
                 its quantity",
                overfill.problem, overfill.target
            ),
        );
    } else if matches!(target.head(), OrderTarget::Index(_)) {
        // An order named by client order id is checked when it is placed.
        if let Err(overfill) = crate::lifecycle::scripted_fills(&scripted, Decimal::from(least)) {
            let (location, field) = field_of(&overfill);
            c.warn(
                Some(location),
                field,
                format!(
                    "{} for {} when `workload.qty` draws {least} for it (it draws {least} to \
                     {most}); a run whose draw is too small for the scripted fills is refused \
                     before it starts",
                    overfill.problem, overfill.target
                ),
            );
        }
    }
}

/// How a timeline end reads in a message.
fn end_word(kind: TimelineKind) -> &'static str {
    match kind {
        TimelineKind::Reject => "rejected",
        TimelineKind::Cancel => "canceled",
        TimelineKind::Expire => "expired",
        TimelineKind::Fill | TimelineKind::Fault | TimelineKind::Crash => "filled",
    }
}

/// Checks one `timeline:` event: it names one order that exists, has a time
/// unless it is a `fault`, and carries only the fields its kind takes.
fn check_timeline_event(i: usize, event: &TimelineEvent, orders: u32, c: &mut Checker<'_>) {
    if event.is_instant_crash() {
        check_instant_crash(i, event, c);
        return;
    }
    check_event_target(i, event, orders, c);
    match event.event.value {
        TimelineKind::Fault => check_fault_event(i, event, c),
        TimelineKind::Crash => check_crash_event(i, event, c),
        _ => check_timed_event(i, event, c),
    }
    check_fill_fields(i, event, c);
}

/// Checks an event's `leg`: only for an event the broker does to an order
/// (a leg's calls are the client's, named by the leg's own order), and,
/// for a workload order (named by index, or by the id the workload gives
/// it), only when that order is a bracket: the workload's drawn orders
/// with `workload.exits`, never a listed one.
fn check_leg(i: usize, event: &TimelineEvent, scenario: &Scenario, c: &mut Checker<'_>) {
    if event.leg.is_none() || event.event.value == TimelineKind::Crash {
        return;
    }
    let field = format!("timeline[{i}].leg");
    if event.event.value == TimelineKind::Fault {
        c.at(
            Some(event.location()),
            field,
            "a `fault` strikes a call the client makes for the order it names, and a leg's \
             calls cannot be named by its entry; remove `leg`",
        );
        return;
    }
    let workload_index = match (&event.order, &event.client_order_id) {
        (Some(order), _) => Some(order.value),
        (None, Some(id)) => crate::workload::index_of_client_order_id(scenario.seed, &id.value),
        (None, None) => None,
    };
    let Some(index) = workload_index else {
        // A bot's order: checked when it is placed.
        return;
    };
    let why = if scenario.workload.list.get(index as usize).is_some() {
        Some("is a listed order, and listed orders are simple orders; remove `leg`")
    } else if scenario.workload.exits.is_none() {
        Some(
            "has no legs: the workload's orders are simple orders; add `workload.exits` to \
             make each a bracket, or remove `leg`",
        )
    } else {
        None
    };
    if let Some(why) = why {
        c.at(
            Some(event.location()),
            field,
            format!("order {index} {why}"),
        );
    }
}

/// Refuses a leg's scripted fill after the other leg of its group filled:
/// one cancels the other at the first fill, so the later one never
/// happens. Both legs scripted at one instant are both touched then, and
/// exactly one fills.
fn check_leg_pairs(scenario: &Scenario, c: &mut Checker<'_>) {
    let first_fill = |target: &OrderTarget| {
        scenario
            .timeline
            .iter()
            .filter(|e| {
                e.event.value == TimelineKind::Fill && OrderTarget::of(e).as_ref() == Some(target)
            })
            .map(TimelineEvent::at)
            .min()
    };
    for (i, event) in scenario.timeline.iter().enumerate() {
        let (Some(role), TimelineKind::Fill) = (event.leg, event.event.value) else {
            continue;
        };
        let Some(OrderTarget::Leg(head, _)) = OrderTarget::of(event) else {
            continue;
        };
        let other = match role {
            LegRole::TakeProfit => LegRole::StopLoss,
            LegRole::StopLoss => LegRole::TakeProfit,
        };
        let Some(other_at) = first_fill(&OrderTarget::Leg(head, other)) else {
            continue;
        };
        if other_at < event.at() {
            c.at(
                Some(event.location()),
                format!("timeline[{i}].at"),
                format!(
                    "{} fills at {}, after the other leg's first fill at {}: one cancels the \
                     other then, so this fill never happens; script both legs at one instant \
                     (both touched: exactly one fills) or remove one",
                    event.target_name(),
                    crate::duration::format_duration(event.at()),
                    crate::duration::format_duration(other_at)
                ),
            );
        }
    }
}

/// Checks that `event` names exactly one order, and one that exists.
fn check_event_target(i: usize, event: &TimelineEvent, orders: u32, c: &mut Checker<'_>) {
    let here = Some(event.location());
    match (&event.order, &event.client_order_id) {
        (Some(order), None) if order.value >= orders => c.at(
            Some(order.referenced),
            format!("timeline[{i}].order"),
            format!(
                "order {} does not exist; the workload has orders 0 to {}",
                order.value,
                orders.saturating_sub(1)
            ),
        ),
        (Some(_), None) => {}
        (None, Some(id)) if id.value.is_empty() => c.at(
            Some(id.referenced),
            format!("timeline[{i}].client_order_id"),
            "is empty; give the client's id for the order",
        ),
        (None, Some(_)) => {}
        (Some(_), Some(_)) => c.at(
            here,
            format!("timeline[{i}]"),
            "names its order twice; give `order` (the arrival index) or `client_order_id`, not both",
        ),
        (None, None) => c.at(
            here,
            format!("timeline[{i}]"),
            "names no order; give `order` (the arrival index, from 0) or `client_order_id`",
        ),
    }
}

/// Checks a `fault` event's fields: the endpoint, the attempt and a known
/// fault.
fn check_fault_event(i: usize, event: &TimelineEvent, c: &mut Checker<'_>) {
    let here = Some(event.location());
    if event.call.is_none() {
        c.at(
            here,
            format!("timeline[{i}].call"),
            "is missing; a `fault` names the endpoint whose call it strikes: submit, \
             get_order, get_order_by_client_id, cancel or get_position",
        );
    }
    if let Some(
        endpoint @ (Endpoint::ListOrders
        | Endpoint::FillActivities
        | Endpoint::Account
        | Endpoint::Positions
        | Endpoint::Clock),
    ) = event.call
    {
        c.at(
            here,
            format!("timeline[{i}].call"),
            format!(
                "is `{endpoint}`, a read of the whole account that strikes no one order: a \
                 timeline fault names an order's call (submit, get_order, \
                 get_order_by_client_id, cancel or get_position); give `{endpoint}` a fault \
                 rate under `broker.faults` instead"
            ),
        );
    }
    if event.attempt == Some(0) {
        c.at(
            here,
            format!("timeline[{i}].attempt"),
            "is 0; calls are counted from 1 (the first call)",
        );
    }
    match &event.fault {
        None => c.at(
            here,
            format!("timeline[{i}].fault"),
            format!(
                "is missing; a `fault` event names one of: {}",
                FAULT_KINDS.join(", ")
            ),
        ),
        Some(fault) if FaultKind::named(&fault.value).is_none() => c.at(
            Some(fault.referenced),
            format!("timeline[{i}].fault"),
            format!(
                "`{}` is not a fault; use one of: {}",
                fault.value,
                FAULT_KINDS.join(", ")
            ),
        ),
        Some(_) => {}
    }
}

/// Checks an event that happens at a time: it has one, and no `fault`
/// fields.
/// Checks a crash at an instant (`{at: 90s, event: crash}`): it names no
/// order and takes nothing but its instant.
fn check_instant_crash(i: usize, event: &TimelineEvent, c: &mut Checker<'_>) {
    let extra = event.call.is_some()
        || event.attempt.is_some()
        || event.fault.is_some()
        || event.leg.is_some()
        || event.qty.is_some()
        || event.price.is_some();
    if extra {
        c.at(
            Some(event.location()),
            format!("timeline[{i}]"),
            "a crash at an instant takes `at` only; a crash at one of an order's calls names \
             the order and a `point`",
        );
    }
}

/// Checks a `crash` event's fields: a point, an attempt from 1, and
/// nothing a crash does not take.
fn check_crash_event(i: usize, event: &TimelineEvent, c: &mut Checker<'_>) {
    let here = Some(event.location());
    if event.point.is_none() {
        c.at(
            here,
            format!("timeline[{i}].point"),
            "is missing; a `crash` names where: before_submit, during_submit, during_poll or \
             during_cancel",
        );
    }
    if event.attempt == Some(0) {
        c.at(
            here,
            format!("timeline[{i}].attempt"),
            "is 0; calls are counted from 1 (the first call)",
        );
    }
    if event.at.is_some() || event.call.is_some() || event.fault.is_some() || event.leg.is_some() {
        c.at(
            here,
            format!("timeline[{i}]"),
            "a crash at one of an order's calls takes `point` and `attempt` only; a crash at an \
             instant takes `at` and names no order",
        );
    }
}

fn check_timed_event(i: usize, event: &TimelineEvent, c: &mut Checker<'_>) {
    let here = Some(event.location());
    if event.at.is_none() {
        c.at(
            here,
            format!("timeline[{i}].at"),
            "is missing; say when the event happens, e.g. `at: 1.5s`",
        );
    }
    if event.call.is_some() || event.attempt.is_some() || event.fault.is_some() {
        c.at(
            here,
            format!("timeline[{i}]"),
            "only `fault` events take `call`, `attempt` and `fault`",
        );
    }
    if event.point.is_some() {
        c.at(
            here,
            format!("timeline[{i}].point"),
            "only `crash` events take `point`",
        );
    }
}

/// Checks `qty` and `price`: positive and in range on a `fill`, absent on
/// any other event.
fn check_fill_fields(i: usize, event: &TimelineEvent, c: &mut Checker<'_>) {
    let here = Some(event.location());
    match event.event.value {
        TimelineKind::Fill => {
            if event.qty == Some(0) {
                c.at(
                    here,
                    format!("timeline[{i}].qty"),
                    "is 0; a fill has a positive quantity",
                );
            }
            if let Some(price) = event.price.filter(|p| !price_in_range(p.0)) {
                c.at(
                    here,
                    format!("timeline[{i}].price"),
                    out_of_range(price.0, MIN_PRICE, MAX_PRICE),
                );
            }
        }
        _ => {
            if event.qty.is_some() || event.price.is_some() {
                c.at(
                    here,
                    format!("timeline[{i}]"),
                    "only `fill` events take `qty` and `price`",
                );
            }
        }
    }
}
