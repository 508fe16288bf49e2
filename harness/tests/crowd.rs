//! `fillproof crowd`: many bots, one broker. The latency figures are the
//! machine's and are not judged here; what is judged is that every order
//! a bot was told of is in its own account as the bot saw it, and that
//! the check catches a ledger that says otherwise.

use std::time::Duration;

use fillproof_harness::crowd::{BotLog, CrowdSpec, Seen, check_ledger, run_crowd};
use fillproof_serve::{OrderReport, Report};
use fillproof_simulator::Scenario;
use rust_decimal::Decimal;

fn many_bots() -> Scenario {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/wire/many-bots.yaml"
    );
    Scenario::load(std::path::Path::new(path)).unwrap_or_else(|e| panic!("{e}"))
}

/// One bot, then eight at once, each its own key: every request is
/// answered (none by a 429: each key has its own limit), and the ledger
/// holds exactly the orders each bot was told of, in its own account.
#[test]
fn every_order_the_bots_were_told_of_is_in_its_own_account() {
    let spec = CrowdSpec {
        bots: vec![1, 8],
        stage: Duration::from_secs(2),
        pace: Duration::from_millis(300),
        drain: Duration::from_secs(10),
    };
    let report = run_crowd(many_bots(), 3, &spec).expect("crowd runs");
    assert_eq!(report.stages.len(), 2);
    for stage in &report.stages {
        assert_eq!((stage.lost, stage.refused), (0, 0), "{stage:?}");
        assert!(
            stage.orders >= stage.bots as u64,
            "each bot placed an order: {stage:?}"
        );
        assert_eq!(
            stage.statuses.keys().copied().collect::<Vec<_>>(),
            vec![200],
            "{stage:?}"
        );
        assert!(stage.latency_ms.is_some());
    }
    assert!(report.p95_ratio.is_some());
    assert!(report.ledger.holds(), "{:?}", report.ledger.mismatches);
    assert_eq!(
        report.ledger.orders,
        report.stages.iter().map(|s| s.orders).sum::<u64>()
    );
}

fn order(account: &str, id: &str, client_order_id: &str, filled: u32) -> OrderReport {
    OrderReport {
        account: Some(account.to_owned()),
        arrival_index: None,
        id: id.to_owned(),
        client_order_id: client_order_id.to_owned(),
        symbol: "SPY".to_owned(),
        side: "buy".to_owned(),
        qty: Decimal::ONE,
        accepted_at_ms: 0,
        status: "filled".to_owned(),
        filled_qty: Decimal::from(filled),
        fills: Vec::new(),
        cancel_requested_at_ms: None,
        fills_due: 0,
        claimed_qty: None,
        claimed_avg_price: None,
        duplicate_of: None,
    }
}

fn bot(key: &str, orders: &[(&str, &str, &str, &str)]) -> BotLog {
    BotLog {
        key: key.to_owned(),
        orders: orders
            .iter()
            .map(|(id, coid, status, filled)| {
                let seen = Seen {
                    id: (*id).to_owned(),
                    client_order_id: (*coid).to_owned(),
                    status: (*status).to_owned(),
                    filled_qty: (*filled).to_owned(),
                };
                ((*id).to_owned(), seen)
            })
            .collect(),
        ..BotLog::default()
    }
}

/// The check itself, against ledgers tampered four ways: an order no bot
/// was told of, an order a bot was told of missing, an order in another
/// account than the bot's, and a fill the bot saw otherwise. The
/// untampered ledger holds.
#[test]
fn a_ledger_that_differs_from_what_the_bots_saw_is_caught() {
    let ledger = |orders: Vec<OrderReport>| Report {
        orders,
        ..Report::default()
    };
    let bots = vec![
        bot("a", &[("1", "a-0", "filled", "1")]),
        bot("b", &[("2", "b-0", "filled", "1")]),
    ];
    let truth = vec![order("a", "1", "a-0", 1), order("b", "2", "b-0", 1)];
    assert!(check_ledger(&ledger(truth.clone()), &bots).holds());

    let mut extra = truth.clone();
    extra.push(order("b", "3", "b-1", 1));
    let found = check_ledger(&ledger(extra), &bots);
    assert!(
        found
            .mismatches
            .iter()
            .any(|m| m.contains("no bot was told of")),
        "{found:?}"
    );

    let found = check_ledger(&ledger(truth[..1].to_vec()), &bots);
    assert!(
        found
            .mismatches
            .iter()
            .any(|m| m.contains("has no such order")),
        "{found:?}"
    );

    let moved = vec![order("b", "1", "a-0", 1), order("b", "2", "b-0", 1)];
    let found = check_ledger(&ledger(moved), &bots);
    assert_eq!(
        found.mismatches.len(),
        2,
        "missing from a, unknown in b: {found:?}"
    );

    let refilled = vec![order("a", "1", "a-0", 0), order("b", "2", "b-0", 1)];
    let found = check_ledger(&ledger(refilled), &bots);
    assert!(
        found
            .mismatches
            .iter()
            .any(|m| m.contains("1 filled to the bot, filled with 0 in the ledger")),
        "{found:?}"
    );

    let mut canceled = truth.clone();
    canceled[1].status = "canceled".to_owned();
    let found = check_ledger(&ledger(canceled), &bots);
    assert_eq!(found.mismatches.len(), 1, "the status differs: {found:?}");

    let unseen = vec![
        bot("a", &[("1", "a-0", "filled", "1")]),
        bot("b", &[("2", "b-0", "new", "0")]),
    ];
    let found = check_ledger(&ledger(truth), &unseen);
    assert!(
        found
            .mismatches
            .iter()
            .any(|m| m.contains("never saw it end")),
        "{found:?}"
    );
}

/// Sabotage: a broker whose every order read fails. The bots never see
/// their orders end: every read is counted refused, and the check fails
/// on each order rather than vouching for what the bots never saw.
#[test]
fn bots_that_never_see_their_fills_fail_the_check() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/wire/many-bots.yaml"
    );
    let text = std::fs::read_to_string(path).expect("scenario").replace(
        "  fill:\n",
        "  faults:\n    get_order: {http_503: 1.0}\n  fill:\n",
    );
    let scenario =
        Scenario::parse(text.as_bytes(), "blind.yaml", None).unwrap_or_else(|e| panic!("{e}"));
    let spec = CrowdSpec {
        bots: vec![1, 2],
        stage: Duration::from_secs(1),
        pace: Duration::from_millis(200),
        drain: Duration::from_secs(1),
    };
    let report = run_crowd(scenario, 3, &spec).expect("crowd runs");
    assert!(
        report.stages.iter().all(|s| s.refused > 0),
        "{:?}",
        report.stages
    );
    assert!(!report.ledger.holds());
    assert_eq!(
        report.ledger.mismatches.len() as u64,
        report.ledger.orders,
        "{:?}",
        report.ledger
    );
}
