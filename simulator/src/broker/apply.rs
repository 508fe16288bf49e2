//! What the broker does with a request that arrived: reads (possibly
//! stale), cancels, position reads; submits go to `accept.rs`.

use std::time::Duration;

use fillproof_engine::{ActivityQuery, FillActivity, OrderQuery};
use fillproof_engine::{BrokerError, Order, OrderClass, OrderRequest, Position, ReplaceRequest};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

use super::world::World;
use super::{LedgerRead, SimBroker};
use crate::ledger::{LedgerOrder, TrueStatus};
use crate::scenario::{Endpoint, WhenFilled};
use crate::stream::Happening;
use crate::trace::{Seen, TraceEvent, TraceKind};

impl SimBroker {
    /// What the broker does with a request it received.
    pub(super) fn apply(
        &self,
        world: &mut World,
        now: Duration,
        rng: &mut ChaCha8Rng,
        index: Option<u32>,
        request: &Request,
    ) -> Result<Answer, BrokerError> {
        match request {
            Request::Submit(order) => self
                .accept(world, now, order, index)
                .map(|o| Answer::Order(Box::new(o))),
            Request::GetOrder(id) => self
                .read(&world.ledger, world.ledger.by_id(id), now, rng)
                .map(|o| Answer::Order(Box::new(o))),
            Request::GetOrderByClientId(id) => self
                .read(&world.ledger, world.ledger.by_client_id(id), now, rng)
                .map(|o| Answer::Order(Box::new(o))),
            Request::Replace(id, replace) => self
                .replace_at(world, now, id, replace)
                .map(|o| Answer::Order(Box::new(o))),
            Request::Cancel(id) => self
                .cancel_at(world, now, id, index)
                .map(|()| Answer::Canceled),
            Request::GetPosition(symbol) => {
                let lag = self.model.position_lag.sample(rng);
                let qty = world.ledger.position_at(symbol, now.saturating_sub(lag));
                Ok(Answer::Position((qty != Decimal::ZERO).then(|| Position {
                    symbol: symbol.clone(),
                    qty,
                    avg_entry_price: None,
                })))
            }
            Request::ListOrders(query) => self
                .list_at(&world.ledger, now, rng, query)
                .map(Answer::Orders),
            Request::FillActivities(query) => self
                .activities_at(&world.ledger, now, rng, query)
                .map(Answer::Activities),
            // The front end reads the ledger itself, at this instant.
            Request::Read(_) => Ok(Answer::Landed(now)),
        }
    }

    /// An order read at `now`: its snapshot, possibly a stale one, or 404.
    fn read(
        &self,
        ledger: &crate::ledger::Ledger,
        order: Option<&LedgerOrder>,
        now: Duration,
        rng: &mut ChaCha8Rng,
    ) -> Result<Order, BrokerError> {
        let at = self.stale_time(now, rng);
        order
            .map(|o| {
                crate::view::order_view(
                    ledger,
                    &self.market,
                    o,
                    at.max(o.accepted_at),
                    crate::view::Look::Read,
                    true,
                    self.clock.origin(),
                )
            })
            .ok_or_else(not_found)
    }

    pub(super) fn stale_time(&self, now: Duration, rng: &mut ChaCha8Rng) -> Duration {
        // Draw both numbers whether or not the read is stale, so the stream
        // stays aligned.
        let u = rng.random::<f64>();
        match &self.model.stale_reads {
            Some((probability, age)) => {
                let age = age.sample(rng);
                if u < *probability {
                    now.saturating_sub(age)
                } else {
                    now
                }
            }
            None => now,
        }
    }

