//! `fillproof serve` and `fillproof replay-session`: the simulated broker on
//! the wire, and a served session again on virtual time.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use fillproof_serve::{LogHeader, Report, Session};

use super::{Exit, load};
use crate::cli::{ReplaySessionArgs, ServeArgs};

/// Runs `serve`: binds 127.0.0.1, prints `listening on http://ADDR` as the
/// first line, serves until `POST /_fillproof/shutdown`, Ctrl-C or
/// SIGTERM, then writes the report and prints its summary.
///
/// # Errors
/// The scenario does not load, the port cannot be bound, or the log or
/// report cannot be written.
pub fn run(args: &ServeArgs) -> Result<Exit> {
    let scenario = load(&args.scenario)?;
    let seed = args.seed.unwrap_or(scenario.seed);
    let epoch = start_instant(args.start.as_deref())?;
    // The log's header holds the scenario file's digest, so that a replay
    // on a scenario changed since is refused.
    let scenario_bytes = match &args.request_log {
        Some(_) => std::fs::read(&args.scenario)
            .with_context(|| format!("cannot read {}", args.scenario.display()))?,
        None => Vec::new(),
    };
    // With FILLPROOF_AUDIT_KEY set, the log's chain is HMAC-SHA256 under
    // it, as the engine's audit log's is.
    let key = match &args.request_log {
        Some(_) => super::audit::env_key()?,
        None => None,
    };
    let log = match &args.request_log {
        Some(path) => Some(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create request log {}", path.display()))?,
        ),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    let report = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
        let address = listener.local_addr().context("no local address")?;
        let session =
            Session::starting_at(&scenario, seed, Some(epoch)).map_err(|e| anyhow!("{e}"))?;
        if let Some(file) = log {
            let mut header =
                LogHeader::new(&args.scenario.display().to_string(), &scenario_bytes, seed);
            header.epoch_unix_micros = Some(epoch);
            session
                .log_keyed_to(Box::new(std::io::BufWriter::new(file)), &header, key)
                .context("cannot write the request log")?;
        }
        // The handlers are in place before the address is printed: a
        // signal sent as soon as it is read ends the session with its
        // report, not the process without one.
        let interrupt = stop_signals();
        outln!("listening on http://{address}");
        std::io::stdout().flush()?;
        Ok::<_, anyhow::Error>(fillproof_serve::serve(listener, session, interrupt).await)
    })?;
    let again = match &args.request_log {
        Some(log) => format!("fillproof replay-session {}", log.display()),
        None => format!(
            "fillproof serve {} --seed {seed} --request-log FILE, then fillproof replay-session FILE",
            args.scenario.display()
        ),
    };
    finish(&report, args.report.as_deref(), &again)
}

/// The Unix microseconds a served session's time zero stands for: `start`
/// read as RFC 3339, or the machine's clock now.
///
/// # Errors
/// `start` is not an RFC 3339 instant.
fn start_instant(start: Option<&str>) -> Result<i64> {
    match start {
        Some(text) => fillproof_engine::Timestamp::parse_rfc3339(text)
            .map(|t| t.unix_micros)
            .ok_or_else(|| {
                anyhow!(
                    "--start {text:?} is not an RFC 3339 instant; give one such as 2026-12-07T14:30:00Z"
                )
            }),
        None => Ok(wall_clock_micros()),
    }
}

