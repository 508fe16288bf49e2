//! The report against the ledger: what the broker did, and once a client
//! posted its claims, the fills it missed and invented, and its detection
//! rate; duplicates told from new orders by the ledger, not the client.

use std::time::Duration;

use fillproof_serve::{Reply, Session};
use fillproof_simulator::Scenario;

/// A session over one symbol and five orders, with `tail` (the broker
/// section, a timeline, an expect block) after the workload.
fn session_of(tail: &str) -> std::sync::Arc<Session> {
    let text = format!(
        "version: 1\nname: report\nseed: 2\nworkload:\n  orders: 5\n  symbols: [SPY]\n  qty: 5\n  type: market\n  reference_price: {{SPY: \"590.10\"}}\n{tail}"
    );
    let scenario = Scenario::parse(text.as_bytes(), "report.yaml", None)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    Session::new(&scenario, 2).expect("session")
}

/// A session with `broker` as its broker section, expecting no missed fill
/// and no duplicate.
fn session(broker: &str) -> std::sync::Arc<Session> {
    session_of(&format!(
        "broker:\n{broker}\nexpect:\n  missed_fills: \"== 0\"\n  duplicate_orders: \"== 0\"\n"
    ))
}

async fn submit(session: &Session, body: &str) -> Reply {
    let at = session.elapsed();
    session.record("POST", "/v2/orders", "", body.as_bytes(), at);
    session
        .dispatch("POST", "/v2/orders", "", body.as_bytes(), at)
        .await
        .reply
}

/// Submits a market buy of `qty` with `client_order_id` and asserts the
/// broker placed it (200).
async fn placed(session: &Session, client_order_id: &str, qty: u32) {
    assert!(matches!(
        submit(session, &order(Some(client_order_id), qty)).await,
        Reply::Json { status: 200, .. }
    ));
}

/// Posts the claims `body` at `now`, asserts it is refused with 400, and
/// returns the refusal's message.
fn refused(session: &Session, body: &str, now: Duration) -> String {
    let reply = session.claims_reply(body.as_bytes(), now);
    let Reply::Json {
        status,
        body: answer,
    } = &reply
    else {
        panic!("{body}: {reply:?}");
    };
    let message = answer["message"].as_str().unwrap_or_default().to_owned();
    assert_eq!(*status, 400, "{body}: {message}");
    message
}

