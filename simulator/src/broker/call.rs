//! One API call: its draws, its journey (request leg, landing, response
//! leg, and landing on its own when its caller stops waiting), and its
//! fate at the broker.

use std::time::Duration;

use fillproof_engine::clock::{sleep, sleep_until};
use fillproof_engine::{BrokerError, derive_rng, stable_hash};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use super::apply::{Answer, Request};
use super::world::{Gates, World, note_submit};
use super::{ARRIVAL, SimBroker, unregistered_key};
use crate::fault::{CallRefusal, FaultKind};
use crate::model::{EndpointFaults, OrderTarget};
use crate::scenario::{CrashPoint, Endpoint};
use crate::trace::CallRecord;

/// Per-call draws, made before the call starts.
pub(super) struct CallDraws {
    pub(super) number: u32,
    pub(super) request: Duration,
    pub(super) response: Duration,
    pub(super) fault: Option<FaultKind>,
    pub(super) rng: ChaCha8Rng,
    /// The engine crashes at this call (the timeline says so).
    pub(super) crash: Option<CrashPoint>,
}

impl SimBroker {
    /// What the scenario's `timeline:` scripts in `scripts` for call
    /// `number` of `endpoint` on the order `order` (by index) or `target`
    /// names: a fault, or a crash point.
    fn scripted_at<T: Copy>(
        scripts: &std::collections::BTreeMap<(OrderTarget, usize, u32), T>,
        world: &World,
        (endpoint, order, target): (Endpoint, Option<u32>, &str),
        number: u32,
    ) -> Option<T> {
        let at = |target: OrderTarget| scripts.get(&(target, endpoint.index(), number)).copied();
        if let Some(fault) = order.and_then(|index| at(OrderTarget::Index(index))) {
            return Some(fault);
        }
        let client_order_id = match endpoint {
            Endpoint::Submit | Endpoint::GetOrderByClientId => Some(target),
            Endpoint::GetOrder | Endpoint::Cancel | Endpoint::Replace => world
                .ledger
                .by_id(target)
                .map(|o| o.client_order_id.as_str()),
            Endpoint::GetPosition
            | Endpoint::ListOrders
            | Endpoint::FillActivities
            | Endpoint::Account
            | Endpoint::Positions
            | Endpoint::Clock => None,
        }?;
        at(OrderTarget::ClientOrderId(client_order_id.to_owned()))
    }

    pub(super) fn draws(
        &self,
        world: &mut World,
        endpoint: Endpoint,
        key: u64,
        order: Option<u32>,
        target: &str,
    ) -> CallDraws {
        let slot = world
            .call_numbers
            .entry((key, endpoint.index()))
            .or_insert(0);
        let number = *slot;
        *slot += 1;
        world.calls[endpoint] += 1;
        let mut mix = [0u8; 17];
        mix[..8].copy_from_slice(&key.to_le_bytes());
        mix[8] = endpoint.index() as u8;
        mix[9..13].copy_from_slice(&number.to_le_bytes());
        let mut rng = derive_rng(self.seed, "call", stable_hash(&mix));
        let (request_leg, response_leg) = &self.model.latency[endpoint.index()];
        let request = request_leg.sample(&mut rng);
        let response = response_leg.sample(&mut rng);
        let u = rng.random::<f64>();
        let call = (endpoint, order, target);
        let fault = if world.healed {
            None
        } else {
            (!self.model.call_faults.is_empty())
                .then(|| Self::scripted_at(&self.model.call_faults, world, call, number))
                .flatten()
                .or_else(|| self.model.faults[endpoint.index()].pick(u))
        };
        let crash = (!self.model.crash_points.is_empty())
            .then(|| Self::scripted_at(&self.model.crash_points, world, call, number))
            .flatten();
        if crash.is_some() {
            world.crash_points_reached += 1;
        }
        CallDraws {
            number,
            request,
            response,
            fault,
            rng,
            crash,
        }
    }

