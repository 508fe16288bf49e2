//! Brackets, OCO and OTO: an order that heads a group of exit legs.
//!
//! A bracket's (or an OTO's) legs are held until the entry fills whole,
//! then trade; an OCO's two orders trade from the start. The first exit
//! to fill wins: the other is canceled after the model's OCO delay (during
//! which a reader still sees it open) and never fills, even when both were
//! touched at the same instant (the group's own draw then picks the one
//! that fills). An entry that ends without filling whole (canceled,
//! expired, rejected) cancels its held legs at once; a cancel of any
//! order of a group cancels every open order of it, as Alpaca does.
//!
//! With `broker.cancel.both_exits_touched`, a group's own draw may have
//! both exits touched in the instant the first fills; exactly one of them
//! fills all the same, the coin picking which.
//!
//! A group is settled, whole, whenever it changes (accepted, a cancel
//! reached it): each exit's lifecycle is drawn from its own stream from
//! the instant it becomes active, so settling twice draws the same; the
//! stream is told only what changed.

use std::time::Duration;

use fillproof_engine::{OrderClass, OrderRequest, OrderType, StopLoss, derive_rng, stable_hash};
use rand::Rng;
use rust_decimal::Decimal;

use super::world::World;
use super::{SimBroker, uuid_shaped};
use crate::ledger::{BrokerEnd, Fill, LedgerOrder, LegRole, Links};
use crate::lifecycle::{Plan, draw, draw_scripted, leg_script, lifecycle_rng};
use crate::stream::Happening;

/// The stream key of leg `role` of the group whose head is keyed `head`.
fn leg_key(head: u64, role: LegRole) -> u64 {
    let mut mix = [0u8; 9];
    mix[..8].copy_from_slice(&head.to_le_bytes());
    mix[8] = match role {
        LegRole::TakeProfit => 1,
        LegRole::StopLoss => 2,
    };
    (1 << 62) | stable_hash(&mix)
}

/// The key an order's stream events are drawn by: its workload index, or
/// a hash of its client order id.
pub(super) fn order_key(order: &LedgerOrder) -> u64 {
    order.index.map_or_else(
        || super::unregistered_key(&order.client_order_id),
        u64::from,
    )
}

/// The legs a group's request asks for, as the orders they become: the
/// take profit a limit, the stop loss a stop (or a stop limit), each on
/// the exit's side, for the head's quantity and time in force. An OCO's
/// take profit is the head itself: only its stop loss is a leg.
fn leg_requests(head: &OrderRequest) -> Vec<(LegRole, OrderRequest)> {
    let exit_side = match head.order_class {
        OrderClass::Oco => head.side,
        _ => super::terms::opposite(head.side),
    };
    let leg = |order_type, limit_price, stop_price| OrderRequest {
        client_order_id: String::new(),
        symbol: head.symbol.clone(),
        qty: head.qty,
        side: exit_side,
        order_type,
        time_in_force: head.time_in_force,
        limit_price,
        extended_hours: false,
        stop_price,
        trail: None,
        order_class: head.order_class,
        take_profit: None,
        stop_loss: None,
        notional: None,
    };
    let mut legs = Vec::new();
    if let Some(limit) = head
        .take_profit
        .filter(|_| head.order_class != OrderClass::Oco)
    {
        legs.push((
            LegRole::TakeProfit,
            leg(OrderType::Limit, Some(limit), None),
        ));
    }
    if let Some(StopLoss {
        stop_price,
        limit_price,
    }) = head.stop_loss
    {
        let order_type = if limit_price.is_some() {
            OrderType::StopLimit
        } else {
            OrderType::Stop
        };
        legs.push((
            LegRole::StopLoss,
            leg(order_type, limit_price, Some(stop_price)),
        ));
    }
    legs
}

/// The request an order in the ledger stands for, as a simple order (for
/// drawing its lifecycle).
fn request_of(order: &LedgerOrder) -> OrderRequest {
    OrderRequest {
        client_order_id: order.client_order_id.clone(),
        symbol: order.symbol.clone(),
        qty: order.qty,
        side: order.side,
        order_type: order.order_type,
        time_in_force: order.time_in_force,
        limit_price: order.limit_price,
        extended_hours: order.extended_hours,
        stop_price: order.stop_price,
        trail: order.trail,
        order_class: OrderClass::Simple,
        take_profit: None,
        stop_loss: None,
        notional: None,
    }
}

