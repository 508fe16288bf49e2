//! `fillproof replay-session` refuses a log it cannot replay faithfully,
//! with exit 2 naming the line: a broken hash chain, requests out of
//! order, times running backwards, lines after the end, a header from
//! another seed, scenario or fillproof, a live answer removed, a log cut
//! short (unless `--partial`); and it names the first request whose
//! replayed answer differs from the live one the log recorded.
//!
//! One session is served live, on the real clock, over sockets; each test
//! replays that log, or a sabotaged copy of it.

mod command;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use command::{fillproof, fillproof_env, scratch, workspace};
use fillproof_serve::LogHeader;
use fillproof_serve::log::{chain_hash, split_chain};
use fillproof_simulator::Scenario;
use serde_json::Value;

const SCENARIO: &str = "scenarios/wire/calm-session.yaml";

/// A session served live: its log's lines and its report.
struct Live {
    lines: Vec<String>,
    report: Value,
}

/// One HTTP/1.1 request; the status and the body.
fn http(address: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAPCA-API-KEY-ID: k\r\nAPCA-API-SECRET-KEY: s\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

/// Serves the calm session with a bot that places three orders, reads
/// them back and its position, claims what it read, and shuts down. Log
/// lines: 1 header, 2-4 submits, 5-7 order reads, 8 the position, 9 the
/// claims, 10 the shutdown, 11 the end.
fn live() -> &'static Live {
    static LIVE: OnceLock<Live> = OnceLock::new();
    LIVE.get_or_init(|| {
        let path = workspace().join(SCENARIO);
        let bytes = std::fs::read(&path).expect("scenario");
        let scenario = Scenario::load(&path).expect("scenario loads");
        let dir = scratch("replay-session-live");
        let log = dir.path().join("live.jsonl");
        let sink = Box::new(std::fs::File::create(&log).expect("log"));
        let header = LogHeader::new(SCENARIO, &bytes, scenario.seed);
        let seed = scenario.seed;
        let (address, server) =
            fillproof_serve::spawn_on_thread(scenario, seed, Some((sink, header))).expect("serve");
        let mut ids = Vec::new();
        for i in 0..3 {
            let body = format!(
                r#"{{"symbol":"SPY","qty":5,"side":"buy","type":"market","time_in_force":"day","client_order_id":"bot-{i}"}}"#
            );
            let (status, answer) = http(address, "POST", "/v2/orders", &body);
            assert_eq!(status, 200, "{answer}");
            let order: Value = serde_json::from_str(&answer).expect("order");
            ids.push(order["id"].as_str().expect("id").to_owned());
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(700));
        let mut claims = serde_json::Map::new();
        for (i, id) in ids.iter().enumerate() {
            let (_, answer) = http(address, "GET", &format!("/v2/orders/{id}"), "");
            let order: Value = serde_json::from_str(&answer).expect("order");
            claims.insert(format!("bot-{i}"), order["filled_qty"].clone());
        }
        http(address, "GET", "/v2/positions/SPY", "");
        let claims = serde_json::json!({ "filled_qty": claims }).to_string();
        assert_eq!(http(address, "POST", "/_fillproof/claims", &claims).0, 200);
        http(address, "POST", "/_fillproof/shutdown", "");
        let report = serde_json::to_value(server.join().expect("report")).expect("json");
        let text = std::fs::read_to_string(&log).expect("log");
        Live {
            lines: text.lines().map(str::to_owned).collect(),
            report,
        }
    })
}

/// Recomputes every line's chain: a sabotage that a careful editor would
/// hide from the chain, to show the other checks hold on their own.
fn rechain(lines: &mut [String]) {
    let mut previous = String::new();
    for line in lines.iter_mut() {
        let (content, _) = split_chain(line).expect("chained line");
        let hash = chain_hash(&previous, &content);
        let open = content.strip_suffix('}').expect("object");
        *line = format!("{open},\"chain\":\"{hash}\"}}");
        previous = hash;
    }
}