    /// One API call: request leg, apply at the broker (unless a fault, an
    /// outage or the rate limit stops it), response leg.
    ///
    /// The request travels on its own: when the caller stops waiting
    /// before it arrives (a client's timeout), it still arrives and is
    /// applied at its drawn time, as a request already sent is by a real
    /// broker; only the answer then has nobody to go to.
    pub(super) async fn call(&self, request: Request) -> Result<Answer, BrokerError> {
        let endpoint = request.endpoint();
        let (draws, order) = {
            let mut world = self.world();
            let (key, order) = match &request {
                Request::Submit(r) => Self::key_for_client_id(&world, &r.client_order_id),
                Request::GetOrderByClientId(id) => Self::key_for_client_id(&world, id),
                Request::GetOrder(id) | Request::Cancel(id) | Request::Replace(id, _) => {
                    Self::key_for_id(&world, id)
                }
                Request::GetPosition(symbol) => {
                    (unregistered_key(&format!("position/{symbol}")), None)
                }
                Request::ListOrders(_) | Request::FillActivities(_) | Request::Read(_) => {
                    (unregistered_key(request.target()), None)
                }
            };
            let draws = self.draws(&mut world, endpoint, key, order, request.target());
            if draws.crash == Some(CrashPoint::BeforeSubmit) {
                // The engine crashes before the submit leaves: the broker
                // never hears of it.
                world.calls[endpoint] -= 1;
            }
            (draws, order)
        };
        let crash = draws.crash;
        if let Some(point) = crash {
            self.crash_points.add_permits(1);
            if point == CrashPoint::BeforeSubmit {
                return std::future::pending().await;
            }
        }
        let arrival = ARRIVAL.try_with(|arrival| *arrival).ok();
        let lands = match arrival {
            Some(arrival) => Some(self.clock.instant_at(arrival + draws.request)),
            None if !draws.request.is_zero() => Some(Instant::now() + draws.request),
            None => None,
        };
        let landing = match arrival {
            Some(arrival) => Some(arrival + draws.request),
            None => lands.map(|lands| self.clock.elapsed_at(lands)),
        };
        if let Some(at) = landing {
            *self.world().on_their_way.entry(at).or_insert(0) += 1;
        }
        let mut in_flight = InFlight {
            broker: self,
            call: Some(Travelling {
                request,
                draws,
                order,
                arrival,
                lands,
                landing,
            }),
        };
        if let Some(lands) = lands {
            sleep_until(lands).await;
        }
        let Some(call) = in_flight.call.take() else {
            unreachable!("a call lands once, and only here or when its caller is gone");
        };
        let (result, wait) = self.land(call, false);
        if crash.is_some() {
            // The engine crashed with this call on its way: no answer.
            return std::future::pending().await;
        }
        if !wait.is_zero() {
            sleep(wait).await;
        }
        result
    }

    /// Applies a call that has arrived; returns the answer and how long it
    /// takes to reach the caller.
    pub(super) fn land(
        &self,
        call: Travelling,
        abandoned: bool,
    ) -> (Result<Answer, BrokerError>, Duration) {
        let Travelling {
            request,
            mut draws,
            order,
            arrival,
            landing,
            ..
        } = call;
        let faults = &self.model.faults[request.endpoint().index()];
        let now = arrival.map_or_else(|| self.elapsed(), |arrival| arrival + draws.request);
        let mut world = self.world();
        if let Some(at) = landing {
            world.not_on_its_way(at);
        }
        let gates = world.pass_gates(now, &self.model.outages);
        let fate = fate(gates, draws.fault);
        let result = self.carry_out(&mut world, fate, now, &mut draws.rng, order, &request);
        let landed = Landed {
            request: &request,
            draws: &draws,
            order,
            now,
            result: &result,
            applied: fate.applied(),
            refusal: fate.refusal(),
            abandoned,
        };
        self.note_landed(&mut world, &landed);
        (result, response_wait(&draws, faults))
    }

    /// Carries out a landed call's `fate`: the broker applies the request
    /// when the fate lets it (a fault that applies first breaks only the
    /// answer), and the caller gets the answer or the refusal's error.
    fn carry_out(
        &self,
        world: &mut World,
        fate: Fate,
        now: Duration,
        rng: &mut ChaCha8Rng,
        order: Option<u32>,
        request: &Request,
    ) -> Result<Answer, BrokerError> {
        match fate {
            Fate::Outage => Err(BrokerError::Server {
                status: 503,
                message: "service unavailable".into(),
            }),
            Fate::RateLimited(retry_after) => Err(BrokerError::RateLimited {
                retry_after: Some(retry_after),
            }),
            Fate::Clean => self.apply(world, now, rng, order, request),
            Fate::Fault(fault) => {
                if fault.applied() {
                    // The broker acts; the answer is what breaks.
                    let _ = self.apply(world, now, rng, order, request);
                }
                let retry_after = self.model.faults[request.endpoint().index()].retry_after;
                Err(fault_error(fault, retry_after))
            }
        }
    }

    /// Counts a landed call's fault, notes what became of a submit, and
    /// traces the call.
    fn note_landed(&self, world: &mut World, landed: &Landed<'_>) {
        let endpoint = landed.request.endpoint();
        let target = landed.request.target();
        if let Some(refusal) = landed.refusal {
            *world.faults_injected.entry(refusal.as_str()).or_insert(0) += 1;
        }
        if endpoint == Endpoint::Submit {
            // The request left its caller one request leg before it landed.
            let sent = landed.now.saturating_sub(landed.draws.request);
            note_submit(
                world,
                target,
                (landed.draws.number, sent),
                landed.result,
                landed.refusal,
            );
        }
        let outcome = match landed.result {
            Ok(_) => std::borrow::Cow::Borrowed("ok"),
            Err(error) => std::borrow::Cow::Owned(error.to_string()),
        };
        let seen = landed.result.as_ref().ok().and_then(Answer::seen);
        let t_us = self.micros(landed.now);
        world.trace.push_call(
            t_us,
            CallRecord {
                endpoint: endpoint.as_str(),
                order: landed.order,
                target,
                call: landed.draws.number,
                outcome,
                applied: landed.applied,
                fault: landed.refusal.map(CallRefusal::as_str),
                seen,
                abandoned: landed.abandoned,
            },
        );
    }
}