/// An exit's lifecycle once settled.
#[derive(Debug, Clone, PartialEq)]
struct Settled {
    fills: Vec<Fill>,
    broker_end: Option<(Duration, BrokerEnd)>,
    triggered_at: Option<Duration>,
    held_until: Option<Duration>,
}

impl SimBroker {
    /// The order `id`, which the caller just filed, at `now` as a read
    /// shows it, legs nested.
    pub(super) fn view_at(
        &self,
        world: &World,
        id: &str,
        now: Duration,
    ) -> fillproof_engine::Order {
        let order = world.ledger.by_id(id).expect("the order was just filed");
        crate::view::order_view(
            &world.ledger,
            &self.market,
            order,
            now,
            crate::view::Look::Read,
            true,
            self.clock.origin(),
        )
    }

    /// Writes the legs of the group `head_request` asks for, headed by the
    /// order just accepted as `head_id` at `now` (keyed `head_key`), then
    /// settles the group.
    pub(super) fn file_legs(
        &self,
        world: &mut World,
        now: Duration,
        head_key: u64,
        head_request: &OrderRequest,
        head_id: &str,
    ) {
        let mut ids = Vec::new();
        for (role, request) in leg_requests(head_request) {
            let key = leg_key(head_key, role);
            let id = if self.uuid_ids.is_some() {
                uuid_shaped(self.id_seed(), "order-id", key)
            } else {
                format!("{head_id}-{}", role_suffix(role))
            };
            let request = OrderRequest {
                client_order_id: uuid_shaped(self.id_seed(), "leg-client-order-id", key),
                ..request
            };
            let mut leg =
                super::accept::ledger_order(None, id.clone(), &request, now, Plan::idle(None));
            leg.links = Links {
                class: head_request.order_class,
                parent: Some((head_id.to_owned(), role)),
                held_until: Some(Duration::MAX),
                ..Links::default()
            };
            world.ledger.insert(leg);
            ids.push(id);
        }
        if let Some(head) = world.ledger.by_id_mut(head_id) {
            head.links.legs = ids;
        }
        self.settle(world, head_id, head_key);
    }

    /// Settles the group headed by `head_id` (keyed `head_key`): each exit
    /// drawn from when it becomes active, cut by its own cancel, then one
    /// cancels the other; the stream is told what changed.
    pub(super) fn settle(&self, world: &mut World, head_id: &str, head_key: u64) {
        let Some(head) = world.ledger.by_id(head_id).cloned() else {
            return;
        };
        let oco = head.links.class == OrderClass::Oco;
        let mut exits: Vec<(LedgerOrder, u64)> = Vec::new();
        if oco {
            exits.push((head.clone(), head_key));
        }
        for id in &head.links.legs {
            if let Some(leg) = world.ledger.by_id(id) {
                let role = leg.links.parent.as_ref().map_or(LegRole::StopLoss, |p| p.1);
                exits.push((leg.clone(), leg_key(head_key, role)));
            }
        }
        let active_from = if oco {
            Ok(head.accepted_at)
        } else {
            entry_outcome(&head)
        };
        let mut settled: Vec<Settled> = exits
            .iter()
            .map(|(exit, key)| {
                let script = exit.links.parent.as_ref().and_then(|(_, role)| {
                    leg_script(&self.model, head.index, &head.client_order_id, *role)
                });
                self.settle_exit(exit, (*key, script), active_from, oco)
            })
            .collect();
        if let ([a, b], [(exit_a, _), (exit_b, _)]) = (settled.as_mut_slice(), exits.as_slice()) {
            let mut rng = derive_rng(self.seed, "one-cancels-other", head_key);
            let delay = self.model.oco_cancel_delay.sample(&mut rng);
            let coin = rng.random::<bool>();
            if rng.random::<f64>() < self.model.both_exits_touched {
                self.touch_both((a, exit_a), (b, exit_b));
            }
            one_cancels_other(a, b, delay, coin);
        }
        for ((exit, _), now) in exits.iter().zip(settled) {
            let before = happenings(exit);
            let Some(order) = world.ledger.by_id_mut(&exit.id) else {
                continue;
            };
            order.fills = now.fills;
            order.broker_end = now.broker_end;
            order.triggered_at = now.triggered_at;
            if order.links.parent.is_some() {
                order.links.held_until = now.held_until;
            }
            let after = happenings(order);
            let fresh: Vec<_> = after.into_iter().filter(|h| !before.contains(h)).collect();
            let (id, key) = (exit.id.clone(), order_key(exit));
            self.publish(world, &id, key, fresh);
        }
    }

