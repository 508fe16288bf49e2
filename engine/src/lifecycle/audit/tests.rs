//! The audit log's tests: chain, sinks, verification and export.

use std::sync::Arc;

use rust_decimal::Decimal;

use crate::port::Side;
use crate::time::Clock;
use proptest::prelude::*;

use super::*;
use crate::port::Timestamp;

fn any_decimal() -> impl Strategy<Value = Decimal> {
    (any::<i64>(), 0u32..=12).prop_map(|(mantissa, scale)| Decimal::new(mantissa, scale))
}

fn any_event() -> impl Strategy<Value = AuditEvent> {
    prop::sample::select(vec![
        AuditEvent::Submit,
        AuditEvent::Submitted,
        AuditEvent::Refused,
        AuditEvent::Reject,
        AuditEvent::Fill,
        AuditEvent::Cancel,
        AuditEvent::NotFilled,
        AuditEvent::Failure,
    ])
}

/// Text with every kind of character JSON treats apart: quotes,
/// backslashes, each control character, and multi-byte characters.
fn any_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            prop::char::range('\u{0}', '\u{7f}'),
            Just('"'),
            Just('\\'),
            any::<char>(),
        ],
        0..24,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    /// The hand-written line is serde_json's, byte for byte, whatever
    /// the fields hold: `expected_hash`, and logs chained by hand
    /// through serde_json, must match what the writer writes.
    #[test]
    fn body_is_written_as_serde_json_writes_it(
        chain in prop::option::of(prop::sample::select(vec![ChainMode::Sha256, ChainMode::HmacSha256])),
        seq in any::<u64>(),
        event in any_event(),
        texts in prop::collection::vec(any_text(), 8),
        order_id in any::<bool>(),
        broker_at in any::<bool>(),
        buy in any::<bool>(),
        qty in any_decimal(),
        price in prop::option::of(any_decimal()),
        exits in (prop::option::of(any_decimal()), prop::option::of(any_decimal())),
        exit_of in any::<bool>(),
        executions in prop::collection::vec((any_decimal(), any_decimal(), any_text()), 0..4),
    ) {
        let record = AuditRecord {
            seq,
            ts: texts[0].clone(),
            event,
            trader_id: texts[1].clone(),
            client_order_id: texts[2].clone(),
            order_id: order_id.then(|| texts[3].clone()),
            symbol: texts[4].clone(),
            side: if buy { Side::Buy } else { Side::Sell },
            qty,
            price,
            status: texts[5].clone(),
            reason: texts[6].clone(),
            broker_at: broker_at.then(|| texts[7].clone()),
            stop_loss: exits.0,
            take_profit: exits.1,
            exit_of: exit_of.then(|| texts[6].clone()),
            executions,
            chain,
            prev_hash: texts[7].clone(),
            hash: String::new(),
        };
        let mut line = String::new();
        record.write_body(&mut line);
        prop_assert_eq!(line, serde_json::to_string(&record).expect("serializes"));
    }
}

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_micros(1_735_828_200_000_000)
    }
}

fn entry(trader: &str, event: AuditEvent, n: u32) -> AuditEntry {
    AuditEntry {
        event,
        trader_id: trader.into(),
        client_order_id: format!("c-{n}"),
        order_id: Some(format!("o-{n}")),
        symbol: "SPY".into(),
        side: Side::Buy,
        qty: Decimal::from(10),
        price: Some("590.10".parse().expect("price")),
        status: "filled".into(),
        reason: "fill confirmed, by status".into(),
        broker_at: (event == AuditEvent::Fill)
            .then(|| Timestamp::from_unix_micros(1_735_828_199_500_000)),
        exits: ExitPrices::default(),
        exit_of: None,
        executions: Vec::new(),
    }
}

