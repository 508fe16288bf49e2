//! A replace the broker received (`PATCH /v2/orders/{id}`): a new order
//! taking the old one's place once the replace is processed.
//!
//! The replace takes the model's cancel processing time (Alpaca processes
//! it as a cancel and a new order). Meanwhile the old order is
//! `pending_replace` (a cancel of it is refused) and may still fill. At
//! the instant the replace takes effect:
//!
//! - the old order filled whole by then: the replace loses. The new order
//!   is rejected, the old one gets `order_replace_rejected`;
//! - otherwise the old order ends `replaced` with the fills it had, and
//!   the new one works from then: by default for what the old one left
//!   unfilled, or for the quantity the replace names.
//!
//! A leg of a bracket, OCO or OTO may change only its price (`limit_price`
//! of a take profit, `stop_price` of a stop loss), as Alpaca allows; its
//! new order takes its place in the group, and a leg that filled by then
//! keeps it. The order heading a group (a bracket's or OTO's entry, an
//! OCO's take profit) is not replaced here: it is refused, naming why.

use std::time::Duration;

use fillproof_engine::{
    BrokerError, Order, OrderClass, OrderRequest, OrderType, ReplaceRequest, Trail,
};
use rust_decimal::Decimal;

use super::terms::refuse;
use super::world::World;
use super::{SimBroker, uuid_shaped};
use crate::ledger::{BrokerEnd, LedgerOrder, Links, TrueStatus};
use crate::lifecycle::{Plan, draw, lifecycle_rng};
use crate::stream::Happening;

impl SimBroker {
    /// A replace of `id` reaching the broker at `now`; answers the new
    /// order.
    pub(super) fn replace_at(
        &self,
        world: &mut World,
        now: Duration,
        id: &str,
        replace: &ReplaceRequest,
    ) -> Result<Order, BrokerError> {
        let old = world
            .ledger
            .by_id(id)
            .cloned()
            .ok_or_else(super::apply::not_found)?;
        refuse_state(&old, now)?;
        let mut request = replaced_request(&old, replace)?;
        if let Some(client_id) = &replace.client_order_id {
            if world.ledger.by_client_id(client_id).is_some() {
                return refuse("client_order_id must be unique");
            }
        }
        super::terms::check_type(&request)?;
        let effective = now.saturating_add(self.model.cancel_processing);
        let filled = old.filled_qty_at(effective);
        // A leg that filled at all keeps its place in the group.
        let filled_first =
            filled >= old.qty || (old.links.parent.is_some() && filled > Decimal::ZERO);
        if replace.qty.is_none() && !filled_first {
            request.qty = old.qty - filled;
        }
        if replace.client_order_id.is_none() {
            let n = world.ledger.orders().len() as u64;
            request.client_order_id = uuid_shaped(
                self.seed,
                "replace-client-order-id",
                super::unregistered_key(&old.id) ^ n,
            );
        }
        let new_id = self.file_replacement(world, (now, effective), &old, request, filled_first);
        self.publish(
            world,
            id,
            super::group::order_key(&old),
            [(Happening::PendingReplace, now)],
        );
        let Some(order) = world.ledger.by_id_mut(id) else {
            return Err(super::apply::not_found());
        };
        order.links.replace_requested = Some((now, effective));
        if filled_first {
            let key = super::group::order_key(order);
            self.publish(world, id, key, [(Happening::ReplaceRejected, effective)]);
        } else {
            order.links.replaced_by = Some(new_id.clone());
            order
                .fills
                .retain(|f| crate::ledger::fill_done_by(f.at, effective));
            if order.broker_end.is_none_or(|(at, _)| at > effective) {
                order.broker_end = Some((effective, BrokerEnd::Replaced));
            }
            let key = super::group::order_key(order);
            self.publish(world, id, key, [(Happening::BrokerEnd, effective)]);
            self.swap_leg(world, &old, &new_id);
        }
        Ok(self.view_at(world, &new_id, now))
    }

    /// Writes the new order of a replace received at `now` and taking
    /// effect at `effective` (`pending_new` until then): rejected then
    /// when the old order `filled_first`,
    /// else working from then. Returns its id.
    fn file_replacement(
        &self,
        world: &mut World,
        (now, effective): (Duration, Duration),
        old: &LedgerOrder,
        mut request: OrderRequest,
        filled_first: bool,
    ) -> String {
        let key = super::unregistered_key(&request.client_order_id);
        let index = world.registry.get(&request.client_order_id).copied();
        let key = index.map_or(key, u64::from);
        let id = if self.uuid_ids.is_some() {
            uuid_shaped(self.id_seed(), "order-id", key)
        } else {
            format!("{}-r{}", old.id, world.ledger.orders().len())
        };
        let plan = self.replacement_plan(key, index, &mut request, effective, (old, filled_first));
        let mut order = super::accept::ledger_order(index, id.clone(), &request, effective, plan);
        order.links = Links {
            legs: Vec::new(),
            replaces: Some(old.id.clone()),
            replaced_by: None,
            replace_requested: None,
            ..old.links.clone()
        };
        let happenings: Vec<(Happening, Duration)> = std::iter::once((Happening::PendingNew, now))
            .chain(
                std::iter::once((Happening::New, effective))
                    .filter(|_| !filled_first && order.links.parent.is_none()),
            )
            .chain(
                order
                    .fills
                    .iter()
                    .enumerate()
                    .map(|(piece, f)| (Happening::Fill(piece), f.at)),
            )
            .chain(order.broker_end.map(|(at, _)| (Happening::BrokerEnd, at)))
            .chain(self.done_for_day(&order, effective))
            .collect();
        world.ledger.insert(order);
        self.publish(world, &id, key, happenings);
        id
    }