    /// Both exits touched in the instant the first one fills (a print
    /// through both in one volatile instant): the other gets its whole
    /// quantity at that instant too (a take profit at its limit, a stop
    /// at the touch then, within its limit), so that one cancels other
    /// picks between two fills of one instant. Nothing when neither fills.
    fn touch_both(&self, a: (&mut Settled, &LedgerOrder), b: (&mut Settled, &LedgerOrder)) {
        let first = |s: &Settled| s.fills.first().map(|f| f.at);
        let Some(at) = [first(a.0), first(b.0)].into_iter().flatten().min() else {
            return;
        };
        for (settled, exit) in [a, b] {
            // Only an exit still working then can be touched.
            let ended = settled.broker_end.is_some_and(|(end, _)| end < at)
                || exit.cancel_effective_at.is_some_and(|end| end < at);
            if first(settled) == Some(at) || ended {
                continue;
            }
            let touch = self
                .market
                .quote_at(&exit.symbol, at)
                .map(|q| q.touch(exit.side));
            let price = match (exit.order_type, exit.limit_price) {
                (OrderType::Limit, Some(limit)) => Some(limit),
                (_, limit) => touch.map(|t| crate::lifecycle::within_limit(t, exit.side, limit)),
            };
            if let Some(price) = price {
                settled.fills = vec![Fill {
                    at,
                    qty: exit.qty,
                    price,
                }];
                settled.triggered_at = settled.triggered_at.or(Some(at));
            }
        }
    }

    /// One exit's lifecycle: held (then canceled with its entry, or held
    /// on), or drawn from the instant it became active and cut by its own
    /// cancel.
    fn settle_exit(
        &self,
        exit: &LedgerOrder,
        (key, script): (u64, Option<&Vec<crate::scenario::TimelineEvent>>),
        active_from: Result<Duration, Option<Duration>>,
        oco: bool,
    ) -> Settled {
        let from = match active_from {
            // A leg that replaced another works from the replace.
            Ok(at) => at.max(exit.accepted_at),
            Err(entry_end) => {
                // The entry never filled whole: the leg is held until the
                // entry ends, and canceled with it.
                return Settled {
                    fills: Vec::new(),
                    broker_end: entry_end.map(|at| (at, BrokerEnd::Canceled)),
                    triggered_at: None,
                    held_until: Some(entry_end.unwrap_or(Duration::MAX)),
                };
            }
        };
        let mut rng = lifecycle_rng(self.seed, key);
        let request = request_of(exit);
        let plan = match script {
            // A leg the timeline names through its entry.
            Some(script) => draw_scripted(
                &self.model,
                &self.market,
                &mut rng,
                Some(script),
                &request,
                from,
            ),
            // An OCO's head is a workload order: its own script, if any.
            None => {
                let index = if oco { exit.index } else { None };
                draw(&self.model, &self.market, &mut rng, index, &request, from)
            }
        };
        let mut settled = match plan {
            Ok(plan) if !plan.reject_now => Settled {
                fills: plan.fills,
                broker_end: plan.broker_end,
                triggered_at: plan.triggered_at,
                held_until: Some(from),
            },
            // Refused at activation (the broker's risk check, or a script
            // that does not fit it): it ends rejected then.
            _ => Settled {
                fills: Vec::new(),
                broker_end: Some((from, BrokerEnd::Rejected)),
                triggered_at: None,
                held_until: Some(from),
            },
        };
        if let Some(effective) = exit.cancel_effective_at {
            settled
                .fills
                .retain(|f| crate::ledger::fill_done_by(f.at, effective));
        }
        settled
    }
}