/// The machine's clock, in Unix microseconds: only `serve`, on the real
/// clock, reads it, once, to start its session where the bot's clock is.
#[expect(
    clippy::disallowed_methods,
    reason = "serve runs on the real clock: its session starts at the wall-clock time"
)]
fn wall_clock_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM, what `kill`, systemd and
/// container runtimes send to stop a process: either ends the session as
/// `POST /_fillproof/shutdown` does, report and all. A signal whose
/// handler cannot be installed never completes: the others still stop it.
/// Called in the runtime; the handlers are installed at once.
#[cfg(unix)]
fn stop_signals() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let wait = |kind: SignalKind| {
        let handler = signal(kind);
        async move {
            match handler {
                Ok(mut handler) => {
                    handler.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        }
    };
    let (interrupt, terminate) = (wait(SignalKind::interrupt()), wait(SignalKind::terminate()));
    async move {
        tokio::select! {
            () = interrupt => {}
            () = terminate => {}
        }
    }
}

/// Completes on Ctrl-C; without a handler, only the shutdown endpoint
/// stops the session.
#[cfg(not(unix))]
fn stop_signals() -> impl std::future::Future<Output = ()> {
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Runs `replay-session`: the log's requests against a fresh session on the
/// paused clock, and the report.
///
/// # Errors
/// The log or the scenario does not load, the log cannot be replayed
/// faithfully (a broken chain, requests out of order, times running
/// backwards, lines after the end, a header from another scenario or
/// another fillproof, an answer removed), a request is answered otherwise
/// than live, the log has no end line and `--partial` was not given, or
/// the report cannot be written. Each names the log's line.
pub fn replay_session(args: &ReplaySessionArgs) -> Result<Exit> {
    let key = super::audit::env_key()?;
    let log = fillproof_serve::read_keyed_log(&args.request_log, key.as_ref())
        .map_err(|e| anyhow!("{e}"))?;
    let header = &log.header;
    let path = args
        .scenario
        .clone()
        .unwrap_or_else(|| header.scenario.clone().into());
    let moved = || {
        format!(
            "the log {} was served from {}; give --scenario if it moved",
            args.request_log.display(),
            header.scenario
        )
    };
    let bytes = std::fs::read(&path)
        .with_context(|| format!("cannot read {}", path.display()))
        .with_context(moved)?;
    log.check_scenario(&path.display().to_string(), &bytes)
        .map_err(|e| anyhow!("{e}"))?;
    let scenario = load(&path).with_context(moved)?;
    if !log.ended {
        let last = log.requests.last().map_or(log.header_line, |r| r.line);
        if !args.partial {
            return Err(anyhow!(
                "{}:{last}: the log has no end line after this line: the session never shut down (the server was killed) or the log was cut short, so a replay of it is a replay of part of a session, which cannot stand for the whole; give --partial to replay what it holds (the report is marked partial and does not pass)",
                args.request_log.display()
            ));
        }
        eprintln!(
            "note: {} has no end line: replaying its {} requests, to line {last}; the report is partial and does not pass",
            args.request_log.display(),
            log.requests.len()
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .context("cannot start the replay's runtime")?;
    let report = runtime.block_on(async {
        let session = Session::starting_at(&scenario, header.seed, header.epoch_unix_micros)
            .map_err(|e| anyhow!("{e}"))?;
        fillproof_serve::replay(session, &log)
            .await
            .map_err(|e| anyhow!("{e}"))
    })?;
    if let Some(path) = &args.report {
        finish(&report, Some(path), "")?;
    } else {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(if report.passed {
        Exit::Success
    } else {
        Exit::ShortFall
    })
}

/// Writes `report` to `path` (if any) and prints its summary.
/// A report's claims figures in words, `absent` for each it has not.
fn claims_line(report: &Report, absent: &str) -> String {
    let count = |n: Option<u64>| n.map_or_else(|| absent.to_owned(), |n| n.to_string());
    format!(
        "missed fills {}, false positives {}, detection rate {}",
        count(report.missed_fills),
        count(report.false_positives),
        report
            .detection_rate
            .map_or_else(|| "n/a".to_owned(), |r| format!("{r:.4}"))
    )
}

fn finish(report: &Report, path: Option<&Path>, command: &str) -> Result<Exit> {
    if let Some(path) = path {
        let text = serde_json::to_string_pretty(report)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
    }
    outln!(
        "{}: seed {}, {} requests, {} orders, {} filled, {} duplicate orders, {} 429s served",
        report.scenario,
        report.seed,
        report.requests,
        report.orders_placed,
        report.filled_orders,
        report.duplicate_orders,
        report.rate_limited_calls
    );
    // The session's claims figures are absent until every account that
    // traded has claimed: say which it is.
    let absent = if report.accounts.is_empty() {
        "n/a (no claims)"
    } else {
        "n/a (not every account claimed)"
    };
    outln!("claims: {}", claims_line(report, absent));
    for account in &report.accounts {
        let failed: Vec<&str> = account
            .expectations
            .iter()
            .filter(|j| !j.ok)
            .map(|j| j.expectation.as_str())
            .collect();
        outln!(
            "  account {}: {} orders, {} filled; claims: {}{}",
            account.key.as_deref().unwrap_or("(keyless)"),
            account.orders_placed,
            account.filled_orders,
            claims_line(account, "n/a (no claims)"),
            if failed.is_empty() {
                String::new()
            } else {
                format!("; FAIL {}", failed.join(", "))
            }
        );
    }
    if report.requests_in_flight_at_shutdown > 0 {
        outln!(
            "{} requests were still on their way to the broker at shutdown: the report waited for them to land, and is taken at {} ms",
            report.requests_in_flight_at_shutdown,
            report.at_ms
        );
    }
    if !report.faults_injected.is_empty() {
        let faults: Vec<String> = report
            .faults_injected
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect();
        outln!("faults injected: {}", faults.join(", "));
    }
    for judged in &report.expectations {
        let actual = judged
            .actual
            .map_or_else(|| "not measured by serve".to_owned(), |a| a.to_string());
        outln!(
            "  {} {} (actual {actual})",
            if judged.ok { "ok  " } else { "FAIL" },
            judged.expectation
        );
    }
    if !command.is_empty() {
        outln!("replay: {command}");
    }
    Ok(if report.passed {
        Exit::Success
    } else {
        Exit::ShortFall
    })
}