/// `line` with its JSON content edited by `edit`, chain kept as it was.
fn edited(line: &str, edit: impl FnOnce(&mut Value)) -> String {
    let (content, chain) = split_chain(line).expect("chained line");
    let mut value: Value = serde_json::from_str(&content).expect("json");
    edit(&mut value);
    let text = value.to_string();
    let open = text.strip_suffix('}').expect("object");
    format!("{open},\"chain\":\"{chain}\"}}")
}

/// Replays `lines` written to a file; exit code, stdout, stderr and the
/// file's path as the messages name it.
fn replay(lines: &[String]) -> (i32, String, String, String) {
    replay_with(lines, &[])
}

/// [`replay`] with more arguments after the log.
fn replay_with(lines: &[String], args: &[&str]) -> (i32, String, String, String) {
    replay_env(lines, args, &[])
}

/// [`replay_with`] with these environment variables set.
fn replay_env(
    lines: &[String],
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String, String) {
    let dir = scratch("replay-session");
    let file = dir.path().join("session.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").expect("write log");
    let path = file.display().to_string();
    let mut all = vec!["replay-session", path.as_str()];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = if env.is_empty() {
        fillproof(&all)
    } else {
        fillproof_env(&all, env)
    };
    (code, stdout, stderr, path)
}

/// Exit 2, and stderr names `line` of the log and says `why`.
fn assert_refused(lines: &[String], line: usize, why: &str) {
    assert_refused_env(lines, &[], &[], line, why);
}

/// [`assert_refused`] with more arguments after the log.
fn assert_refused_with(lines: &[String], args: &[&str], line: usize, why: &str) {
    assert_refused_env(lines, args, &[], line, why);
}

/// [`assert_refused_with`] with these environment variables set.
fn assert_refused_env(
    lines: &[String],
    args: &[&str],
    env: &[(&str, &str)],
    line: usize,
    why: &str,
) {
    let (code, stdout, stderr, path) = replay_env(lines, args, env);
    assert_eq!(code, 2, "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stderr.contains(&format!("{path}:{line}: ")),
        "names line {line}: {stderr}"
    );
    assert!(stderr.contains(why), "says {why:?}: {stderr}");
    assert!(stdout.is_empty(), "no report: {stdout}");
}

/// The log as served replays to the live session's report.
#[test]
fn an_intact_log_replays_to_the_live_report() {
    let live = live();
    assert_eq!(live.lines.len(), 11, "{:#?}", live.lines);
    let (code, stdout, stderr, _) = replay(&live.lines);
    let passed = live.report["passed"].as_bool().expect("passed");
    assert_eq!(code, if passed { 0 } else { 1 }, "{stderr}");
    let replayed: Value = serde_json::from_str(&stdout).expect("report");
    assert_eq!(replayed, live.report);
}

/// Two requests swapped: the chain breaks at the first; with the chain
/// recomputed, the sequence numbers give it away.
#[test]
fn a_reordered_log_is_refused_naming_the_line() {
    let mut lines = live().lines.clone();
    lines.swap(4, 5);
    assert_refused(&lines, 5, "hash chain breaks");
    rechain(&mut lines);
    assert_refused(&lines, 5, "has seq 4 where 3 comes next");
}

