//! `fillproof audit verify|export` end to end: the chain covers each
//! line's exact bytes, the head beside the log catches a cut tail, input
//! that is not an audit log is exit 2, export verifies first and defuses
//! formulas, and a keyed (HMAC) log verifies under its key only.

mod command;

use std::path::{Path, PathBuf};

use command::{fillproof, fillproof_env, scratch, workspace};
use fillproof_engine::{
    AuditEntry, AuditEvent, AuditHead, AuditLog, AuditRecord, Decimal, GENESIS, MemorySink, Side,
    VirtualClock,
};

const KEY: &str = "0123456789abcdef0123456789abcdef";

/// Runs a 60-order many-traders scenario with `--audit` into `dir`, with
/// `env`; returns the log's path.
fn audited_run(dir: &Path, env: &[(&str, &str)]) -> PathBuf {
    let log = dir.join("audit.jsonl");
    let scenario = workspace().join("scenarios/lifecycle/many-traders.yaml");
    let (code, _, stderr) = fillproof_env(
        &[
            "run",
            scenario.to_str().expect("utf-8"),
            "--orders",
            "60",
            "--audit",
            log.to_str().expect("utf-8"),
        ],
        env,
    );
    assert_eq!(code, 0, "{stderr}");
    log
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("read")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).expect("write");
}