/// When a bracket's or OTO's legs become active: `Ok` with the instant
/// the entry filled whole, or `Err` with the instant it ended without
/// doing so (`None` while it still works).
fn entry_outcome(entry: &LedgerOrder) -> Result<Duration, Option<Duration>> {
    let mut filled = Decimal::ZERO;
    for fill in &entry.fills {
        filled += fill.qty;
        if filled >= entry.qty {
            return Ok(fill.at);
        }
    }
    Err(entry.terminal_at(Duration::MAX))
}

/// One cancels other: the exit whose first fill comes first keeps its
/// fills (at the same instant, `coin` picks the second); the other never
/// fills and is canceled `delay` after it, unless it ended before.
fn one_cancels_other(a: &mut Settled, b: &mut Settled, delay: Duration, coin: bool) {
    let first = |s: &Settled| s.fills.first().map(|f| f.at);
    let (winner_at, loser) = match (first(a), first(b)) {
        (Some(x), Some(y)) if x < y || (x == y && !coin) => (x, b),
        (Some(_), Some(y)) => (y, a),
        (Some(x), None) => (x, b),
        (None, Some(y)) => (y, a),
        (None, None) => return,
    };
    loser.fills.clear();
    let cancel_at = winner_at.saturating_add(delay);
    if loser.broker_end.is_none_or(|(at, _)| at > cancel_at) {
        loser.broker_end = Some((cancel_at, BrokerEnd::Canceled));
    }
}

/// What the stream tells of an exit: its activation (a leg's `new`), its
/// fills and the end the broker chose.
fn happenings(order: &LedgerOrder) -> Vec<(Happening, Duration)> {
    let activation = order
        .links
        .held_until
        .filter(|at| *at != Duration::MAX && order.links.parent.is_some())
        .map(|at| (Happening::New, at));
    activation
        .into_iter()
        .chain(
            order
                .fills
                .iter()
                .enumerate()
                .map(|(piece, fill)| (Happening::Fill(piece), fill.at)),
        )
        .chain(order.broker_end.map(|(at, _)| (Happening::BrokerEnd, at)))
        .collect()
}

/// The suffix of a leg's id when ids are not UUID-shaped.
fn role_suffix(role: LegRole) -> &'static str {
    match role {
        LegRole::TakeProfit => "tp",
        LegRole::StopLoss => "sl",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settled(fills: &[u64]) -> Settled {
        Settled {
            fills: fills
                .iter()
                .map(|ms| Fill {
                    at: Duration::from_millis(*ms),
                    qty: Decimal::ONE,
                    price: Decimal::ONE,
                })
                .collect(),
            broker_end: None,
            triggered_at: None,
            held_until: Some(Duration::ZERO),
        }
    }

    /// The exit that fills first keeps its fills; the other never fills
    /// and is canceled the delay after.
    #[test]
    fn the_first_exit_to_fill_cancels_the_other() {
        let (mut a, mut b) = (settled(&[500]), settled(&[300]));
        one_cancels_other(&mut a, &mut b, Duration::from_millis(40), false);
        assert!(a.fills.is_empty());
        assert_eq!(
            a.broker_end,
            Some((Duration::from_millis(340), BrokerEnd::Canceled))
        );
        assert_eq!(b.fills.len(), 1);
        assert_eq!(b.broker_end, None);
    }

    /// Touched at the same instant, exactly one fills: the coin says which.
    #[test]
    fn both_touched_at_once_fill_exactly_one() {
        for coin in [false, true] {
            let (mut a, mut b) = (settled(&[300]), settled(&[300]));
            one_cancels_other(&mut a, &mut b, Duration::ZERO, coin);
            let filled = [a.fills.len(), b.fills.len()];
            assert_eq!(filled.iter().sum::<usize>(), 1, "{coin}");
            assert_eq!(coin, filled[1] == 1);
        }
    }
}