fn fault_error(fault: FaultKind, retry_after: Duration) -> BrokerError {
    let server = |status: u16, message: &str| BrokerError::Server {
        status,
        message: message.to_owned(),
    };
    match fault {
        FaultKind::Timeout | FaultKind::LostResponse => BrokerError::Timeout,
        FaultKind::ConnectionReset => BrokerError::ConnectionReset,
        FaultKind::Http500 => server(500, "internal server error"),
        FaultKind::Http502 => server(502, "bad gateway"),
        FaultKind::Http503 => server(503, "service unavailable"),
        FaultKind::Http504 => server(504, "gateway timeout"),
        FaultKind::Http429 => BrokerError::RateLimited {
            retry_after: Some(retry_after),
        },
        FaultKind::GarbageBody => BrokerError::BadBody {
            detail: "expected value at line 1 column 1: <html><body>502 Bad Gateway".into(),
        },
    }
}

/// What becomes of a call the gates made `gates` of, whose draws picked
/// `fault`: an outage or the rate limit answers first, then the drawn
/// fault, if any. A pure decision; [`SimBroker::land`] carries it out.
fn fate(gates: Gates, fault: Option<FaultKind>) -> Fate {
    match (gates.in_outage, gates.limited, fault) {
        (true, _, _) => Fate::Outage,
        (false, Err(retry_after), _) => Fate::RateLimited(retry_after),
        (false, Ok(()), Some(fault)) => Fate::Fault(fault),
        (false, Ok(()), None) => Fate::Clean,
    }
}

/// How long a landed call's answer takes to reach the caller: the drawn
/// response leg, or, for a fault that gives no answer, until the caller
/// sees a timeout.
fn response_wait(draws: &CallDraws, faults: &EndpointFaults) -> Duration {
    match draws.fault {
        Some(FaultKind::Timeout | FaultKind::LostResponse) => {
            faults.timeout_after.saturating_sub(draws.request)
        }
        _ => draws.response,
    }
}

/// What the broker does with a call that arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// An outage window answers 503; nothing is applied.
    Outage,
    /// The rate limit answers 429, with the wait until a token is free.
    RateLimited(Duration),
    /// The drawn fault answers (after the broker acted, for the faults
    /// that apply first).
    Fault(FaultKind),
    /// The broker applies the request and answers.
    Clean,
}

impl Fate {
    /// Why the call got no clean answer, if it did not.
    fn refusal(self) -> Option<CallRefusal> {
        match self {
            Self::Outage => Some(CallRefusal::Outage),
            Self::RateLimited(_) => Some(CallRefusal::RateLimit),
            Self::Fault(fault) => Some(CallRefusal::Fault(fault)),
            Self::Clean => None,
        }
    }

    /// True when the broker applies the request.
    fn applied(self) -> bool {
        self.refusal().is_none_or(CallRefusal::applied)
    }
}

/// A call that has landed, as it is counted and traced.
struct Landed<'a> {
    request: &'a Request,
    draws: &'a CallDraws,
    order: Option<u32>,
    now: Duration,
    result: &'a Result<Answer, BrokerError>,
    applied: bool,
    refusal: Option<CallRefusal>,
    abandoned: bool,
}

/// A call between its departure and its arrival at the broker.
pub(super) struct Travelling {
    request: Request,
    draws: CallDraws,
    order: Option<u32>,
    arrival: Option<Duration>,
    /// When it arrives, on the runtime's clock; `None` when at once.
    lands: Option<Instant>,
    /// When it arrives, virtual time since the broker was created (its
    /// entry in `on_their_way`); `None` when at once.
    landing: Option<Duration>,
}

/// Holds a call while its request travels. Dropped before the request
/// arrives (its caller stopped waiting), it sends the request on by itself:
/// it lands at its time all the same, and its answer goes nowhere.
struct InFlight<'a> {
    broker: &'a SimBroker,
    call: Option<Travelling>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let Some(call) = self.call.take() else {
            return;
        };
        // Outside a runtime there is no time for it to land in.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            if let Some(at) = call.landing {
                self.broker.world().not_on_its_way(at);
            }
            return;
        };
        let broker = self.broker.clone();
        // Only a submit or a cancel changes what the broker does: the
        // truth waits for those; a read that lands later changes nothing.
        let changes_the_ledger = matches!(call.request, Request::Submit(_) | Request::Cancel(_));
        if changes_the_ledger {
            let mut world = broker.world();
            let (count, last) = &mut world.travelling;
            *count += 1;
            *last = (*last).max(call.lands);
        }
        runtime.spawn(async move {
            if let Some(lands) = call.lands {
                sleep_until(lands).await;
            }
            let _ = broker.land(call, true);
            if changes_the_ledger {
                broker.world().travelling.0 -= 1;
            }
        });
    }
}
