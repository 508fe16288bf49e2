//! Each fault knob, alone, against the simulated broker: the behaviour it
//! promises, observed through the engine's `Broker` port on virtual time.

use std::time::Duration;

use fillproof_engine::clock::{sleep, sleep_until};
use fillproof_engine::{Broker, BrokerError, Order, OrderStatus};
use fillproof_simulator::{BrokerModel, Intent, Scenario, SimBroker, TraceKind, Workload};
use rust_decimal::Decimal;
use tokio::time::Instant;

/// A one-symbol scenario with `broker` as its broker section (indented two
/// spaces per level) and `extra` appended at the top level.
fn scenario(orders: u32, broker: &str, extra: &str) -> Scenario {
    let text = format!(
        "version: 1\nname: knob\nseed: 5\nworkload:\n  orders: {orders}\n  symbols: [QQQ]\n  qty: 100\n  reference_price: {{QQQ: \"100.00\"}}\nbroker:\n{broker}\n{extra}\n"
    );
    Scenario::parse(text.as_bytes(), "knob.yaml", None).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn setup(s: &Scenario) -> (SimBroker, Vec<Intent>) {
    let broker = SimBroker::new(BrokerModel::from_scenario(s), s.seed, true);
    let intents: Vec<Intent> = Workload::new(s, s.seed, None).collect();
    for intent in &intents {
        broker.register(&intent.request.client_order_id, intent.index);
    }
    (broker, intents)
}

/// Submits an intent the broker must accept, and returns its order.
async fn accepted(broker: &SimBroker, intent: &Intent) -> Order {
    broker
        .submit_order(&intent.request)
        .await
        .expect("accepted")
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// A round-trip latency is split in two legs, the request applied halfway;
/// explicit legs are honoured each.
#[tokio::test(start_paused = true)]
async fn latency_round_trip_and_legs() {
    let s = scenario(
        1,
        "  latency:\n    submit: 80ms\n    cancel: {request: 500ms, response: 20ms}\n  fill: {probability: 0}",
        "",
    );
    let (broker, intents) = setup(&s);
    let start = Instant::now();
    let order = accepted(&broker, &intents[0]).await;
    assert_eq!(start.elapsed(), ms(80));
    assert_eq!(broker.with_ledger(|l| l.orders()[0].accepted_at), ms(40));
    broker
        .cancel_order(&order.id)
        .await
        .expect("cancel accepted");
    assert_eq!(start.elapsed(), ms(600));
    let requested = broker.with_ledger(|l| l.orders()[0].cancel_requested_at);
    assert_eq!(requested, Some(ms(580)));
}

/// Each transient error kind surfaces as its `BrokerError`, and a timeout
/// takes `timeout_after` to surface.
#[tokio::test(start_paused = true)]
async fn transient_errors_per_endpoint() {
    type Check = fn(&BrokerError) -> bool;
    let cases: &[(&str, Check)] = &[
        ("timeout", |e| matches!(e, BrokerError::Timeout)),
        ("connection_reset", |e| {
            matches!(e, BrokerError::ConnectionReset)
        }),
        ("http_500", |e| {
            matches!(e, BrokerError::Server { status: 500, .. })
        }),
        ("http_502", |e| {
            matches!(e, BrokerError::Server { status: 502, .. })
        }),
        ("http_503", |e| {
            matches!(e, BrokerError::Server { status: 503, .. })
        }),
        ("http_504", |e| {
            matches!(e, BrokerError::Server { status: 504, .. })
        }),
        ("http_429", |e| {
            e.retry_after() == Some(Duration::from_secs(3))
        }),
        ("garbage_body", |e| matches!(e, BrokerError::BadBody { .. })),
    ];
    for (kind, check) in cases {
        let s = scenario(
            1,
            &format!("  faults:\n    get_order: {{{kind}: 1, timeout_after: 2s, retry_after: 3s}}"),
            "",
        );
        let (broker, intents) = setup(&s);
        let order = broker
            .submit_order(&intents[0].request)
            .await
            .expect("submit is clean");
        let start = Instant::now();
        let error = broker.get_order(&order.id).await.expect_err(kind);
        assert!(check(&error), "{kind}: {error}");
        if *kind == "timeout" {
            assert_eq!(start.elapsed(), Duration::from_secs(2), "timeout_after");
        }
    }
}

/// A lost response: the broker applies the submit, the caller sees a
/// timeout, and a lookup by client order id finds the order.
#[tokio::test(start_paused = true)]
async fn lost_response_is_applied() {
    let s = scenario(1, "  faults:\n    submit: {lost_response: 1}", "");
    let (broker, intents) = setup(&s);
    let request = &intents[0].request;
    let error = broker.submit_order(request).await.expect_err("answer lost");
    assert_eq!(error, BrokerError::Timeout);
    assert_eq!(broker.with_ledger(|l| l.orders().len()), 1);
    let found = broker
        .get_order_by_client_id(&request.client_order_id)
        .await
        .expect("found");
    assert_eq!(found.client_order_id, request.client_order_id);
}

/// A second submit with the same client order id is refused like a real
/// broker refuses it, and creates nothing.
#[tokio::test(start_paused = true)]
async fn duplicate_client_order_id_is_refused() {
    let s = scenario(1, "  fill: {probability: 0}", "");
    let (broker, intents) = setup(&s);
    broker
        .submit_order(&intents[0].request)
        .await
        .expect("first");
    let error = broker
        .submit_order(&intents[0].request)
        .await
        .expect_err("second");
    assert!(error.is_duplicate_client_order_id(), "{error}");
    assert_eq!(broker.with_ledger(|l| l.orders().len()), 1);
}

/// The fill model: delay, pieces with spacing, and side-aware slippage.
#[tokio::test(start_paused = true)]
async fn fill_model_delay_pieces_and_slippage() {
    let s = scenario(
        1,
        "  fill:\n    delay: 1.2s\n    partial: {probability: 1, pieces: [3, 3], spacing: 1s}\n    slippage_bps: 10",
        "",
    );
    let (broker, intents) = setup(&s);
    accepted(&broker, &intents[0]).await;
    let fills = broker.with_ledger(|l| l.orders()[0].fills.clone());
    let times: Vec<Duration> = fills.iter().map(|f| f.at).collect();
    assert_eq!(times, vec![ms(1_200), ms(2_200), ms(3_200)]);
    let qty: Decimal = fills.iter().map(|f| f.qty).sum();
    assert_eq!(qty, Decimal::from(100));
    assert!(
        fills
            .iter()
            .all(|f| f.price == "100.10".parse::<Decimal>().expect("p"))
    );
}

/// With `unfilled`, the last piece never comes: the order rests partly
/// filled.
#[tokio::test(start_paused = true)]
async fn partial_unfilled_remainder_rests() {
    let s = scenario(
        1,
        "  fill:\n    partial: {probability: 1, pieces: [4, 4], spacing: 1s, unfilled: 1}",
        "",
    );
    let (broker, intents) = setup(&s);
    let order = accepted(&broker, &intents[0]).await;
    sleep(Duration::from_secs(60)).await;
    let read = broker.get_order(&order.id).await.expect("read");
    assert_eq!(read.filled_qty, Decimal::from(75));
    assert_eq!(read.status, OrderStatus::PartiallyFilled);
}

/// The account refuses orders in symbols it may not trade (422) and buys
/// beyond its buying power (403), counting open buys as spent; sells need
/// no buying power.
#[tokio::test(start_paused = true)]
async fn account_refuses_untradable_and_unaffordable() {
    let s = scenario(
        3,
        "  fill: {probability: 0}\n  account: {buying_power: \"25000.00\", not_tradable: [QQQ]}",
        "",
    );
    let (broker, intents) = setup(&s);
    let error = broker
        .submit_order(&intents[0].request)
        .await
        .expect_err("not tradable");
    assert_eq!(
        error.to_string(),
        "HTTP 422 unprocessable: asset QQQ is not tradable"
    );

    let s = scenario(
        3,
        "  fill: {probability: 0}\n  account: {buying_power: \"25000.00\"}",
        "",
    );
    let (broker, intents) = setup(&s);
    // Each order is 100 QQQ at 100.00: 10,000.00. Two fit, the third does not.
    broker
        .submit_order(&intents[0].request)
        .await
        .expect("first fits");
    broker
        .submit_order(&intents[1].request)
        .await
        .expect("second fits");
    let error = broker
        .submit_order(&intents[2].request)
        .await
        .expect_err("third does not");
    assert!(matches!(error, BrokerError::Forbidden { .. }), "{error}");
    assert!(
        error.to_string().contains("insufficient buying power"),
        "{error}"
    );
    let mut sell = intents[2].request.clone();
    sell.side = fillproof_engine::Side::Sell;
    broker
        .submit_order(&sell)
        .await
        .expect("a sell needs no buying power");
}

/// A fill probability of 0 never fills.
#[tokio::test(start_paused = true)]
async fn fill_probability_zero_never_fills() {
    let s = scenario(1, "  fill: {probability: 0}", "");
    let (broker, intents) = setup(&s);
    let order = accepted(&broker, &intents[0]).await;
    sleep(Duration::from_secs(3600)).await;
    let read = broker.get_order(&order.id).await.expect("read");
    assert_eq!(read.filled_qty, Decimal::ZERO);
    assert_eq!(read.status, OrderStatus::New);
}

/// Synchronous rejection refuses the submit; asynchronous rejection accepts
/// and later reads rejected.
#[tokio::test(start_paused = true)]
async fn rejections_sync_and_async() {
    let s = scenario(1, "  rejections: {probability: 1}", "");
    let (broker, intents) = setup(&s);
    let error = broker
        .submit_order(&intents[0].request)
        .await
        .expect_err("refused");
    assert!(
        matches!(error, BrokerError::Unprocessable { .. }),
        "{error}"
    );
    assert_eq!(broker.with_ledger(|l| l.orders().len()), 0);

    let s = scenario(
        1,
        "  rejections: {async_probability: 1, async_delay: 2s}",
        "",
    );
    let (broker, intents) = setup(&s);
    let order = accepted(&broker, &intents[0]).await;
    assert_eq!(order.status, OrderStatus::New);
    sleep(Duration::from_secs(3)).await;
    let read = broker.get_order(&order.id).await.expect("read");
    assert_eq!(read.status, OrderStatus::Rejected);
    assert_eq!(read.filled_qty, Decimal::ZERO);
}

/// With `status_lag`, a read between the fill and the catch-up shows
/// `filled_qty == qty` and a status that is not filled; after it, filled.
#[tokio::test(start_paused = true)]
async fn status_lag_hides_fill_from_status_only() {
    let s = scenario(
        1,
        "  fill: {delay: 1s}\n  visibility: {status_lag: 10s}",
        "",
    );
    let (broker, intents) = setup(&s);
    let order = accepted(&broker, &intents[0]).await;
    sleep(Duration::from_secs(5)).await;
    let between = broker.get_order(&order.id).await.expect("read");
    assert_eq!(between.filled_qty, between.qty);
    assert_ne!(between.status, OrderStatus::Filled);
    sleep(Duration::from_secs(10)).await;
    let after = broker.get_order(&order.id).await.expect("read");
    assert_eq!(after.status, OrderStatus::Filled);
}

/// A stale read returns an older snapshot: before the fill, after it
/// happened.
#[tokio::test(start_paused = true)]
async fn stale_reads_return_older_snapshots() {
    let s = scenario(
        1,
        "  fill: {delay: 1s}\n  visibility: {stale_reads: {probability: 1, age: 10s}}",
        "",
    );
    let (broker, intents) = setup(&s);
    let order = accepted(&broker, &intents[0]).await;
    sleep(Duration::from_secs(5)).await;
    let read = broker.get_order(&order.id).await.expect("read");
    assert_eq!(
        read.filled_qty,
        Decimal::ZERO,
        "stale snapshot predates the fill"
    );
    assert!(
        broker.with_ledger(|l| l.orders()[0].filled_qty_at(Duration::from_secs(5))) > Decimal::ZERO
    );
}

/// Status spellings reach the engine as the broker spells them: a known
/// variant parses to filled, an unknown one stays unknown.
#[tokio::test(start_paused = true)]
async fn status_spellings() {
    for (spelling, expected) in [
        ("OrderStatus.FILLED", OrderStatus::Filled),
        ("FILLED", OrderStatus::Filled),
        ("done", OrderStatus::Unknown("done".into())),
    ] {
        let s = scenario(
            1,
            &format!("  visibility:\n    status_spelling: {{\"{spelling}\": 1}}"),
            "",
        );
        let (broker, intents) = setup(&s);
        let order = accepted(&broker, &intents[0]).await;
        let read = broker.get_order(&order.id).await.expect("read");
        assert_eq!(read.status, expected, "{spelling}");
    }
}

/// Cancel of a filled order answers 422 "already filled", or 204 when so
/// configured.
#[tokio::test(start_paused = true)]
async fn cancel_of_filled_order() {
    let s = scenario(1, "  cancel: {when_filled: reject_422}", "");
    let (broker, intents) = setup(&s);
    let order = accepted(&broker, &intents[0]).await;
    let error = broker
        .cancel_order(&order.id)
        .await
        .expect_err("already filled");
    assert!(error.is_already_filled(), "{error}");

    let s = scenario(1, "  cancel: {when_filled: accept_204}", "");
    let (broker, intents) = setup(&s);
    let order = accepted(&broker, &intents[0]).await;
    broker.cancel_order(&order.id).await.expect("204");
    let read = broker.get_order(&order.id).await.expect("read");
    assert_eq!(read.status, OrderStatus::Filled);
}

/// During cancel processing a fill wins and the order ends filled; a fill
/// due after processing never happens and the order ends canceled.
#[tokio::test(start_paused = true)]
async fn cancel_processing_race() {
    let s = scenario(1, "  fill: {delay: 3s}\n  cancel: {processing: 2s}", "");
    let (broker, intents) = setup(&s);
    let order = accepted(&broker, &intents[0]).await;
    sleep(ms(1_500)).await;
    broker.cancel_order(&order.id).await.expect("accepted");
    let pending = broker.get_order(&order.id).await.expect("read");
    assert_eq!(pending.status, OrderStatus::PendingCancel);
    sleep(Duration::from_secs(5)).await;
    let read = broker.get_order(&order.id).await.expect("read");
    assert_eq!(
        read.status,
        OrderStatus::Filled,
        "fill during processing wins"
    );

    let s = scenario(1, "  fill: {delay: 5s}\n  cancel: {processing: 2s}", "");
    let (broker, intents) = setup(&s);
    let order = accepted(&broker, &intents[0]).await;
    broker.cancel_order(&order.id).await.expect("accepted");
    sleep(Duration::from_secs(10)).await;
    let read = broker.get_order(&order.id).await.expect("read");
    assert_eq!(read.status, OrderStatus::Canceled);
    assert_eq!(read.filled_qty, Decimal::ZERO);
    assert!(broker.with_ledger(|l| l.orders()[0].fills.is_empty()));
}

/// The token bucket answers 429 with the wait until the next token.
#[tokio::test(start_paused = true)]
async fn rate_limit_answers_429_with_retry_after() {
    let s = scenario(1, "  rate_limit: {requests: 2, per: 1s}", "");
    let (broker, intents) = setup(&s);
    let order = broker
        .submit_order(&intents[0].request)
        .await
        .expect("first token");
    broker.get_order(&order.id).await.expect("second token");
    let error = broker.get_order(&order.id).await.expect_err("bucket empty");
    assert_eq!(error.retry_after(), Some(ms(500)));
    assert_eq!(broker.faults_injected().get("rate_limit"), Some(&1));
    sleep(ms(500)).await;
    broker.get_order(&order.id).await.expect("refilled");
}

/// During an outage every call answers 503; after it, calls succeed.
#[tokio::test(start_paused = true)]
async fn outage_window_answers_503() {
    let s = scenario(1, "  outages:\n    - {at: 1s, for: 2s}", "");
    let (broker, intents) = setup(&s);
    let order = broker
        .submit_order(&intents[0].request)
        .await
        .expect("before");
    sleep_until(Instant::now() + ms(1_500)).await;
    let error = broker.get_order(&order.id).await.expect_err("during");
    assert!(
        matches!(error, BrokerError::Server { status: 503, .. }),
        "{error}"
    );
    sleep(Duration::from_secs(2)).await;
    broker.get_order(&order.id).await.expect("after");
}

/// Positions lag fills by `position_lag`.
#[tokio::test(start_paused = true)]
async fn position_lag_delays_positions() {
    let s = scenario(1, "  fill: {delay: 1s}\n  position_lag: 5s", "");
    let (broker, intents) = setup(&s);
    accepted(&broker, &intents[0]).await;
    sleep(Duration::from_secs(2)).await;
    assert_eq!(
        broker.get_position("QQQ").await.expect("read"),
        None,
        "lagging"
    );
    sleep(Duration::from_secs(5)).await;
    let position = broker
        .get_position("QQQ")
        .await
        .expect("read")
        .expect("open");
    assert_eq!(position.qty, Decimal::from(100));
}

/// A timeline overrides the random model for the orders it names: order 0
/// fills when the timeline says, not at once; order 1 follows the model.
#[tokio::test(start_paused = true)]
async fn timeline_overrides_random_model() {
    let s = scenario(
        2,
        "  fill: {probability: 1}",
        "timeline:\n  - {at: 10.3s, order: 0, event: fill, qty: 40, price: \"99.50\"}",
    );
    let (broker, intents) = setup(&s);
    accepted(&broker, &intents[0]).await;
    accepted(&broker, &intents[1]).await;
    let (scripted, random) =
        broker.with_ledger(|l| (l.orders()[0].fills.clone(), l.orders()[1].fills.clone()));
    assert_eq!(scripted.len(), 1);
    assert_eq!(scripted[0].at, ms(10_300));
    assert_eq!(scripted[0].qty, Decimal::from(40));
    assert_eq!(scripted[0].price, "99.50".parse::<Decimal>().expect("p"));
    assert_eq!(random[0].at, Duration::ZERO);
}

/// A `fault` event strikes exactly the call it names: the first submit of
/// order 1 (by arrival index) loses its answer but is applied, its second
/// submit is answered; order 0 is untouched. Named by `client_order_id`,
/// the second `get_order` of an order answers 504.
#[tokio::test(start_paused = true)]
async fn timeline_fault_strikes_the_call_it_names() {
    let s = scenario(
        2,
        "  fill: {probability: 0}",
        "timeline:\n  - {order: 1, event: fault, call: submit, fault: lost_response}",
    );
    let (broker, intents) = setup(&s);
    accepted(&broker, &intents[0]).await;
    let lost = broker.submit_order(&intents[1].request).await;
    assert_eq!(lost, Err(BrokerError::Timeout));
    assert_eq!(broker.with_ledger(|l| l.orders().len()), 2, "applied");
    let again = broker.submit_order(&intents[1].request).await;
    assert!(
        again
            .as_ref()
            .is_err_and(BrokerError::is_duplicate_client_order_id),
        "{again:?}"
    );
    assert_eq!(broker.faults_injected().get("lost_response"), Some(&1));

    let by_id = scenario(
        1,
        "  fill: {probability: 0}",
        &format!(
            "timeline:\n  - {{client_order_id: {}, event: fault, call: get_order, attempt: 2, fault: http_504}}",
            intents[0].request.client_order_id
        ),
    );
    let (broker, intents) = setup(&by_id);
    let order = accepted(&broker, &intents[0]).await;
    assert!(broker.get_order(&order.id).await.is_ok(), "first read");
    assert_eq!(
        broker.get_order(&order.id).await.map(|_| ()),
        Err(BrokerError::Server {
            status: 504,
            message: "gateway timeout".into()
        }),
        "second read"
    );
    assert!(broker.get_order(&order.id).await.is_ok(), "third read");
}

/// A call made inside `at_arrival` takes effect at the arrival time plus
/// its request leg exactly, whatever the clock reads when it runs: the
/// order's acceptance time is the same whether the call starts on time or
/// late.
#[tokio::test(start_paused = true)]
async fn calls_at_an_arrival_time_take_effect_at_it() {
    let s = scenario(
        1,
        "  latency:\n    submit: {request: 30ms, response: 10ms}",
        "",
    );
    let (broker, intents) = setup(&s);
    let start = Instant::now();
    sleep(ms(500)).await;
    let order = fillproof_simulator::at_arrival(ms(200), broker.submit_order(&intents[0].request))
        .await
        .expect("accepted");
    let accepted_at = broker.with_ledger(|l| l.orders()[0].accepted_at);
    assert_eq!(accepted_at, ms(230));
    assert_eq!(
        order
            .submitted_at
            .map(|t| t.unix_micros - fillproof_simulator::DEFAULT_EPOCH_UNIX_MICROS),
        Some(230_000)
    );
    assert!(
        start.elapsed() >= ms(510),
        "the response leg is still waited"
    );
}

/// UUID-shaped ids: 8-4-4-4-12 lowercase hex with the version-4 and variant
/// bits, the same for the same seed and key, different otherwise.
#[test]
fn uuid_shaped_ids_are_derived_not_random() {
    let id = fillproof_simulator::uuid_shaped(7, "order-id", 3);
    let groups: Vec<&str> = id.split('-').collect();
    assert_eq!(
        groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(
        id.chars()
            .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert!(groups[2].starts_with('4'), "{id}");
    assert!("89ab".contains(&groups[3][..1]), "{id}");
    assert_eq!(id, fillproof_simulator::uuid_shaped(7, "order-id", 3));
    assert_ne!(id, fillproof_simulator::uuid_shaped(7, "order-id", 4));
    assert_ne!(id, fillproof_simulator::uuid_shaped(8, "order-id", 3));
}

/// After `heal`, faults, outages and rate limits stop.
#[tokio::test(start_paused = true)]
async fn heal_stops_faults() {
    let s = scenario(
        1,
        "  faults:\n    get_order: {http_503: 1}\n  outages:\n    - {at: 0s, for: 1h}",
        "",
    );
    let (broker, intents) = setup(&s);
    broker
        .submit_order(&intents[0].request)
        .await
        .expect_err("outage");
    broker.heal();
    let order = broker
        .submit_order(&intents[0].request)
        .await
        .expect("healed");
    broker.get_order(&order.id).await.expect("healed");
    let events = broker.trace();
    assert!(
        events
            .events()
            .expect("recorded")
            .iter()
            .any(|e| e.kind == TraceKind::Healed)
    );
}

/// Swarm mode: the same seed gives the same mix, other seeds give other
/// mixes, and no probability exceeds the scenario's.
#[test]
fn swarm_reweights_within_bounds() {
    let s = scenario(
        1,
        "  faults:\n    get_order: {timeout: 0.1, http_503: 0.1, connection_reset: 0.1}\n    submit: {lost_response: 0.1, http_500: 0.1}\n  fill: {partial: {probability: 0.5, pieces: [2, 3]}}",
        "",
    );
    let base = BrokerModel::from_scenario(&s);
    let mix = |seed| {
        let mut model = base.clone();
        let report = model.swarm(seed);
        (report, model)
    };
    let (first, model) = mix(1);
    assert_eq!(first, mix(1).0);
    let distinct: std::collections::BTreeSet<Vec<String>> =
        (0..20).map(|seed| mix(seed).0).collect();
    assert!(
        distinct.len() > 10,
        "only {} distinct mixes",
        distinct.len()
    );
    for (bound, swarmed) in base.faults.iter().zip(model.faults.iter()) {
        for (b, s) in bound.probabilities.iter().zip(swarmed.probabilities) {
            assert!(s <= *b, "{s} above {b}");
        }
    }
}

/// Whatever an engine sends, the broker's arithmetic never overflows: an
/// order for `Decimal::MAX` shares, or at a limit of 10^-28 or near
/// `Decimal::MAX`, is refused with 422 like any order a broker cannot
/// trade, against an account whose buying power is checked; a sane order
/// beside them is accepted.
#[tokio::test(start_paused = true)]
async fn orders_beyond_the_bounds_are_refused_without_overflow() {
    let s = scenario(1, "  account: {buying_power: \"1000000000000000\"}", "");
    let (broker, intents) = setup(&s);
    let mut request = intents[0].request.clone();
    let tiny = Decimal::new(1, 28);
    for (qty, limit) in [
        (Decimal::MAX, None),
        (Decimal::ONE, Some(tiny)),
        (Decimal::ONE, Some(Decimal::MAX)),
    ] {
        request.qty = qty;
        request.limit_price = limit;
        request.order_type = if limit.is_some() {
            fillproof_engine::OrderType::Limit
        } else {
            fillproof_engine::OrderType::Market
        };
        let error = broker.submit_order(&request).await.expect_err("refused");
        assert!(
            matches!(error, BrokerError::Unprocessable { .. }),
            "{error}"
        );
    }
    accepted(&broker, &intents[0]).await;
}

/// Slippage drawn from a wild distribution never takes a fill price past
/// the bounds anything trades at.
#[test]
fn slipped_prices_stay_within_the_bounds() {
    use fillproof_engine::{MAX_PRICE, MIN_PRICE, Side};
    use fillproof_simulator::slipped_price;
    assert_eq!(slipped_price(MAX_PRICE, 1e20, Side::Buy), MAX_PRICE);
    assert_eq!(slipped_price(MAX_PRICE, 1e30, Side::Buy), MAX_PRICE);
    assert_eq!(slipped_price(MIN_PRICE, 1e20, Side::Sell), MIN_PRICE);
    assert_eq!(
        slipped_price(Decimal::ONE, f64::NAN, Side::Buy),
        Decimal::ONE
    );
}

/// A request whose caller stops waiting before it arrives still arrives:
/// a submit is placed at its drawn time and a cancel takes effect, as a
/// real broker applies what it received; the trace marks both calls as
/// applied with nobody waiting for the answer.
#[tokio::test(start_paused = true)]
async fn a_request_the_caller_stopped_waiting_for_still_arrives() {
    let s = scenario(
        1,
        "  latency:\n    submit: {request: 8s, response: 10ms}\n    cancel: {request: 8s, response: 10ms}\n  fill: {probability: 0}",
        "",
    );
    let (broker, intents) = setup(&s);
    let start = Instant::now();
    let gave_up = tokio::time::timeout(ms(5000), broker.submit_order(&intents[0].request)).await;
    assert!(gave_up.is_err(), "the caller stops waiting at 5 s");
    assert_eq!(
        broker.with_ledger(|l| l.orders().len()),
        0,
        "not arrived yet"
    );
    sleep_until(start + ms(8001)).await;
    let accepted_at = broker.with_ledger(|l| l.orders().first().map(|o| o.accepted_at));
    assert_eq!(
        accepted_at,
        Some(ms(8000)),
        "placed when the request landed"
    );
    let id = broker.with_ledger(|l| l.orders()[0].id.clone());
    let gave_up = tokio::time::timeout(ms(1000), broker.cancel_order(&id)).await;
    assert!(gave_up.is_err());
    sleep(ms(8000)).await;
    let requested = broker.with_ledger(|l| l.orders()[0].cancel_requested_at);
    assert_eq!(
        requested,
        Some(ms(16001)),
        "the cancel landed 8 s after it was sent"
    );
    let abandoned: Vec<&str> = broker
        .trace()
        .events()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| match &e.kind {
            TraceKind::Call {
                endpoint,
                abandoned: true,
                applied: true,
                ..
            } => Some(*endpoint),
            _ => None,
        })
        .collect();
    assert_eq!(abandoned, ["submit", "cancel"]);
}

/// A scripted fill larger than the order it lands on is never cut to fit:
/// an order whose quantity only its client knows (named by client order id,
/// as a bot under `serve` names it) is refused at submit, with the
/// timeline's line, and nothing enters the ledger; a workload order whose
/// drawn quantity is too small makes the run refuse before it starts.
#[tokio::test(start_paused = true)]
async fn timeline_overfill_is_refused_never_truncated() {
    let s = scenario(
        1,
        "  fill: {probability: 1}",
        "timeline:\n  - {at: 1s, client_order_id: bot-1, event: fill, qty: 150}",
    );
    let (broker, intents) = setup(&s);
    let mut request = intents[0].request.clone();
    request.client_order_id = "bot-1".into();
    let refused = broker.submit_order(&request).await;
    match refused {
        Err(BrokerError::Unprocessable { message }) => assert!(
            message.contains("line 12")
                && message.contains("the fill at 1s for 150 shares is 50 too many"),
            "{message}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(broker.with_ledger(|l| l.orders().len()), 0);

    let drawn = Scenario::parse(
        b"version: 1\nname: drawn\nworkload:\n  orders: 1\n  symbols: [QQQ]\n  qty: {uniform: [1, 20]}\n  reference_price: {QQQ: \"100.00\"}\ntimeline:\n  - {at: 1s, order: 0, event: fill, qty: 15}\n",
        "drawn.yaml",
        None,
    )
    .expect("loads, with a warning");
    let model = BrokerModel::from_scenario(&drawn);
    let qty = |seed| fillproof_simulator::order_qty(&drawn, seed, 0);
    let small = (1..200)
        .find(|seed| qty(*seed) < Decimal::from(15))
        .expect("a small draw");
    let large = (1..200)
        .find(|seed| qty(*seed) >= Decimal::from(15))
        .expect("a large draw");
    let refusal = fillproof_simulator::check_scripted_quantities(&model, &drawn, small, 1)
        .expect_err("the small draw is refused");
    assert_eq!(refusal.line, 9);
    assert_eq!(refusal.qty, qty(small));
    fillproof_simulator::check_scripted_quantities(&model, &drawn, large, 1)
        .expect("the large draw runs");
    // The broker itself refuses the small draw's order rather than fill it short.
    let broker = SimBroker::new(model, small, true);
    let intent = Workload::new(&drawn, small, None).next().expect("order 0");
    assert_eq!(intent.request.qty, qty(small));
    broker.register(&intent.request.client_order_id, 0);
    let refused = broker.submit_order(&intent.request).await;
    assert!(
        matches!(&refused, Err(BrokerError::Unprocessable { message }) if message.contains("line 9")),
        "{refused:?}"
    );
}

/// Goal: a limit order fills only when the market's price reaches it, and
/// then at that price, never at its limit. Method: with every order filling
/// at once and QQQ at $100.00, send a buy limit below the price, a sell
/// limit above it, and a buy limit above it; read them after every fill
/// would have landed.
#[tokio::test(start_paused = true)]
async fn a_limit_the_price_never_reaches_never_fills() {
    use fillproof_engine::{OrderType, Side};
    let s = scenario(3, "  fill: {probability: 1, delay: 1s}", "");
    let (broker, intents) = setup(&s);
    let cases = [
        (Side::Buy, "1.00", false),
        (Side::Sell, "150.00", false),
        (Side::Buy, "120.00", true),
    ];
    let mut orders = Vec::new();
    for (intent, (side, limit, _)) in intents.iter().zip(cases) {
        let mut request = intent.request.clone();
        request.side = side;
        request.order_type = OrderType::Limit;
        request.limit_price = Some(limit.parse().expect("limit"));
        orders.push(broker.submit_order(&request).await.expect("accepted"));
    }
    sleep(Duration::from_secs(60)).await;
    for (order, (side, limit, fills)) in orders.iter().zip(cases) {
        let read = broker.get_order(&order.id).await.expect("read");
        if fills {
            assert_eq!(read.status, OrderStatus::Filled, "{side:?} limit {limit}");
            assert_eq!(read.filled_avg_price, Some(Decimal::new(10_000, 2)));
        } else {
            assert_eq!(
                read.filled_qty,
                Decimal::ZERO,
                "{side:?} limit {limit} filled"
            );
            assert!(
                !read.status.is_terminal(),
                "{side:?} limit {limit}: {:?}",
                read.status
            );
        }
    }
}

/// Goal: no symbol fills at a price the scenario did not give it. Method:
/// send an order for a symbol without a reference price, market and limit:
/// both are refused with 422, naming the asset.
#[tokio::test(start_paused = true)]
async fn a_symbol_the_scenario_does_not_price_is_refused() {
    let s = scenario(1, "  fill: {probability: 1}", "");
    let (broker, intents) = setup(&s);
    for limit in [None, Some(Decimal::new(100, 2))] {
        let mut request = intents[0].request.clone();
        request.symbol = "ZZZZ".into();
        request.limit_price = limit;
        if limit.is_some() {
            request.order_type = fillproof_engine::OrderType::Limit;
        }
        let error = broker.submit_order(&request).await.expect_err("refused");
        assert!(
            matches!(&error, BrokerError::Unprocessable { message } if message == "asset ZZZZ not found"),
            "{error}"
        );
    }
}

/// Sends `request` altered by `edit`, waits a minute, and reads it back.
async fn sent_and_read(
    broker: &SimBroker,
    intent: &Intent,
    edit: impl FnOnce(&mut fillproof_engine::OrderRequest),
) -> Order {
    let mut request = intent.request.clone();
    edit(&mut request);
    let order = broker.submit_order(&request).await.expect("accepted");
    sleep(Duration::from_secs(60)).await;
    broker.get_order(&order.id).await.expect("read")
}

/// Goal: `ioc` fills what it can the instant it is accepted and the broker
/// cancels the rest; `fok` fills whole at once or not at all. Method: QQQ at
/// $100.00, fills that otherwise come 5 s after acceptance, and (second
/// scenario) every fill in three pieces 1 s apart; read each order a
/// minute later.
#[tokio::test(start_paused = true)]
async fn ioc_and_fok_fill_at_once_or_are_canceled() {
    use fillproof_engine::{OrderType, TimeInForce};
    let whole = scenario(3, "  fill: {probability: 1, delay: 5s}", "");
    let (broker, intents) = setup(&whole);
    let ioc = sent_and_read(&broker, &intents[0], |r| r.time_in_force = TimeInForce::Ioc).await;
    assert_eq!(
        ioc.status,
        OrderStatus::Filled,
        "a marketable ioc fills at once"
    );
    assert_eq!(
        ioc.filled_at, ioc.submitted_at,
        "at acceptance, not after the delay"
    );
    let far = sent_and_read(&broker, &intents[1], |r| {
        r.time_in_force = TimeInForce::Ioc;
        r.order_type = OrderType::Limit;
        r.limit_price = Some(Decimal::ONE);
    })
    .await;
    assert_eq!(
        far.status,
        OrderStatus::Canceled,
        "an ioc that cannot fill is canceled"
    );
    assert_eq!(far.filled_qty, Decimal::ZERO);
    let fok = sent_and_read(&broker, &intents[2], |r| r.time_in_force = TimeInForce::Fok).await;
    assert_eq!(
        fok.status,
        OrderStatus::Filled,
        "a fok the market fills whole"
    );

    let pieces = scenario(
        2,
        "  fill: {probability: 1, delay: 5s, partial: {probability: 1, pieces: [3, 3], spacing: 1s}}",
        "",
    );
    let (broker, intents) = setup(&pieces);
    let ioc = sent_and_read(&broker, &intents[0], |r| r.time_in_force = TimeInForce::Ioc).await;
    assert_eq!(
        ioc.status,
        OrderStatus::Canceled,
        "the rest of an ioc is canceled"
    );
    assert!(
        ioc.filled_qty > Decimal::ZERO && ioc.filled_qty < ioc.qty,
        "an ioc keeps what filled at once: {}",
        ioc.filled_qty
    );
    let fok = sent_and_read(&broker, &intents[1], |r| r.time_in_force = TimeInForce::Fok).await;
    assert_eq!(
        fok.status,
        OrderStatus::Canceled,
        "a fok that cannot fill whole"
    );
    assert_eq!(
        fok.filled_qty,
        Decimal::ZERO,
        "a fok fills whole or not at all"
    );
}

/// Goal: the simulated broker is a market-data source for the engine, at
/// the prices its fills follow. Method: QQQ held at $100.00 (no market
/// section): its quote is $100.00 on both sides, stamped at the broker's
/// now, and its latest trade is the tape's last print, at that price, 100
/// shares, stamped at its step's start; an unpriced symbol is not found.
#[tokio::test(start_paused = true)]
async fn the_broker_quotes_the_prices_it_fills_at() {
    use fillproof_engine::MarketData;
    let s = scenario(1, "  fill: {probability: 1}", "");
    let (broker, _) = setup(&s);
    sleep(Duration::from_secs(3)).await;
    let quote = broker.latest_quote("QQQ").await.expect("quote");
    assert_eq!(
        (quote.bid, quote.ask),
        (Decimal::new(10_000, 2), Decimal::new(10_000, 2))
    );
    assert_eq!(
        quote.at,
        Some(broker.model().time_origin().at(broker.elapsed()))
    );
    sleep(Duration::from_millis(400)).await;
    let trade = broker.latest_trade("QQQ").await.expect("trade");
    assert_eq!(trade.price, Decimal::new(10_000, 2));
    assert_eq!(trade.size, Decimal::from(100));
    assert_eq!(
        trade.at,
        Some(broker.model().time_origin().at(Duration::from_secs(3)))
    );
    let missing = broker.latest_quote("ZZZZ").await.expect_err("unknown");
    assert!(matches!(missing, BrokerError::NotFound { .. }), "{missing}");
}