    /// A cancel of `id` reaching the broker at `now`: refused when the
    /// order cannot be canceled (filled, ended, or waiting on a replace),
    /// else applied to it and, in a group, to every open order of the
    /// group, which is then settled.
    fn cancel_at(
        &self,
        world: &mut World,
        now: Duration,
        id: &str,
        index: Option<u32>,
    ) -> Result<(), BrokerError> {
        let Some(order) = world.ledger.by_id(id) else {
            return Err(not_found());
        };
        let refuse = |state: &str| {
            Err(BrokerError::Unprocessable {
                message: format!(r#"order is already in "{state}" state"#),
            })
        };
        match order.status_at(now) {
            TrueStatus::Filled => match self.model.when_filled {
                WhenFilled::Reject422 => return refuse("filled"),
                WhenFilled::Accept204 => return Ok(()),
            },
            status @ (TrueStatus::Canceled
            | TrueStatus::Expired
            | TrueStatus::Rejected
            | TrueStatus::Replaced) => return refuse(status.as_str()),
            TrueStatus::PendingReplace => {
                let key = super::group::order_key(order);
                let id = id.to_owned();
                self.publish(world, &id, key, [(Happening::CancelRejected, now)]);
                return Err(BrokerError::Unprocessable {
                    message: "order is pending replace and cannot be canceled until the \
                              replace is done"
                        .into(),
                });
            }
            TrueStatus::PendingCancel => return Ok(()),
            TrueStatus::New | TrueStatus::PartiallyFilled | TrueStatus::Held => {}
        }
        let head = order
            .links
            .parent
            .as_ref()
            .map_or_else(|| id.to_owned(), |(head, _)| head.clone());
        // A cancel of an exit (a leg, or an OCO's head) cancels the whole
        // group; one of a bracket's or OTO's entry cancels the entry, and
        // its legs end with it only if it ends unfilled (settled below).
        let group = world
            .ledger
            .by_id(&head)
            .map_or_else(Vec::new, |h| h.links.legs.clone());
        let exit = order.links.parent.is_some() || order.links.class == OrderClass::Oco;
        let mut members = vec![id.to_owned()];
        if exit {
            members = std::iter::once(head.clone())
                .chain(group.iter().cloned())
                .collect();
        }
        for member in &members {
            let open = world.ledger.by_id(member).is_some_and(|o| {
                !o.status_at(now).is_terminal() && o.status_at(now) != TrueStatus::PendingCancel
            });
            if open {
                self.cancel_one(world, now, member, if member == id { index } else { None });
            }
        }
        if !group.is_empty() {
            let head_key = world.ledger.by_id(&head).map_or(0, super::group::order_key);
            self.settle(world, &head, head_key);
        }
        Ok(())
    }

    /// Applies a cancel of the open order `id` at `now`: it takes the
    /// model's processing time, and the stream hears of it.
    fn cancel_one(&self, world: &mut World, now: Duration, id: &str, index: Option<u32>) {
        let processing = self.model.cancel_processing;
        let Some(order) = world.ledger.by_id_mut(id) else {
            return;
        };
        let effective = order.request_cancel(now, processing);
        let key = super::group::order_key(order);
        self.publish(
            world,
            id,
            key,
            [
                (Happening::PendingCancel, now),
                (Happening::Canceled, effective),
            ],
        );
        let t_us = self.micros(now);
        world.trace.push(TraceEvent {
            t_us,
            kind: TraceKind::CancelRequested {
                order: index,
                effective_us: self.micros(effective),
            },
        });
    }
}

pub(super) fn not_found() -> BrokerError {
    BrokerError::NotFound {
        message: "order not found".into(),
    }
}

/// A request on its way to the broker, owning what it names, so that it
/// can land after its caller stopped waiting.
pub(super) enum Request {
    Submit(OrderRequest),
    GetOrder(String),
    GetOrderByClientId(String),
    Cancel(String),
    GetPosition(String),
    Replace(String, ReplaceRequest),
    ListOrders(OrderQuery),
    FillActivities(ActivityQuery),
    /// A read the front end answers from the ledger itself, once the call
    /// has landed.
    Read(LedgerRead),
}

impl Request {
    pub(super) fn endpoint(&self) -> Endpoint {
        match self {
            Self::Submit(_) => Endpoint::Submit,
            Self::GetOrder(_) => Endpoint::GetOrder,
            Self::GetOrderByClientId(_) => Endpoint::GetOrderByClientId,
            Self::Cancel(_) => Endpoint::Cancel,
            Self::GetPosition(_) => Endpoint::GetPosition,
            Self::Replace(..) => Endpoint::Replace,
            Self::ListOrders(_) => Endpoint::ListOrders,
            Self::FillActivities(_) => Endpoint::FillActivities,
            Self::Read(read) => read.endpoint(),
        }
    }

    /// The broker id, client id or symbol the request names.
    pub(super) fn target(&self) -> &str {
        match self {
            Self::Submit(request) => &request.client_order_id,
            Self::GetOrder(id)
            | Self::GetOrderByClientId(id)
            | Self::Cancel(id)
            | Self::GetPosition(id)
            | Self::Replace(id, _) => id,
            Self::ListOrders(_) => "orders",
            Self::FillActivities(_) => "activities/FILL",
            Self::Read(read) => read.endpoint().as_str(),
        }
    }
}

/// The broker's answer to a [`Request`] it applied.
pub(super) enum Answer {
    Order(Box<Order>),
    Canceled,
    Position(Option<Position>),
    Orders(Vec<Order>),
    Activities(Vec<FillActivity>),
    /// A [`Request::Read`] landed at this instant (virtual time since the
    /// broker was created).
    Landed(Duration),
}

impl Answer {
    /// What the answer shows the caller, for the trace.
    pub(super) fn seen(&self) -> Option<Seen> {
        match self {
            Self::Order(order) => seen_order(order),
            Self::Canceled => None,
            Self::Position(position) => Some(Seen::Position(position.as_ref().map(|p| p.qty))),
            Self::Orders(_) | Self::Activities(_) | Self::Landed(_) => None,
        }
    }

    /// An answer of another kind than the request asked for: the broker's
    /// own bug, never the caller's.
    pub(super) fn mismatch(&self) -> BrokerError {
        BrokerError::BadBody {
            detail: "the simulated broker answered with the wrong kind of answer (a fillproof bug: please report it)".into(),
        }
    }
}

fn seen_order(order: &Order) -> Option<Seen> {
    Some(Seen::Order {
        status: order.status.clone(),
        filled_qty: order.filled_qty,
    })
}