    /// The replacement's lifecycle, drawn from its own stream from
    /// `effective`: rejected then when the old order filled first, none
    /// for a leg (its group settles it), else drawn as a simple order.
    fn replacement_plan(
        &self,
        key: u64,
        index: Option<u32>,
        request: &mut OrderRequest,
        effective: Duration,
        (old, filled_first): (&LedgerOrder, bool),
    ) -> Plan {
        if filled_first {
            return Plan::idle(Some((effective, BrokerEnd::Rejected)));
        }
        if old.links.parent.is_some() {
            // A leg's lifecycle is its group's to settle.
            return Plan::idle(None);
        }
        request.order_class = OrderClass::Simple;
        let mut rng = lifecycle_rng(self.seed, key);
        match draw(
            &self.model,
            &self.market,
            &mut rng,
            index,
            request,
            effective,
        ) {
            Ok(plan) if !plan.reject_now => plan,
            _ => Plan::idle(Some((effective, BrokerEnd::Rejected))),
        }
    }

    /// Puts the new leg `new_id` in the place of `old` in its group, and
    /// settles the group.
    fn swap_leg(&self, world: &mut World, old: &LedgerOrder, new_id: &str) {
        let Some((head_id, _)) = old.links.parent.clone() else {
            return;
        };
        let Some(head) = world.ledger.by_id_mut(&head_id) else {
            return;
        };
        for leg in &mut head.links.legs {
            if *leg == old.id {
                *leg = new_id.to_owned();
            }
        }
        let head_key = super::group::order_key(head);
        self.settle(world, &head_id, head_key);
    }
}

/// Refuses a replace of an order that cannot be replaced now: one that
/// ended, or waits on a cancel or another replace; a group's entry.
fn refuse_state(old: &LedgerOrder, now: Duration) -> Result<(), BrokerError> {
    if now < old.accepted_at {
        // A replacement not yet in effect reads `accepted`.
        return refuse("unable to replace order, order isn't sent to exchange yet");
    }
    match old.status_at(now) {
        TrueStatus::New | TrueStatus::PartiallyFilled | TrueStatus::Held => {}
        status @ (TrueStatus::PendingCancel | TrueStatus::PendingReplace) => {
            return refuse(format!(
                r#"unable to replace order, order is in "{}" state"#,
                status.as_str()
            ));
        }
        status => {
            return refuse(format!(
                r#"unable to replace order, order is not open (it is "{}")"#,
                status.as_str()
            ));
        }
    }
    if !old.links.legs.is_empty() {
        return refuse(format!(
            "the order heading a {} group cannot be replaced here; replace its legs' prices, or \
             cancel it and place another",
            old.links.class.as_str()
        ));
    }
    Ok(())
}

/// The old order with `replace`'s changes: each field given overrides
/// the old one's. Refuses a change the order's type does not take, a
/// leg's change of anything but its price, a fractional quantity and a
/// replace that changes nothing.
fn replaced_request(
    old: &LedgerOrder,
    replace: &ReplaceRequest,
) -> Result<OrderRequest, BrokerError> {
    let kind = old.order_type;
    if replace.limit_price.is_some() && !matches!(kind, OrderType::Limit | OrderType::StopLimit) {
        return refuse("limit_price can be replaced only on limit and stop limit orders");
    }
    if replace.stop_price.is_some() && !matches!(kind, OrderType::Stop | OrderType::StopLimit) {
        return refuse("stop_price can be replaced only on stop and stop limit orders");
    }
    if replace.trail.is_some() && kind != OrderType::TrailingStop {
        return refuse("trail can be replaced only on trailing stop orders");
    }
    if old.links.parent.is_some() && (replace.qty.is_some() || replace.time_in_force.is_some()) {
        return refuse(
            "a bracket's or OCO's orders can replace only their price (limit_price or stop_price)",
        );
    }
    if let Some(qty) = replace.qty {
        if qty <= Decimal::ZERO || !qty.fract().is_zero() {
            return refuse(format!("qty {qty} must be a whole number of shares over 0"));
        }
    }
    let changed = replace.qty.is_some_and(|q| q != old.qty)
        || replace
            .time_in_force
            .is_some_and(|t| t != old.time_in_force)
        || replace
            .limit_price
            .is_some_and(|p| Some(p) != old.limit_price)
        || replace
            .stop_price
            .is_some_and(|p| Some(p) != old.stop_price)
        || replace.trail.is_some();
    if !changed {
        return Err(BrokerError::Forbidden {
            message: "order parameters are not changed".into(),
        });
    }
    let trail = match (old.trail, replace.trail) {
        (Some(Trail::Price(_)), Some(new)) => Some(Trail::Price(new)),
        (Some(Trail::Percent(_)), Some(new)) => Some(Trail::Percent(new)),
        (trail, _) => trail,
    };
    Ok(OrderRequest {
        client_order_id: replace.client_order_id.clone().unwrap_or_default(),
        symbol: old.symbol.clone(),
        qty: replace.qty.unwrap_or(old.qty),
        side: old.side,
        order_type: kind,
        time_in_force: replace.time_in_force.unwrap_or(old.time_in_force),
        limit_price: replace.limit_price.or(old.limit_price),
        extended_hours: old.extended_hours,
        stop_price: replace.stop_price.or(old.stop_price),
        trail,
        order_class: old.links.class,
        take_profit: None,
        stop_loss: None,
        notional: None,
    })
}