/// A fill record carries the broker's stamp; a record without one is
/// written exactly as before the field existed, so older logs verify.
#[test]
fn broker_stamp_is_written_only_on_fills() {
    let sink = MemorySink::default();
    let log = AuditLog::new(Box::new(sink.clone()), Arc::new(FixedClock));
    log.record(entry("t", AuditEvent::Submit, 1))
        .expect("submit");
    log.record(entry("t", AuditEvent::Fill, 1)).expect("fill");
    let lines = sink.lines();
    assert!(!lines[0].contains("broker_at"), "{}", lines[0]);
    assert!(
        lines[1].contains(r#""broker_at":"2025-01-02T14:29:59.500000Z""#),
        "{}",
        lines[1]
    );
    assert_eq!(verify_audit_log(&lines.join("\n")).map(|n| n > 0), Ok(true));
}

fn sample_log() -> Vec<String> {
    sample_log_keyed(None).0
}

/// Five submits, alternately alice's and bob's, under `key`, and the
/// log's head.
fn sample_log_keyed(key: Option<AuditKey>) -> (Vec<String>, AuditHead) {
    let sink = MemorySink::default();
    let log = AuditLog::with_key(Box::new(sink.clone()), Arc::new(FixedClock), key);
    for n in 0..5 {
        log.record(entry(
            if n % 2 == 0 { "alice" } else { "bob" },
            AuditEvent::Submit,
            n,
        ))
        .expect("memory never fails");
    }
    (sink.lines(), log.head())
}

/// An untouched log verifies, with its record count, and each line's
/// hash is the one recomputed from its content.
/// The chain's hash is SHA-256 of the previous hash, a newline and the
/// body, in lower-case hex (checked against an independent SHA-256).
#[test]
fn hash_is_sha256_hex_of_previous_and_body() {
    assert_eq!(
        chain_hash(None, GENESIS, &[r#"{"a":1}"#]),
        "f21735afd2cd6af4fc5804b0045cebfd545aef8396d29d030c39cb8880b45b7f"
    );
}

/// The digest of parts is that of their concatenation, keyed or not;
/// another key's differs, and so does the keyless one.
#[test]
fn digest_hex_is_of_the_parts_one_after_another() {
    let whole_of = |key: Option<&AuditKey>| {
        let whole = digest_hex(key, [&b"previous content"[..]]);
        assert_eq!(digest_hex(key, [&b"previous "[..], b"content"]), whole);
        assert_eq!(whole.len(), 64);
        whole
    };
    let key = AuditKey::new(b"k").expect("key");
    let other = AuditKey::new(b"other").expect("key");
    let keyed = whole_of(Some(&key));
    assert_ne!(whole_of(Some(&other)), keyed);
    assert_ne!(whole_of(None), keyed);
    // SHA-256 of "previous content", from an independent implementation.
    assert_eq!(
        whole_of(None),
        "1dcaf1234b3749710bc6d5b7f14cf271bf082851ad6582334b28d5970df08be0"
    );
}

/// Keyed, it is HMAC-SHA256 of the same message (checked against an
/// independent HMAC), and the head's seal likewise.
#[test]
fn keyed_hash_is_hmac_sha256_of_previous_and_body() {
    let key = AuditKey::new(b"k").expect("key");
    assert_eq!(
        chain_hash(Some(&key), GENESIS, &[r#"{"a":"#, "1}"]),
        "6f0f2566167e1d58dbd509d76beecdcf835ec50cc7ccb24de468d91a8f34e8e3"
    );
    assert_eq!(
        AuditHead::new(3, GENESIS.into(), Some(&key))
            .seal
            .as_deref(),
        Some("decd9072930c14275372b5035ffc2346c10d4e1e32fbfcad337322895ee3b6c9")
    );
    assert!(AuditKey::new(b"").is_none());
    assert_eq!(format!("{key:?}"), "AuditKey(<secret>)");
}

#[test]
fn intact_log_verifies() {
    let lines = sample_log();
    assert_eq!(verify_audit_log(&lines.join("\n")), Ok(5));
    let record: AuditRecord = serde_json::from_str(&lines[0]).expect("record");
    assert_eq!(record.hash, record.expected_hash());
    assert_eq!(record.prev_hash, GENESIS);
}

/// An edited line is caught on that line.
#[test]
fn edited_line_is_detected() {
    let mut lines = sample_log();
    lines[2] = lines[2].replace("\"qty\":\"10\"", "\"qty\":\"1000\"");
    assert_eq!(
        verify_audit_log(&lines.join("\n")),
        Err(AuditError::Edited { line: 3, seq: 3 })
    );
}

/// A removed line breaks the chain where it was.
#[test]
fn removed_line_is_detected() {
    let mut lines = sample_log();
    lines.remove(1);
    let error = verify_audit_log(&lines.join("\n")).expect_err("gap");
    assert!(
        matches!(
            error,
            AuditError::Broken {
                line: 2,
                seq: 3,
                ..
            }
        ),
        "{error}"
    );
}

/// Swapped lines break the chain.
#[test]
fn reordered_lines_are_detected() {
    let mut lines = sample_log();
    lines.swap(3, 4);
    let error = verify_audit_log(&lines.join("\n")).expect_err("reordered");
    assert!(
        matches!(error, AuditError::Broken { line: 4, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("removed or reordered"));
}

/// A trader's export holds only their records, within the dates.
#[test]
fn export_is_per_trader_and_date_range() {
    let text = sample_log().join("\n");
    let csv = export_csv(&text, None, "alice", "2025-01-02", "2025-01-02").expect("export");
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .all(|r| r.contains(",alice,") && !r.contains("bob"))
    );
    assert!(
        rows[0].contains("\"fill confirmed, by status\""),
        "{}",
        rows[0]
    );
    let none = export_csv(&text, None, "alice", "2025-01-03", "2025-01-31").expect("export");
    assert_eq!(none.lines().count(), 1);
    assert_eq!(
        export_csv(&text, None, "alice", "2025/01/02", "2025-01-02"),
        Err(AuditError::BadDate {
            date: "2025/01/02".into()
        })
    );
}

/// A file sink writes each record as a line, flushed: the file holds
/// it as soon as `record` returns.
#[test]
fn file_sink_persists_before_returning() {
    let dir = tempfile::Builder::new()
        .prefix("fillproof-audit-")
        .tempdir()
        .expect("temp dir");
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::new(
        Box::new(FileSink::open(&path).expect("open")),
        Arc::new(FixedClock),
    );
    log.record(entry("alice", AuditEvent::Submit, 1))
        .expect("write");
    let on_disk = std::fs::read_to_string(&path).expect("read");
    assert_eq!(on_disk.lines().count(), 1);
    assert_eq!(verify_audit_log(&on_disk), Ok(1));
}

/// A line edited so that it parses to the same record, `"qty":"100"`
/// written as the number 99.999999999999999999 (which parses to 100),
/// is caught: the hash covers the line's bytes, not the record parsed
/// back and written again. So is a space added between fields.
#[test]
fn edit_that_reads_back_the_same_is_detected() {
    let sink = MemorySink::default();
    let log = AuditLog::new(Box::new(sink.clone()), Arc::new(FixedClock));
    for n in 0..3 {
        let mut e = entry("alice", AuditEvent::Submit, n);
        e.qty = Decimal::from(100);
        log.record(e).expect("memory");
    }
    let lines = sink.lines();
    assert_eq!(verify_audit_log(&lines.join("\n")), Ok(3));
    let mut edited = lines.clone();
    edited[1] = edited[1].replace(r#""qty":"100""#, r#""qty":99.999999999999999999"#);
    assert_ne!(edited[1], lines[1]);
    let parsed: AuditRecord = serde_json::from_str(&edited[1]).expect("still a record");
    assert_eq!(parsed.qty, Decimal::from(100), "reads back the same");
    assert_eq!(
        verify_audit_log(&edited.join("\n")),
        Err(AuditError::Edited { line: 2, seq: 2 })
    );
    let mut spaced = lines;
    spaced[2] = spaced[2].replacen(r#","symbol":"#, r#", "symbol":"#, 1);
    assert_eq!(
        verify_audit_log(&spaced.join("\n")),
        Err(AuditError::Edited { line: 3, seq: 3 })
    );
}

/// An empty file, a file of blank lines and a line that is not JSON
/// are bad input, each saying which; the line is named.
#[test]
fn empty_blank_and_non_json_logs_are_bad_input() {
    assert_eq!(verify_audit_log(""), Err(AuditError::Empty));
    assert_eq!(
        verify_audit_log("\n  \n"),
        Err(AuditError::Blank { lines: 2 })
    );
    let mut lines = sample_log();
    lines.insert(2, "not json at all".into());
    let error = verify_audit_log(&lines.join("\n")).expect_err("not JSON");
    assert!(
        matches!(error, AuditError::Malformed { line: 3, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("not JSON"), "{error}");
    let error = verify_audit_log(r#"{"seq":1}"#).expect_err("not a record");
    assert!(
        error.to_string().contains("not an audit record") && error.to_string().contains("ts"),
        "{error}"
    );
    for bad in [AuditError::Empty, AuditError::Blank { lines: 1 }, error] {
        assert!(bad.is_bad_input(), "{bad}");
    }
    assert!(!AuditError::Edited { line: 1, seq: 1 }.is_bad_input());
}

/// The head the writer keeps is the one verification ends with; a log
/// cut short, or one record longer, no longer matches it, and the
/// mismatch says which.
#[test]
fn head_detects_a_cut_tail() {
    let (lines, head) = sample_log_keyed(None);
    assert_eq!(head.records, 5);
    let whole = verify_chain(&lines.join("\n"), None).expect("verifies");
    assert_eq!(whole, head);
    assert_eq!(head.check(&whole, None), Ok(()));
    assert_eq!(AuditHead::parse(&head.to_json()), Ok(head.clone()));

    let cut = verify_chain(&lines[..3].join("\n"), None).expect("a shorter chain verifies");
    let error = head.check(&cut, None).expect_err("cut tail");
    assert!(
        error.to_string().contains("holds 3 records and its head 5")
            && error
                .to_string()
                .contains("2 records were cut from its end"),
        "{error}"
    );
    let stale = AuditHead::new(3, cut.last_hash.clone(), None);
    let error = stale.check(&whole, None).expect_err("added");
    assert!(error.to_string().contains("added"), "{error}");
    let mut other = head.clone();
    other.last_hash = GENESIS.into();
    let error = other.check(&whole, None).expect_err("other hash");
    assert!(error.to_string().contains("last record"), "{error}");
    assert!(AuditHead::parse(r#"{"records":"five"}"#).is_err());
}

/// A keyed log verifies under its key only: another key finds the
/// first record edited, no key is refused as bad input (the key is
/// named), and a keyed head's seal must match the key.
#[test]
fn keyed_log_verifies_under_its_key_only() {
    let key = AuditKey::new(b"the right key").expect("key");
    let wrong = AuditKey::new(b"another key").expect("key");
    let (lines, head) = sample_log_keyed(Some(key.clone()));
    assert!(
        lines[0].contains(r#""chain":"hmac-sha256","prev_hash""#),
        "{}",
        lines[0]
    );
    let text = lines.join("\n");
    let verified = verify_chain(&text, Some(&key)).expect("verifies");
    assert_eq!(verified, head);
    assert_eq!(head.mode, ChainMode::HmacSha256);
    assert_eq!(head.check(&verified, Some(&key)), Ok(()));

    assert_eq!(
        verify_chain(&text, Some(&wrong)),
        Err(AuditError::Edited { line: 1, seq: 1 })
    );
    let error = verify_chain(&text, None).expect_err("no key");
    assert_eq!(error, AuditError::KeyRequired { line: 1, seq: 1 });
    assert!(error.is_bad_input());
    assert!(error.to_string().contains(AUDIT_KEY_ENV), "{error}");

    // A head for a cut log, its count and hash taken from the log but
    // sealed without the key, does not pass.
    let cut = verify_chain(&lines[..3].join("\n"), Some(&key)).expect("verifies");
    let mut forged = AuditHead::new(3, cut.last_hash.clone(), Some(&wrong));
    assert!(forged.check(&cut, Some(&key)).is_err());
    forged.seal = None;
    let error = forged.check(&cut, Some(&key)).expect_err("unsealed");
    assert!(error.to_string().contains("seal"), "{error}");
}

/// Without the key a keyed log cannot be re-forged: a record edited
/// and the chain recomputed keyless fails keyed verification (and so
/// does one recomputed under a key of the forger's own).
#[test]
fn keyed_log_cannot_be_reforged_without_the_key() {
    let key = AuditKey::new(b"the right key").expect("key");
    let (lines, _) = sample_log_keyed(Some(key.clone()));
    let rechain = |forger: Option<&AuditKey>| {
        let mut prev = GENESIS.to_owned();
        let mut out = Vec::new();
        for line in &lines {
            let mut record: AuditRecord = serde_json::from_str(line).expect("record");
            if record.seq == 3 {
                record.qty = Decimal::from(1000);
            }
            record.chain = forger.map(|_| ChainMode::HmacSha256);
            record.prev_hash = prev;
            let line = record.sealed_line(forger);
            prev = record.hash;
            out.push(line);
        }
        out.join("\n")
    };
    let keyless = rechain(None);
    assert_eq!(
        verify_audit_log(&keyless),
        Ok(5),
        "keyless, anyone can recompute it"
    );
    assert_eq!(
        verify_chain(&keyless, Some(&key)),
        Err(AuditError::NotKeyed { line: 1, seq: 1 })
    );
    let own_key = AuditKey::new(b"forger").expect("key");
    assert_eq!(
        verify_chain(&rechain(Some(&own_key)), Some(&key)),
        Err(AuditError::Edited { line: 1, seq: 1 })
    );
}

/// Export verifies first: a tampered log is refused, not exported.
#[test]
fn export_refuses_a_tampered_log() {
    let mut lines = sample_log();
    lines[2] = lines[2].replace(r#""qty":"10""#, r#""qty":"1000""#);
    assert_eq!(
        export_csv(&lines.join("\n"), None, "alice", "2025-01-01", "2025-12-31"),
        Err(AuditError::Edited { line: 3, seq: 3 })
    );
}

/// Text cells that a spreadsheet would run as a formula are written
/// with a `'` before them; a negative price stays a number.
#[test]
fn export_neutralises_formulas_in_text_cells() {
    let sink = MemorySink::default();
    let log = AuditLog::new(Box::new(sink.clone()), Arc::new(FixedClock));
    let mut e = entry("alice", AuditEvent::Submit, 1);
    e.client_order_id = "=HYPERLINK(\"http://x\",\"y\")".into();
    e.symbol = "@SUM(A1)".into();
    e.status = "+1".into();
    e.reason = "-2+3".into();
    e.order_id = Some("\tcmd".into());
    e.price = Some("-5.00".parse().expect("price"));
    log.record(e).expect("memory");
    let csv = export_csv(
        &sink.lines().join("\n"),
        None,
        "alice",
        "2025-01-02",
        "2025-01-02",
    )
    .expect("export");
    let row = csv.lines().nth(1).expect("row");
    assert_eq!(
        row,
        "1,2025-01-02T14:30:00.000000Z,alice,submit,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",'\tcmd,'@SUM(A1),buy,10,-5.00,'+1,'-2+3"
    );
}

/// A log written before the chain covered exact bytes (by the writer
/// at 72f93e0, a submit, its acceptance and a stamped fill) verifies
/// unchanged: its lines are the bytes the old scheme re-serialised.
#[test]
fn log_written_before_the_byte_exact_chain_verifies() {
    const OLD: &str = r#"{"seq":1,"ts":"2025-01-02T14:30:00.000000Z","event":"submit","trader_id":"trader-0","client_order_id":"fp-1350189-0","order_id":null,"symbol":"QQQ","side":"buy","qty":"46","price":null,"status":"pending","reason":"about to send","prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","hash":"9aa43caf0151b503b40bed4376f1e4c5a80974fee1814b102147b6ef478fded2"}
{"seq":2,"ts":"2025-01-02T14:30:00.080000Z","event":"submitted","trader_id":"trader-0","client_order_id":"fp-1350189-0","order_id":"ord-0000000","symbol":"QQQ","side":"buy","qty":"46","price":null,"status":"accepted","reason":"accepted","prev_hash":"9aa43caf0151b503b40bed4376f1e4c5a80974fee1814b102147b6ef478fded2","hash":"8883586cc5703d23b715e5d45dd50519aab20cea4bc647287cf33f5b4136e8af"}
{"seq":3,"ts":"2025-01-02T14:30:01.274000Z","event":"fill","trader_id":"trader-0","client_order_id":"fp-1350189-0","order_id":"ord-0000000","symbol":"QQQ","side":"buy","qty":"46","price":"512.35","status":"filled","reason":"fill confirmed by filled_qty+avg_price+filled_at","broker_at":"2025-01-02T14:30:01.240000Z","prev_hash":"8883586cc5703d23b715e5d45dd50519aab20cea4bc647287cf33f5b4136e8af","hash":"64842512d285bbe444fab52c067de3fad1dbbcd4a5d6a4ca5c05707dfc63fe68"}
"#;
    let head = verify_chain(OLD, None).expect("an old log verifies");
    assert_eq!(head.records, 3);
    assert!(head.last_hash.starts_with("64842512d285"), "{head:?}");
}

/// A journal of three intents: `c-1` submitted and filled, `c-2`
/// submitted and placed with no verdict (in flight at the crash), `c-3`
/// submitted only.
fn crash_journal() -> Vec<String> {
    let sink = MemorySink::default();
    let log = AuditLog::new(Box::new(sink.clone()), Arc::new(FixedClock));
    for (event, n) in [
        (AuditEvent::Submit, 1),
        (AuditEvent::Submitted, 1),
        (AuditEvent::Submit, 2),
        (AuditEvent::Fill, 1),
        (AuditEvent::Submitted, 2),
        (AuditEvent::Submit, 3),
    ] {
        log.record(entry("t", event, n))
            .expect("memory never fails");
    }
    sink.lines()
}

/// Goal: the journal read back tells each intent's state: concluded with
/// its fill, or in flight (submitted, no verdict), in the order each
/// first appears. Method: the three intents of [`crash_journal`].
#[test]
fn the_journal_tells_concluded_from_in_flight() {
    let text = crash_journal().join("\n") + "\n";
    let journal = Journal::read(&text, None).expect("whole");
    assert_eq!(journal.records().len(), 6);
    assert_eq!(journal.torn(), None);
    let intents = journal.intents();
    let ids: Vec<&str> = intents
        .iter()
        .map(|i| i.signal.client_order_id.as_str())
        .collect();
    assert_eq!(ids, ["c-1", "c-2", "c-3"]);
    assert_eq!(intents[0].concluded, Some(AuditEvent::Fill));
    assert_eq!(
        intents[0].filled.map(|(qty, price, _)| (qty, price)),
        Some((Decimal::from(10), Some("590.10".parse().expect("price"))))
    );
    assert!(!intents[0].in_flight());
    assert!(intents[1].in_flight());
    assert_eq!(intents[1].order_id.as_deref(), Some("o-2"));
    assert!(intents[2].in_flight());
    assert_eq!(intents[2].signal.qty, Decimal::from(10));
}

/// Goal: a last write the crash cut short is reported and left out,
/// never read as a record; damage anywhere else is refused, naming the
/// line. Method: the journal with its last line cut in half (no newline
/// after it): five records and a torn tail on line 6; the same cut line
/// followed by a newline and another record: refused at line 6; a middle
/// line edited: refused at its line.
#[test]
fn a_torn_tail_is_left_out_and_damage_before_it_refused() {
    let lines = crash_journal();
    let last = &lines[5];
    let cut = format!("{}\n{}", lines[..5].join("\n"), &last[..last.len() / 2]);
    let journal = Journal::read(&cut, None).expect("a torn tail is a crash's doing");
    assert_eq!(journal.records().len(), 5);
    let torn = journal.torn().expect("torn");
    assert_eq!((torn.line, torn.bytes), (6, last.len() / 2));
    assert!(
        !journal
            .intents()
            .iter()
            .any(|i| i.signal.client_order_id == "c-3"),
        "a torn submit was never sent"
    );
    let followed = format!("{cut}\n{last}\n");
    let error = Journal::read(&followed, None).expect_err("damage before the end");
    assert!(error.to_string().starts_with("line 6:"), "{error}");
    let mut edited = lines.clone();
    edited[2] = edited[2].replace("\"qty\":\"10\"", "\"qty\":\"11\"");
    let error = Journal::read(&(edited.join("\n") + "\n"), None).expect_err("edited");
    assert_eq!(error, AuditError::Edited { line: 3, seq: 3 }, "{error}");
}

/// Goal: a log resumed after a crash goes on from the journal's last
/// whole record, so the chain verifies across the restart; the file's
/// torn tail is cut off before anything is appended. Method: a file
/// journal of six records with half a seventh written after them; read
/// back with `FileSink::open_after` under batched durability, two more
/// records appended: the file verifies, with eight records.
#[test]
fn a_resumed_log_continues_the_chain_after_a_torn_tail() {
    let dir = tempfile::Builder::new()
        .prefix("fillproof-journal-")
        .tempdir()
        .expect("temp dir");
    let path = dir.path().join("journal.jsonl");
    let lines = crash_journal();
    let torn = &lines[0][..40];
    std::fs::write(&path, format!("{}\n{torn}", lines.join("\n"))).expect("write");
    let (sink, journal) =
        FileSink::open_after(&path, None, Durability::Batched(8)).expect("recoverable");
    assert_eq!(journal.records().len(), 6);
    assert!(journal.torn().is_some());
    let log = AuditLog::resume(Box::new(sink), Arc::new(FixedClock), None, &journal);
    log.record(entry("t", AuditEvent::NotFilled, 2))
        .expect("write");
    log.record(entry("t", AuditEvent::Submit, 4))
        .expect("write");
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(verify_audit_log(&text), Ok(8));
    let intents = Journal::read(&text, None).expect("whole").intents();
    assert_eq!(intents[1].concluded, Some(AuditEvent::NotFilled));
}

/// A record of `event` about `id`, as `entry` gives it, changed by `edit`.
fn record_of(log: &AuditLog, event: AuditEvent, id: &str, edit: impl FnOnce(&mut AuditEntry)) {
    let mut record = entry("t", event, 0);
    record.client_order_id = id.to_owned();
    record.broker_at = None;
    edit(&mut record);
    log.record(record).expect("memory never fails");
}

/// Goal: the journal tells which entries' exit legs a crash may have
/// left working, and only those. Method: four entries written as the
/// executor writes them: a bracket filled whole with one leg ended (open,
/// that leg listed), a bracket filled whole with both legs ended (not
/// open), an OTO filled whole with no leg ended (open), a bracket that
/// ended with part filled (its legs never worked: not open); the legs'
/// records name their entry, and the entries' `submit` records their
/// exits.
#[test]
fn the_journal_lists_the_exit_legs_a_crash_left_open() {
    let sink = MemorySink::default();
    let log = AuditLog::new(Box::new(sink.clone()), Arc::new(FixedClock));
    let price = |p: &str| Some(p.parse::<Decimal>().expect("price"));
    let bracket = ExitPrices {
        stop_loss: price("580"),
        take_profit: price("600"),
    };
    for (id, exits) in [
        ("b-1", bracket),
        ("b-2", bracket),
        (
            "oto-3",
            ExitPrices {
                take_profit: None,
                ..bracket
            },
        ),
        ("b-4", bracket),
    ] {
        record_of(&log, AuditEvent::Submit, id, |r| r.exits = exits);
    }
    for id in ["b-1", "b-2", "oto-3"] {
        record_of(&log, AuditEvent::Fill, id, |_| {});
    }
    record_of(&log, AuditEvent::Fill, "b-4", |r| {
        r.qty = Decimal::from(4);
        r.status = "canceled".into();
    });
    for (leg, of) in [("b-1-tp", "b-1"), ("b-2-tp", "b-2"), ("b-2-sl", "b-2")] {
        record_of(&log, AuditEvent::NotFilled, leg, |r| {
            r.exit_of = Some(of.into());
            r.status = "canceled".into();
        });
    }
    let journal = Journal::read(&(sink.lines().join("\n") + "\n"), None).expect("whole");
    let submitted = &journal.intents()[0].signal;
    assert_eq!(
        (submitted.stop_loss, submitted.take_profit),
        (price("580"), price("600"))
    );
    let open = journal.open_exits();
    let found: Vec<(&str, Vec<&str>)> = open
        .iter()
        .map(|o| {
            let ended = o.ended.iter().map(|l| l.signal.client_order_id.as_str());
            (o.entry.signal.client_order_id.as_str(), ended.collect())
        })
        .collect();
    assert_eq!(found, [("b-1", vec!["b-1-tp"]), ("oto-3", vec![])]);
}

/// Goal: a fill record's pieces rebuild the book only when they are its
/// fill: each with a stamp that reads, adding up to the record's
/// quantity; otherwise the record's total stands. A journaled cancel is
/// told with why. Method: three fill records, pieces adding up (kept,
/// stamps parsed), pieces short of the total (dropped), a stamp that is
/// not one (dropped); a `pending_cancel` record on an intent in flight.
#[test]
fn a_fill_records_pieces_count_only_when_they_are_its_fill() {
    let sink = MemorySink::default();
    let log = AuditLog::new(Box::new(sink.clone()), Arc::new(FixedClock));
    let at = Timestamp::from_unix_micros(1_735_828_199_000_000);
    let piece = |qty: i64, price: &str| (Decimal::from(qty), price.parse().expect("price"), at);
    record_of(&log, AuditEvent::Fill, "whole", |r| {
        r.executions = vec![piece(4, "590"), piece(6, "591")];
    });
    record_of(&log, AuditEvent::Fill, "short", |r| {
        r.executions = vec![piece(4, "590"), piece(5, "591")];
    });
    record_of(&log, AuditEvent::Submit, "asked", |_| {});
    record_of(&log, AuditEvent::Cancel, "asked", |r| {
        r.status = "pending_cancel".into();
        r.reason = "the trader asked for a cancel".into();
    });
    let mut lines = sink.lines();
    let unstamped = lines[0].replace("2025-01-02T14:29:59.000000Z", "yesterday");
    let mut record: AuditRecord = serde_json::from_str(&unstamped).expect("a record");
    record.client_order_id = "unstamped".into();
    record.seq = 5;
    record.prev_hash = serde_json::from_str::<AuditRecord>(&lines[3])
        .expect("a record")
        .hash;
    record.hash = record.expected_hash();
    lines.push(serde_json::to_string(&record).expect("serializes"));
    let journal = Journal::read(&(lines.join("\n") + "\n"), None).expect("whole");
    let intents = journal.intents();
    let pieces: Vec<usize> = intents.iter().map(|i| i.executions.len()).collect();
    assert_eq!(pieces, [2, 0, 0, 0]);
    assert_eq!(intents[0].executions[1], piece(6, "591"));
    assert_eq!(
        intents[2].cancel_asked.as_deref(),
        Some("the trader asked for a cancel")
    );
    assert!(intents[2].in_flight());
}