fn order(client_order_id: Option<&str>, qty: u32) -> String {
    let id = client_order_id.map_or(String::new(), |id| format!(r#","client_order_id":"{id}""#));
    format!(
        r#"{{"symbol":"SPY","qty":{qty},"side":"buy","type":"market","time_in_force":"day"{id}}}"#
    )
}

/// Claims are measured against the ledger: an exact claim is detected, a
/// claim short of the fill is a miss, a claim above what had filled when
/// it was made is a false positive (even if the order fills later), a
/// claim for an order the broker never had is a false positive, and an
/// order the client does not claim at all is a miss. Before any claim,
/// those figures are absent, not 0.
#[tokio::test(start_paused = true)]
async fn claims_are_measured_against_the_ledger() {
    let session = session("  fill: {probability: 1, delay: 1s}");
    for (id, qty) in [("a", 5), ("b", 5), ("c", 5), ("d", 5)] {
        assert!(matches!(
            submit(&session, &order(Some(id), qty)).await,
            Reply::Json { status: 200, .. }
        ));
    }
    let before = session.report(session.elapsed());
    assert_eq!(
        (
            before.missed_fills,
            before.false_positives,
            before.detection_rate
        ),
        (None, None, None)
    );
    assert!(!before.passed, "an absent metric fails its expectation");

    // Before the fills (1 s after acceptance): "c" claimed filled too early.
    session
        .claim(br#"{"filled_qty": {"c": 5}}"#, session.elapsed())
        .expect("claims");
    tokio::time::advance(Duration::from_secs(2)).await;
    let now = session.elapsed();
    session
        .claim(br#"{"filled_qty": {"a": "5", "b": 3, "ghost": 1}}"#, now)
        .expect("claims");
    let report = session.report(now);
    assert_eq!(report.filled_orders, 4);
    assert_eq!(report.claims, Some(4));
    // b short, d unclaimed.
    assert_eq!(report.missed_fills, Some(2), "{report:#?}");
    // c before its fill, ghost never existed.
    assert_eq!(report.false_positives, Some(2), "{report:#?}");
    // Only a is claimed exactly and in time.
    assert_eq!(report.detection_rate, Some(0.25), "{report:#?}");
    assert!(!report.passed);

    // A later claim is the final belief missed fills and the detection
    // rate judge, but the early claim of "c" and the claim of "ghost" stay
    // false positives, and "c", claimed early, is not detected; claiming
    // nothing filled of an order that has not filled, or of an id the
    // broker never saw, is no false positive; an unfilled order is not in
    // the detection rate.
    placed(&session, "e", 5).await;
    let now = session.elapsed();
    session
        .claim(
            br#"{"filled_qty": {"b": 5, "c": 5, "d": 5, "e": 0, "ghost": 0, "phantom": 0}}"#,
            now,
        )
        .expect("claims");
    let report = session.report(now);
    assert_eq!(report.filled_orders, 4, "e has not filled: {report:#?}");
    assert_eq!(report.missed_fills, Some(0), "{report:#?}");
    assert_eq!(report.false_positives, Some(2), "c and ghost: {report:#?}");
    assert_eq!(report.detection_rate, Some(0.75), "all but c: {report:#?}");
    assert!(
        report.passed,
        "every expectation measured and met: {report:#?}"
    );
    assert_eq!(report.metric("missed_fills"), Some(0.0));
    assert_eq!(report.metric("false_positives"), Some(2.0));
    assert_eq!(report.metric("duplicate_orders"), Some(0.0));
    assert_eq!(report.metric("orders"), Some(5.0));
    assert_eq!(report.metric("filled_orders"), Some(4.0));
    assert_eq!(report.metric("detection_rate"), Some(0.75));
    assert_eq!(report.metric("unresolved"), None, "not measured by serve");

    for bad in [
        &b"not json"[..],
        br#"{"qty": {}}"#,
        br#"{"filled_qty": {"a": "x"}}"#,
        br#"{"filled_qty": {"a": -1}}"#,
    ] {
        assert!(
            session.claim(bad, now).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

/// A resend of a submit whose answer was lost, with no client id, is a
/// duplicate of the order the lost submit placed; the same body sent again
/// after an answered submit is a new order; a resend with a client id is
/// refused by the broker and duplicates nothing.
#[tokio::test(start_paused = true)]
async fn duplicates_are_resends_of_unanswered_submits() {
    // The first submit of arrival 0 loses its answer; the first of
    // arrival 3 is applied and answered 504.
    let session = session_of(
        r#"broker:
  fill: {probability: 0}
timeline:
  - {order: 0, event: fault, call: submit, fault: lost_response}
  - {order: 3, event: fault, call: submit, fault: http_504}
"#,
    );
    // Arrival 0: lost, then resent without an id: a duplicate.
    assert_eq!(submit(&session, &order(None, 5)).await, Reply::Close);
    assert!(matches!(
        submit(&session, &order(None, 5)).await,
        Reply::Json { status: 200, .. }
    ));
    // Arrival 2: answered; the same body again is a new order, not a resend.
    assert!(matches!(
        submit(&session, &order(None, 5)).await,
        Reply::Json { status: 200, .. }
    ));
    // Arrival 3, with a client id: 504, then the resend is refused.
    assert!(matches!(
        submit(&session, &order(Some("mine"), 7)).await,
        Reply::Json { status: 504, .. }
    ));
    let refused = submit(&session, &order(Some("mine"), 7)).await;
    assert!(
        matches!(refused, Reply::Json { status: 422, .. }),
        "{refused:?}"
    );
    let report = session.report(session.elapsed());
    assert_eq!(report.orders_placed, 4, "{report:#?}");
    assert_eq!(report.duplicate_orders, 1, "{report:#?}");
    let duplicate: Vec<_> = report
        .orders
        .iter()
        .filter(|o| o.duplicate_of.is_some())
        .collect();
    assert_eq!(duplicate.len(), 1);
    assert_eq!(
        duplicate[0].duplicate_of.as_deref(),
        Some(report.orders[0].id.as_str())
    );
    assert_eq!(duplicate[0].arrival_index, Some(1));
    assert_eq!(report.faults_injected.get("lost_response"), Some(&1));
    assert_eq!(report.faults_injected.get("http_504"), Some(&1));
}

/// The 429s served count the rate limit's and the injected ones.
#[tokio::test(start_paused = true)]
async fn rate_limited_calls_count_every_429_served() {
    let session = session_of(
        r#"broker:
  rate_limit: {requests: 2, per: 60s}
timeline:
  - {order: 0, event: fault, call: submit, fault: http_429}
"#,
    );
    let mut statuses = Vec::new();
    for id in ["a", "a", "b", "c"] {
        if let Reply::Json { status, .. } = submit(&session, &order(Some(id), 5)).await {
            statuses.push(status);
        }
    }
    // a: the injected 429 (its call took the bucket's first token), then
    // placed with the second; b and c: the bucket is empty.
    assert_eq!(statuses, [429, 200, 429, 429]);
    let report = session.report(session.elapsed());
    assert_eq!(report.faults_injected.get("http_429"), Some(&1));
    assert_eq!(report.faults_injected.get("rate_limit"), Some(&2));
    assert_eq!(report.rate_limited_calls, 3, "{report:#?}");
    assert_eq!(report.metric("rate_limited_calls"), Some(3.0));
}

/// The detection rate needs both claims and fills: fills without claims,
/// or claims with nothing filled, leave it absent.
#[tokio::test(start_paused = true)]
async fn detection_rate_needs_claims_and_fills() {
    let session = session("  fill: {probability: 1, delay: 1s}");
    placed(&session, "a", 5).await;
    session
        .claim(br#"{"filled_qty": {"a": 0}}"#, session.elapsed())
        .expect("claims");
    let early = session.report(session.elapsed());
    assert_eq!((early.filled_orders, early.missed_fills), (0, Some(0)));
    assert_eq!(early.detection_rate, None, "nothing filled yet");

    let unclaimed = self::session("  fill: {probability: 1, delay: 1s}");
    assert!(matches!(
        submit(&unclaimed, &order(Some("a"), 5)).await,
        Reply::Json { status: 200, .. }
    ));
    tokio::time::advance(Duration::from_secs(2)).await;
    let report = unclaimed.report(unclaimed.elapsed());
    assert_eq!(report.filled_orders, 1);
    assert_eq!(report.detection_rate, None, "no claims");
}

/// Cancel-all reports each order's own answer: a cancel the broker fails
/// is listed with its status and Alpaca's error body.
#[tokio::test(start_paused = true)]
async fn cancel_all_lists_each_cancels_answer() {
    let session = session_of(
        r#"broker:
  fill: {probability: 0}
timeline:
  - {order: 1, event: fault, call: cancel, fault: http_503}
"#,
    );
    for id in ["a", "b"] {
        assert!(matches!(
            submit(&session, &order(Some(id), 5)).await,
            Reply::Json { status: 200, .. }
        ));
    }
    let at = session.elapsed();
    let Reply::Json { status, body } = session
        .dispatch("DELETE", "/v2/orders", "", b"", at)
        .await
        .reply
    else {
        panic!("a JSON answer");
    };
    assert_eq!(status, 207);
    let mut statuses: Vec<u64> = body
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["status"].as_u64().expect("status"))
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 503], "{body}");
    let failed = body
        .as_array()
        .expect("list")
        .iter()
        .find(|r| r["status"] == 503)
        .expect("the failed cancel");
    assert_eq!(failed["body"]["code"], 50_300_000, "{body}");
}

/// Every claim counts: a bot that posts its beliefs periodically, and
/// believed an order filled before the broker filled it, is caught
/// claiming early, though its later posts of the same belief are right.
/// Its final belief is exact, so it misses nothing, but an order claimed
/// before the broker filled it is not detected: only "patient" is.
#[tokio::test(start_paused = true)]
async fn a_bot_posting_beliefs_periodically_is_caught_claiming_early() {
    let session = session("  fill: {probability: 1, delay: 1s}");
    placed(&session, "early", 5).await;
    placed(&session, "patient", 5).await;
    // Every 300 ms for 3 s: "early" believed filled from 600 ms, before
    // its fill at about 1 s; "patient" believed filled once it was.
    for tick in 1..=10u32 {
        tokio::time::advance(Duration::from_millis(300)).await;
        let now = session.elapsed();
        let early = if tick >= 2 { 5 } else { 0 };
        let patient = if tick >= 5 { 5 } else { 0 };
        session
            .claim(
                format!(r#"{{"filled_qty": {{"early": {early}, "patient": {patient}}}}}"#)
                    .as_bytes(),
                now,
            )
            .expect("claims");
    }
    let report = session.report(session.elapsed());
    assert_eq!(report.filled_orders, 2, "{report:#?}");
    assert_eq!(
        report.false_positives,
        Some(1),
        "the early claim counts though later posts are right: {report:#?}"
    );
    assert_eq!(report.missed_fills, Some(0), "{report:#?}");
    assert_eq!(report.detection_rate, Some(0.5), "{report:#?}");
    assert_eq!(report.claims, Some(2), "client order ids claimed");
}

/// The detection rate's one definition holds for a bot whose claims
/// repeat: an order claimed before the broker filled it and claimed again,
/// the same quantity, once it had is a false positive and not a
/// detection; counting it as both would let a bot that claims everything
/// early and again late score a perfect detection rate.
#[tokio::test(start_paused = true)]
async fn an_early_claim_repeated_after_the_fill_is_not_detected() {
    let session = session("  fill: {probability: 1, delay: 1s}");
    placed(&session, "a1", 5).await;
    session
        .claim(br#"{"filled_qty": {"a1": 5}}"#, session.elapsed())
        .expect("claims");
    tokio::time::advance(Duration::from_millis(1500)).await;
    let now = session.elapsed();
    session
        .claim(br#"{"filled_qty": {"a1": 5}}"#, now)
        .expect("claims");
    let report = session.report(now);
    assert_eq!(report.filled_orders, 1, "{report:#?}");
    assert_eq!(report.false_positives, Some(1), "{report:#?}");
    assert_eq!(report.missed_fills, Some(0), "{report:#?}");
    assert_eq!(
        report.detection_rate,
        Some(0.0),
        "claimed before the fill: not detected: {report:#?}"
    );
}

/// A claims body that fails validation changes nothing, whichever entry
/// is bad: not the claims kept, not the report.
#[tokio::test(start_paused = true)]
async fn an_invalid_claims_body_after_a_valid_one_changes_nothing() {
    let session = session("  fill: {probability: 1, delay: 1s}");
    placed(&session, "a", 5).await;
    tokio::time::advance(Duration::from_secs(2)).await;
    let now = session.elapsed();
    session
        .claim(br#"{"filled_qty": {"a": 5}}"#, now)
        .expect("claims");
    let before = session.report(now);
    assert_eq!(
        (before.false_positives, before.detection_rate),
        (Some(0), Some(1.0))
    );
    for bad in [
        &br#"{"filled_qty": {"a": 7, "b": "x"}}"#[..],
        br#"{"filled_qty": {"b": 1, "a": -1}}"#,
        br#"{"filled_qty": {"a": 9, "b": null}}"#,
        br#"{"filled_qty": [["a", 7]]}"#,
        br#"{"filled_qty": {"a": 7}"#,
    ] {
        assert!(
            session.claim(bad, now).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
        assert_eq!(
            session.report(now),
            before,
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

/// Claims are bounded: a body that would take the session past
/// `MAX_CLAIMS` is refused whole with a 413, the claims kept stay as they
/// were, and a body that fits is still taken.
#[tokio::test(start_paused = true)]
async fn claims_past_the_bound_are_refused_whole() {
    let session = session("  fill: {probability: 1, delay: 1s}");
    let now = session.elapsed();
    let mut body = String::from(r#"{"filled_qty": {"#);
    for i in 0..fillproof_serve::MAX_CLAIMS - 1 {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(r#""c{i}":0"#));
    }
    body.push_str("}}");
    session.claim(body.as_bytes(), now).expect("fits");
    let before = session.report(now);
    assert_eq!(before.claims, Some(fillproof_serve::MAX_CLAIMS as u64 - 1));
    let refused = session.claims_reply(br#"{"filled_qty": {"x": 1, "y": 1}}"#, now);
    assert!(
        matches!(&refused, Reply::Json { status: 413, body } if body["message"].as_str().is_some_and(|m| m.contains("at most"))),
        "two more claims are one too many: {refused:?}"
    );
    assert_eq!(session.report(now), before, "nothing of it was taken");
    session
        .claim(br#"{"filled_qty": {"x": 1}}"#, now)
        .expect("one more fits");
    assert_eq!(
        session.report(now).claims,
        Some(fillproof_serve::MAX_CLAIMS as u64)
    );
    // Repeating a belief keeps nothing more, so a bot that posts it
    // periodically is not refused; raising one would be.
    session
        .claim(br#"{"filled_qty": {"x": 1, "c7": 0}}"#, now)
        .expect("repeated beliefs fit");
    assert!(session.claim(br#"{"filled_qty": {"x": 2}}"#, now).is_err());
}

/// A claim may carry the average price the client believes it filled at
/// (`"avg_price": {"<client_order_id>": price}`): the latest claim's price
/// is judged against the ledger's average for the quantity it claims, as
/// `fillproof run` judges an engine's. No price claimed leaves
/// `price_mismatches` absent; a cent off counts.
#[tokio::test(start_paused = true)]
async fn claimed_prices_are_judged_against_the_ledger() {
    let session = session_of(
        "broker:\n  fill: {probability: 1, delay: 1s, partial: {probability: 1, pieces: [2, 2], spacing: 200ms}, slippage_bps: {uniform: [0, 20]}}\nexpect:\n  price_mismatches: \"== 0\"\n",
    );
    for id in ["a", "b"] {
        assert!(matches!(
            submit(&session, &order(Some(id), 5)).await,
            Reply::Json { status: 200, .. }
        ));
    }
    tokio::time::advance(Duration::from_secs(3)).await;
    let now = session.elapsed();
    session
        .claim(br#"{"filled_qty": {"a": 5, "b": 5}}"#, now)
        .expect("claims");
    let report = session.report(now);
    assert_eq!(report.price_mismatches, None, "no price claimed");
    assert_eq!(report.metric("price_mismatches"), None);
    assert!(!report.passed, "an absent metric fails its expectation");

    // The ledger's average over each order's fills, to 4 places.
    let average = |id: &str| {
        let o = report
            .orders
            .iter()
            .find(|o| o.client_order_id == id)
            .expect("order");
        assert!(o.fills.len() == 2, "filled in two pieces: {o:?}");
        let notional: rust_decimal::Decimal = o.fills.iter().map(|f| f.qty * f.price).sum();
        (notional / o.filled_qty).round_dp(4)
    };
    let (a, b) = (average("a"), average("b"));
    let body = format!(
        r#"{{"filled_qty": {{"a": 5, "b": 5}}, "avg_price": {{"a": "{a}", "b": "{}"}}}}"#,
        b + rust_decimal::Decimal::new(1, 2)
    );
    session.claim(body.as_bytes(), now).expect("claims");
    let report = session.report(now);
    assert_eq!(
        report.price_mismatches,
        Some(1),
        "b a cent off: {report:#?}"
    );
    assert_eq!(report.metric("price_mismatches"), Some(1.0));
    assert!(!report.passed);
    let claimed = |id: &str| {
        report
            .orders
            .iter()
            .find(|o| o.client_order_id == id)
            .and_then(|o| o.claimed_avg_price)
    };
    assert_eq!(claimed("a"), Some(a));

    let body = format!(r#"{{"filled_qty": {{"b": 5}}, "avg_price": {{"b": {b}}}}}"#);
    session.claim(body.as_bytes(), now).expect("claims");
    let report = session.report(now);
    assert_eq!(report.price_mismatches, Some(0), "{report:#?}");
    assert!(report.passed, "{report:#?}");
}

/// A claims body that names an order twice in `filled_qty` or `avg_price`
/// says two things of it and only one could be judged: it is refused (400,
/// naming the id) and nothing of it is taken, however the values differ.
#[tokio::test(start_paused = true)]
async fn a_claims_body_naming_an_order_twice_is_refused() {
    let session = session("  fill: {probability: 1, delay: 1s}");
    placed(&session, "a2", 5).await;
    tokio::time::advance(Duration::from_millis(1500)).await;
    let now = session.elapsed();
    let before = session.report(now);
    for (body, names) in [
        (
            r#"{"filled_qty":{"a2":6,"a2":5}}"#,
            r#"filled_qty names "a2""#,
        ),
        (
            r#"{"filled_qty":{"a2":5,"b":1,"a2":5}}"#,
            r#"filled_qty names "a2""#,
        ),
        (
            r#"{"filled_qty":{"a2":5},"avg_price":{"a2":"590.10","a2":"1"}}"#,
            r#"avg_price names "a2""#,
        ),
        (
            r#"{"filled_qty":{"a2":6},"filled_qty":{"a2":5}}"#,
            r#"names "filled_qty""#,
        ),
    ] {
        let message = refused(&session, body, now);
        assert!(message.contains(names), "{body}: {message}");
        assert_eq!(session.report(now), before, "{body}: nothing taken");
    }
}

/// Claimed quantities are read exactly as written: a JSON number with more
/// digits than a float holds is not rounded to the fill it falls short
/// of, and a value with more digits than a decimal holds exactly is
/// refused (400, naming the id and the value) rather than rounded into a
/// claim the client never made.
#[tokio::test(start_paused = true)]
async fn claimed_quantities_are_read_exactly() {
    let session = session("  fill: {probability: 1, delay: 1s}");
    for id in ["a3", "a4"] {
        assert!(matches!(
            submit(&session, &order(Some(id), 5)).await,
            Reply::Json { status: 200, .. }
        ));
    }
    tokio::time::advance(Duration::from_millis(1500)).await;
    let now = session.elapsed();
    session
        .claim(br#"{"filled_qty":{"a3":4.99999999999999999}}"#, now)
        .expect("an exact decimal");
    let report = session.report(now);
    let a3 = report
        .orders
        .iter()
        .find(|o| o.client_order_id == "a3")
        .expect("a3");
    assert_eq!(
        a3.claimed_qty,
        Some("4.99999999999999999".parse().expect("decimal")),
        "not rounded to 5: {report:#?}"
    );
    assert_eq!(report.missed_fills, Some(2), "a3 short, a4 unclaimed");
    let before = report;
    for body in [
        r#"{"filled_qty":{"a4":"5.00000000000000000000000000001"}}"#,
        r#"{"filled_qty":{"a4":5.00000000000000000000000000001}}"#,
        r#"{"filled_qty":{"a4":5},"avg_price":{"a4":"590.100000000000000000000000000001"}}"#,
    ] {
        let message = refused(&session, body, now);
        assert!(
            message.contains(".a4") && message.contains("0000000000000000000001"),
            "{body}: names the id and the value: {message}"
        );
        assert!(message.contains("exactly"), "{body}: says why: {message}");
        assert_eq!(session.report(now), before, "{body}: nothing taken");
    }
    // Exponents and trailing zeros are exact too.
    session
        .claim(
            br#"{"filled_qty":{"a4":"0.5e1","a3":5.000000000000000000000000000000}}"#,
            now,
        )
        .expect("exact");
    let report = session.report(now);
    assert_eq!(report.missed_fills, Some(0), "{report:#?}");
}