fn arg(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// A record's quantity rewritten as a JSON number that reads back as the
/// same decimal (`"qty":"100"` as `"qty":99.999999999999999999`): the
/// record parsed and written again is unchanged, the line's bytes are not,
/// and verification names the line.
#[test]
fn verify_covers_each_lines_exact_bytes() {
    let folder = scratch("audit-bytes");
    let log = audited_run(folder.path(), &[]);
    let mut records = lines(&log);
    let (index, qty) = records
        .iter()
        .enumerate()
        .find_map(|(i, line)| {
            let rest = line.split("\"qty\":\"").nth(1)?;
            let qty: u64 = rest.split('"').next()?.parse().ok()?;
            (qty > 0).then_some((i, qty))
        })
        .expect("a record with a whole quantity");
    let original: AuditRecord = serde_json::from_str(&records[index]).expect("record");
    records[index] = records[index].replacen(
        &format!("\"qty\":\"{qty}\""),
        &format!("\"qty\":{}.999999999999999999", qty - 1),
        1,
    );
    let edited: AuditRecord = serde_json::from_str(&records[index]).expect("still a record");
    assert_eq!(edited, original, "the edit reads back as the same record");
    write_lines(&log, &records);
    let (code, stdout, _) = fillproof(&["audit", "verify", arg(&log)]);
    assert_eq!(code, 1, "{stdout}");
    let seq = original.seq;
    assert!(
        stdout.contains(&format!("line {}: record {seq} was edited", index + 1)),
        "{stdout}"
    );
}

/// `run --audit` writes the chain's head beside the log; `verify --head`
/// checks the log ends there, so a cut tail (which leaves a valid, shorter
/// chain) is caught, naming the counts; `--head FILE` reads another path,
/// and a missing head is bad input.
#[test]
fn verify_head_detects_a_cut_tail() {
    let folder = scratch("audit-head");
    let log = audited_run(folder.path(), &[]);
    let head_file = folder.path().join("audit.jsonl.head");
    let head = AuditHead::parse(&std::fs::read_to_string(&head_file).expect("head written"))
        .expect("a head");
    let records = lines(&log);
    assert_eq!(head.records, records.len() as u64);
    let (code, stdout, _) = fillproof(&["audit", "verify", arg(&log), "--head"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("ends where its head"), "{stdout}");

    write_lines(&log, &records[..records.len() - 2]);
    let (code, stdout, _) = fillproof(&["audit", "verify", arg(&log)]);
    assert_eq!(
        code, 0,
        "without the head a cut tail is a valid chain: {stdout}"
    );
    let (code, stdout, _) = fillproof(&["audit", "verify", arg(&log), "--head"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(&format!(
            "holds {} records and its head {}: 2 records were cut from its end",
            records.len() - 2,
            records.len()
        )),
        "{stdout}"
    );

    let elsewhere = folder.path().join("kept-elsewhere.head");
    std::fs::rename(&head_file, &elsewhere).expect("move");
    let (code, stdout, _) = fillproof(&["audit", "verify", arg(&log), "--head", arg(&elsewhere)]);
    assert_eq!(code, 1, "{stdout}");
    let (code, _, stderr) = fillproof(&["audit", "verify", arg(&log), "--head"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("audit.jsonl.head"), "{stderr}");
}

/// An empty file, a blank one, and one that is not JSON lines are bad
/// input (exit 2), naming the file and, for a line, the line; so for
/// export.
#[test]
fn empty_blank_and_non_json_files_are_bad_input() {
    let folder = scratch("audit-bad-input");
    let log = audited_run(folder.path(), &[]);
    let mut with_garbage = lines(&log);
    with_garbage.insert(2, "this is not JSON".into());
    let cases: [(&str, String, &str); 4] = [
        ("empty.jsonl", String::new(), "is empty"),
        ("blank.jsonl", "\n  \n\n".into(), "only blank lines"),
        ("text.jsonl", "hello\nworld\n".into(), "line 1: not JSON"),
        ("garbage.jsonl", with_garbage.join("\n"), "line 3: not JSON"),
    ];
    for (name, text, needle) in cases {
        let path = folder.path().join(name);
        std::fs::write(&path, text).expect("write");
        let (code, stdout, stderr) = fillproof(&["audit", "verify", arg(&path)]);
        assert_eq!(code, 2, "{name}: {stdout}{stderr}");
        assert!(
            stderr.contains(name) && stderr.contains(needle),
            "{name}: {stderr}"
        );
        let (code, stdout, stderr) = fillproof(&[
            "audit",
            "export",
            arg(&path),
            "--trader",
            "trader-7",
            "--from",
            "2025-01-01",
            "--to",
            "2025-12-31",
        ]);
        assert_eq!(code, 2, "{name}: {stdout}{stderr}");
        assert!(stdout.is_empty(), "{name}: {stdout}");
        assert!(
            stderr.contains(name) && stderr.contains(needle),
            "{name}: {stderr}"
        );
    }
}

/// Export verifies the chain first: a tampered log is refused with exit 1
/// and nothing on stdout.
#[test]
fn export_refuses_a_tampered_log() {
    let folder = scratch("audit-export-tampered");
    let log = audited_run(folder.path(), &[]);
    let mut records = lines(&log);
    records[4] = records[4].replacen("\"symbol\":\"", "\"symbol\":\"X", 1);
    write_lines(&log, &records);
    let (code, stdout, stderr) = fillproof(&[
        "audit",
        "export",
        arg(&log),
        "--trader",
        "trader-7",
        "--from",
        "2025-01-01",
        "--to",
        "2025-12-31",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty(), "exported anyway: {stdout}");
    assert!(
        stderr.contains("BROKEN") && stderr.contains("line 5: record 5 was edited"),
        "{stderr}"
    );
}

/// Text cells that a spreadsheet would run as a formula are exported with
/// a `'` before them; a negative price stays a number.
#[test]
fn export_neutralises_formula_cells() {
    let sink = MemorySink::default();
    let clock = VirtualClock::new(1_735_828_200_000_000).shared();
    let log = AuditLog::new(Box::new(sink.clone()), clock);
    log.record(AuditEntry {
        event: AuditEvent::Submit,
        trader_id: "alice".into(),
        client_order_id: "=1+2".into(),
        order_id: Some("@SUM(A1)".into()),
        symbol: "+SPY".into(),
        side: Side::Sell,
        qty: Decimal::from(3),
        price: Some("-5.00".parse().expect("price")),
        status: "-cmd".into(),
        reason: "\tindented".into(),
        broker_at: None,
        exits: fillproof_engine::ExitPrices::default(),
        exit_of: None,
        executions: Vec::new(),
    })
    .expect("memory");
    let folder = scratch("audit-formula");
    let path = folder.path().join("formula.jsonl");
    write_lines(&path, &sink.lines());
    let (code, csv, stderr) = fillproof(&[
        "audit",
        "export",
        arg(&path),
        "--trader",
        "alice",
        "--from",
        "2025-01-02",
        "--to",
        "2025-01-02",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let mut row: Vec<&str> = csv.lines().nth(1).expect("a row").split(',').collect();
    assert!(row[1].starts_with("2025-01-02T14:30:00"), "{csv}");
    row[1] = "[TS]";
    assert_eq!(
        row,
        [
            "1",
            "[TS]",
            "alice",
            "submit",
            "'=1+2",
            "'@SUM(A1)",
            "'+SPY",
            "sell",
            "3",
            "-5.00",
            "'-cmd",
            "'\tindented",
        ]
    );
}

/// Written with `FILLPROOF_AUDIT_KEY` set, the log is HMAC-SHA256: it
/// verifies (and its head) under that key, fails under another, and is
/// refused as bad input without one; import and export need the key too.
#[test]
fn keyed_log_verifies_under_its_key_only() {
    let folder = scratch("audit-keyed");
    let keyed = [("FILLPROOF_AUDIT_KEY", KEY)];
    let log = audited_run(folder.path(), &keyed);
    let verify = ["audit", "verify", arg(&log), "--head"];
    let (code, stdout, _) = fillproof_env(&verify, &keyed);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("hmac-sha256"), "{stdout}");

    let (code, stdout, _) = fillproof_env(&verify, &[("FILLPROOF_AUDIT_KEY", "another key")]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("line 1: record 1 was edited"), "{stdout}");

    let (code, stdout, stderr) = fillproof(&verify);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("HMAC-SHA256") && stderr.contains("set FILLPROOF_AUDIT_KEY"),
        "{stderr}"
    );

    let export = [
        "audit",
        "export",
        arg(&log),
        "--trader",
        "trader-7",
        "--from",
        "2025-01-01",
        "--to",
        "2025-12-31",
    ];
    let (code, csv, stderr) = fillproof_env(&export, &keyed);
    assert_eq!(code, 0, "{stderr}");
    assert!(csv.lines().count() > 1, "{csv}");
    let (code, _, stderr) = fillproof(&export);
    assert_eq!(code, 2, "{stderr}");

    let import = ["import", "audit", arg(&log)];
    let (code, _, stderr) = fillproof_env(&import, &keyed);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = fillproof(&import);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("FILLPROOF_AUDIT_KEY"), "{stderr}");
}

/// Without the key a keyed log cannot be re-forged: a record edited and
/// the whole chain (and head) recomputed keyless passes a keyless check,
/// which is all a keyless chain can offer, and fails under the key.
#[test]
fn keyed_log_cannot_be_reforged_without_the_key() {
    let folder = scratch("audit-reforged");
    let keyed = [("FILLPROOF_AUDIT_KEY", KEY)];
    let log = audited_run(folder.path(), &keyed);
    let mut prev = GENESIS.to_owned();
    let mut forged = Vec::new();
    for line in lines(&log) {
        let mut record: AuditRecord = serde_json::from_str(&line).expect("record");
        if record.seq == 3 {
            record.qty += Decimal::from(1000);
        }
        record.chain = None;
        record.prev_hash = prev;
        record.hash = String::new();
        record.hash = record.expected_hash();
        prev = record.hash.clone();
        forged.push(serde_json::to_string(&record).expect("record"));
    }
    let count = forged.len() as u64;
    write_lines(&log, &forged);
    let head = AuditHead::new(count, prev, None);
    std::fs::write(folder.path().join("audit.jsonl.head"), head.to_json()).expect("head");
    let verify = ["audit", "verify", arg(&log), "--head"];
    let (code, stdout, _) = fillproof(&verify);
    assert_eq!(code, 0, "keyless, anyone can recompute the chain: {stdout}");
    let (code, stdout, _) = fillproof_env(&verify, &keyed);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("line 1: record 1 carries a keyless SHA-256 hash"),
        "{stdout}"
    );
}