/// A request's body edited: the chain breaks at that line.
#[test]
fn an_edited_line_is_refused_naming_the_line() {
    let mut lines = live().lines.clone();
    assert!(lines[2].contains(r#"\"qty\":5"#), "{}", lines[2]);
    lines[2] = lines[2].replace(r#"\"qty\":5"#, r#"\"qty\":50"#);
    assert_refused(&lines, 3, "hash chain breaks");
}

/// A request that arrives before the one logged before it.
#[test]
fn times_running_backwards_are_refused_naming_the_line() {
    let mut lines = live().lines.clone();
    lines[5] = edited(&lines[5], |v| v["t_us"] = 0.into());
    rechain(&mut lines);
    assert_refused(&lines, 6, "never run backwards");
}

/// A request removed: its successor's sequence number skips.
#[test]
fn a_seq_gap_is_refused_naming_the_line() {
    let mut lines = live().lines.clone();
    lines.remove(5);
    rechain(&mut lines);
    assert_refused(&lines, 6, "has seq 5 where 4 comes next");
}

/// A request appended after the end line.
#[test]
fn lines_after_the_end_are_refused_naming_the_line() {
    let mut lines = live().lines.clone();
    let extra = edited(&lines[4], |v| v["seq"] = 9.into());
    lines.push(extra);
    rechain(&mut lines);
    assert_refused(&lines, 12, "comes after the log's end line (line 11)");
}

/// A request after the shutdown, before the end line.
#[test]
fn a_request_after_the_shutdown_is_refused_naming_the_line() {
    let mut lines = live().lines.clone();
    let extra = edited(&lines[9], |v| {
        v["seq"] = 9.into();
        v["path"] = "/v2/clock".into();
        v["method"] = "GET".into();
    });
    lines.insert(10, extra);
    rechain(&mut lines);
    assert_refused(&lines, 11, "comes after the shutdown on line 10");
}

/// A header edited to another seed breaks the chain on line 1; one naming
/// another scenario's digest or another fillproof is refused on line 1
/// even with the chain recomputed.
#[test]
fn a_header_from_another_seed_scenario_or_fillproof_is_refused() {
    let live = live();
    let mut lines = live.lines.clone();
    lines[0] = edited(&lines[0], |v| v["seed"] = 4.into());
    assert_refused(&lines, 1, "hash chain breaks");

    let mut lines = live.lines.clone();
    lines[0] = edited(&lines[0], |v| v["scenario_sha256"] = "ab".repeat(32).into());
    rechain(&mut lines);
    assert_refused(&lines, 1, "the scenario changed since");

    let mut lines = live.lines.clone();
    lines[0] = edited(&lines[0], |v| v["fillproof_version"] = "0.0.1-other".into());
    rechain(&mut lines);
    assert_refused(&lines, 1, "served by fillproof 0.0.1-other");
}

/// A live answer that differs from the replay's: the replay names that
/// request (line, seq, method, path) instead of blaming the bot.
#[test]
fn an_edited_answer_is_named_as_where_the_replay_diverges() {
    let mut lines = live().lines.clone();
    lines[5] = edited(&lines[5], |v| {
        v["answer"]["body_sha256"] = "cd".repeat(32).into();
    });
    rechain(&mut lines);
    assert_refused(
        &lines,
        6,
        "the replay diverges from the live session at request 4 (GET /v2/orders/",
    );
}

/// A log in the old format, without chain or answers, is refused with
/// what it lacks, not replayed unchecked.
#[test]
fn a_version_1_log_is_refused_naming_what_it_lacks() {
    let lines = vec![
        format!(r#"{{"fillproof_session":1,"scenario":"{SCENARIO}","seed":3}}"#),
        r#"{"seq":0,"t_us":10,"method":"GET","path":"/v2/clock","query":"","body":""}"#.into(),
    ];
    assert_refused(
        &lines,
        1,
        "version 1 request log, which has no scenario_sha256",
    );
}

/// The log's header records this fillproof's version and the scenario's
/// digest.
#[test]
fn the_header_records_the_scenario_digest_seed_and_version() {
    let header = &live().lines[0];
    let (content, _) = split_chain(header).expect("chained");
    let header: LogHeader = serde_json::from_str(&content).expect("header");
    let bytes = std::fs::read(Path::new(&workspace()).join(SCENARIO)).expect("scenario");
    assert_eq!(header, LogHeader::new(SCENARIO, &bytes, 3));
    assert_eq!(header.fillproof_version, env!("CARGO_PKG_VERSION"));
}

/// A log cut short (`head -n 3`: no end line) is refused, naming that it
/// has none; with `--partial` it replays what it holds, to a report marked
/// partial that does not pass (exit 1), though the session's own
/// thresholds may all hold.
#[test]
fn a_log_cut_short_is_refused_unless_partial() {
    let live = live();
    let cut = &live.lines[..3];
    assert_refused(cut, 3, "the log has no end line");
    let (code, stdout, stderr, _) = replay_with(cut, &["--partial"]);
    assert_eq!(code, 1, "a partial log cannot pass: {stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("report");
    assert_eq!(report["partial"], true, "{report:#}");
    assert_eq!(report["passed"], false, "{report:#}");
    assert_eq!(report["requests"], 2, "{report:#}");
    assert!(stderr.contains("no end line"), "{stderr}");
    // The whole log, end line and all, is no partial one.
    let (_, stdout, _, _) = replay_with(&live.lines, &["--partial"]);
    let report: Value = serde_json::from_str(&stdout).expect("report");
    assert_eq!(report.get("partial"), None, "{report:#}");
}

/// Every request line is written once it is answered, but those in flight
/// at shutdown, which the end line lists: an answer set to `null` (which
/// would keep the replay from comparing it) is refused naming its line,
/// whether every answer is removed, one, or one the end line claims was
/// in flight though it is answered at once; so is an end line listing an
/// answered request, and a cut log with an answer removed.
#[test]
fn a_removed_answer_is_refused_naming_the_line() {
    let live = live();
    let null = |line: &String| edited(line, |v| v["answer"] = Value::Null);

    let mut lines = live.lines.clone();
    for line in &mut lines[1..10] {
        *line = null(line);
    }
    rechain(&mut lines);
    assert_refused(&lines, 2, "does not list it as in flight at shutdown");

    let mut lines = live.lines.clone();
    lines[5] = null(&lines[5]);
    rechain(&mut lines);
    assert_refused(&lines, 6, "does not list it as in flight at shutdown");

    let mut lines = live.lines.clone();
    lines[8] = null(&lines[8]);
    lines[10] = edited(&lines[10], |v| v["in_flight"] = serde_json::json!([7]));
    rechain(&mut lines);
    assert_refused(&lines, 9, "is answered as soon as it arrives");

    let mut lines = live.lines.clone();
    lines[10] = edited(&lines[10], |v| v["in_flight"] = serde_json::json!([4]));
    rechain(&mut lines);
    assert_refused(&lines, 11, "but that line has a live answer");

    let mut lines = live.lines[..6].to_vec();
    lines[4] = null(&lines[4]);
    rechain(&mut lines);
    assert_refused_with(&lines, &["--partial"], 5, "the log has no end line");

    // Listed on the end line, a broker call's missing answer is one the
    // shutdown cut: the log replays.
    let mut lines = live.lines.clone();
    lines[5] = null(&lines[5]);
    lines[10] = edited(&lines[10], |v| v["in_flight"] = serde_json::json!([4]));
    rechain(&mut lines);
    let (code, stdout, stderr, _) = replay(&lines);
    assert!(code < 2, "{stderr}");
    let replayed: Value = serde_json::from_str(&stdout).expect("report");
    assert_eq!(replayed, live.report);
}

/// `fillproof serve` run with `FILLPROOF_AUDIT_KEY` set chains its log
/// with HMAC-SHA256 under the key: the log replays with the key, is
/// refused without it or under another, and a line edited and chained
/// again without the key (keyless, as anyone can, or keeping the header's
/// `chain_mode`) is refused, naming line 1.
#[cfg(unix)]
#[test]
fn a_keyed_log_needs_its_key_and_refuses_a_keyless_rechain() {
    use std::io::BufRead as _;
    const KEY: &str = "request-log test key";
    let keyed = [("FILLPROOF_AUDIT_KEY", KEY)];
    let dir = scratch("replay-session-keyed");
    let log = dir.path().join("keyed.jsonl");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fillproof"))
        .args(["serve", SCENARIO, "--port", "0", "--request-log"])
        .arg(&log)
        .current_dir(workspace())
        .env_remove("FILLPROOF_AUDIT_KEY")
        .envs(keyed)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("fillproof serve starts");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("the first line");
    let address: SocketAddr = first
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("first line: {first:?}"));
    let order = r#"{"symbol":"SPY","qty":5,"side":"buy","type":"market","time_in_force":"day","client_order_id":"k-0"}"#;
    assert_eq!(http(address, "POST", "/v2/orders", order).0, 200);
    let claims = r#"{"filled_qty":{"k-0":0}}"#;
    assert_eq!(http(address, "POST", "/_fillproof/claims", claims).0, 200);
    http(address, "POST", "/_fillproof/shutdown", "");
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    let status = child.wait().expect("serve exits");
    assert!(status.code().is_some_and(|c| c < 2), "{status:?}: {rest}");
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .expect("log")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 5, "{lines:#?}");
    assert!(
        lines[0].contains(r#""chain_mode":"hmac-sha256""#),
        "{}",
        lines[0]
    );

    let (code, stdout, stderr, _) = replay_env(&lines, &[], &keyed);
    assert!(code < 2, "replays under its key: {stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("report");
    assert_eq!(report["requests"], 3, "{report:#}");

    assert_refused(&lines, 1, "set FILLPROOF_AUDIT_KEY");
    assert_refused_env(
        &lines,
        &[],
        &[("FILLPROOF_AUDIT_KEY", "another key")],
        1,
        "hash chain breaks",
    );

    // A forger without the key raises the claim and chains the log again.
    let mut forged = lines.clone();
    assert!(forged[2].contains(r#"\"k-0\":0"#), "{}", forged[2]);
    forged[2] = forged[2].replace(r#"\"k-0\":0"#, r#"\"k-0\":5"#);
    let mut keeping_mode = forged.clone();
    rechain(&mut keeping_mode);
    assert_refused_env(&keeping_mode, &[], &keyed, 1, "hash chain breaks");
    forged[0] = edited(&forged[0], |v| {
        v.as_object_mut().expect("header").remove("chain_mode");
    });
    rechain(&mut forged);
    assert_refused_env(&forged, &[], &keyed, 1, "this log's chain is keyless");
}

/// A submit still on its way to the broker when `fillproof serve` shuts
/// down lands before the report is taken: the report holds its order (so
/// `orders: ">= 1"` holds and serve exits 0), says so, and
/// `replay-session` of the log reaches the same report and exit.
#[cfg(unix)]
#[test]
fn a_submit_on_its_way_at_shutdown_lands_in_the_report_and_the_replay() {
    use std::io::BufRead as _;
    let dir = scratch("replay-session-in-flight");
    let scenario = dir.path().join("slow-submit.yaml");
    let calm = std::fs::read_to_string(workspace().join(SCENARIO)).expect("scenario");
    let slow = calm
        .replace(
            "submit: {uniform: [5ms, 20ms]}",
            "submit: {request: 1s, response: 2s}",
        )
        .replace("expect:\n", "expect:\n  orders: \">= 1\"\n");
    assert!(slow.contains("request: 1s") && slow.contains("orders: \">= 1\""));
    std::fs::write(&scenario, slow).expect("scenario");
    let log = dir.path().join("in-flight.jsonl");
    let report = dir.path().join("report.json");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fillproof"))
        .arg("serve")
        .arg(&scenario)
        .args(["--port", "0", "--request-log"])
        .arg(&log)
        .arg("--report")
        .arg(&report)
        .current_dir(workspace())
        .env_remove("FILLPROOF_AUDIT_KEY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("fillproof serve starts");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("the first line");
    let address: SocketAddr = first
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("first line: {first:?}"));
    // The submit is sent and left on its way; its answer never comes.
    let order = r#"{"symbol":"SPY","qty":5,"side":"buy","type":"market","time_in_force":"day","client_order_id":"slow-0"}"#;
    let mut pending = TcpStream::connect(address).expect("connect");
    write!(
        pending,
        "POST /v2/orders HTTP/1.1\r\nHost: x\r\nAPCA-API-KEY-ID: k\r\nAPCA-API-SECRET-KEY: s\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{order}",
        order.len()
    )
    .expect("write");
    std::thread::sleep(Duration::from_millis(200));
    let claims = r#"{"filled_qty":{"slow-0":0}}"#;
    assert_eq!(http(address, "POST", "/_fillproof/claims", claims).0, 200);
    let (status, answer) = http(address, "POST", "/_fillproof/shutdown", "");
    assert_eq!(status, 200, "{answer}");
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    let exit = child.wait().expect("serve exits");
    drop(pending);
    assert_eq!(exit.code(), Some(0), "{rest}");
    assert!(
        rest.contains("1 requests were still on their way to the broker at shutdown"),
        "{rest}"
    );
    let live: Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    assert_eq!(live["orders_placed"], 1, "{live:#}");
    assert_eq!(live["orders"][0]["client_order_id"], "slow-0", "{live:#}");
    assert_eq!(live["requests_in_flight_at_shutdown"], 1, "{live:#}");
    assert_eq!(live["passed"], true, "{live:#}");
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(
        text.lines()
            .last()
            .is_some_and(|end| end.contains(r#""in_flight":[0]"#)),
        "{text}"
    );

    let (code, replayed, stderr) = fillproof(&["replay-session", &log.display().to_string()]);
    assert_eq!(code, 0, "{stderr}");
    let replayed: Value = serde_json::from_str(&replayed).expect("report");
    assert_eq!(replayed, live);
}

/// Goal: a session started at the bot's wall-clock time replays from the
/// same instant, because the log keeps it. Method: serve the calm session
/// with time zero at 2026-12-07 14:30 UTC (as `serve` does with `--start`,
/// or with the machine's clock by default), place an order and read it:
/// its stamps are that day's, not the scenario's fixed epoch. The log
/// replays to the live report; with the header's instant removed (and the
/// chain recomputed, as a careful editor would), the replay's stamps differ
/// and it names the first answer that diverges.
#[test]
fn a_session_started_at_the_wall_clock_replays_from_that_instant() {
    let path = workspace().join(SCENARIO);
    let bytes = std::fs::read(&path).expect("scenario");
    let scenario = Scenario::load(&path).expect("scenario loads");
    let dir = scratch("replay-session-epoch");
    let log = dir.path().join("live.jsonl");
    let mut header = LogHeader::new(SCENARIO, &bytes, scenario.seed);
    let start = fillproof_engine::Timestamp::parse_rfc3339("2026-12-07T14:30:00Z").expect("time");
    header.epoch_unix_micros = Some(start.unix_micros);
    let sink = Box::new(std::fs::File::create(&log).expect("log"));
    let seed = scenario.seed;
    let (address, server) =
        fillproof_serve::spawn_on_thread(scenario, seed, Some((sink, header))).expect("serve");
    let body = r#"{"symbol":"SPY","qty":5,"side":"buy","type":"market","time_in_force":"day","client_order_id":"bot-0"}"#;
    let (status, answer) = http(address, "POST", "/v2/orders", body);
    assert_eq!(status, 200, "{answer}");
    let order: Value = serde_json::from_str(&answer).expect("order");
    let submitted = order["submitted_at"].as_str().expect("stamp");
    assert!(submitted.starts_with("2026-12-07T14:30:"), "{submitted}");
    let (_, clock) = http(address, "GET", "/v2/clock", "");
    assert!(clock.contains("\"2026-12-07T14:30:"), "{clock}");
    http(address, "POST", "/_fillproof/shutdown", "");
    let report = serde_json::to_value(server.join().expect("report")).expect("json");
    let text = std::fs::read_to_string(&log).expect("log");
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();

    let (code, stdout, stderr, _) = replay(&lines);
    assert!(code == 0 || code == 1, "{stderr}");
    let replayed: Value = serde_json::from_str(&stdout).expect("report");
    assert_eq!(replayed, report);

    let mut moved = lines.clone();
    moved[0] = edited(&moved[0], |v| {
        v.as_object_mut()
            .expect("header")
            .remove("epoch_unix_micros");
    });
    rechain(&mut moved);
    assert_refused(
        &moved,
        2,
        "the replay diverges from the live session at request 0 (POST /v2/orders)",
    );
}

/// A `--start` that is not an RFC 3339 instant is refused before anything
/// is served, saying what would do.
#[test]
fn a_start_that_is_not_an_instant_is_refused() {
    let (code, stdout, stderr) = fillproof(&["serve", SCENARIO, "--start", "yesterday"]);
    assert_eq!(code, 2, "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stderr.contains("--start \"yesterday\" is not an RFC 3339 instant; give one such as 2026-12-07T14:30:00Z"),
        "{stderr}"
    );
    assert!(!stdout.contains("listening"), "{stdout}");
}
