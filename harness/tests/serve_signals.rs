//! `fillproof serve` stopped by a signal ends as a shutdown request ends
//! it: SIGTERM (what `kill`, systemd and container runtimes send) and
//! Ctrl-C (SIGINT) each write the report to `--report` and exit with the
//! code `POST /_fillproof/shutdown` gives.
#![cfg(unix)]

#[expect(
    dead_code,
    reason = "a served session is spawned and stopped here, not run to its end"
)]
mod command;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use command::{scratch, workspace};

/// How a served session is stopped.
#[derive(Debug, Clone, Copy)]
enum Stop {
    Shutdown,
    Signal(&'static str),
}

/// Serves the calm wire scenario with `--report report`, stops it by
/// `stop` once it listens, and returns its exit status, what it printed
/// after the address and the report it wrote.
fn serve_and_stop(report: &Path, stop: Stop) -> (ExitStatus, String, serde_json::Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fillproof"))
        .args(["serve", "scenarios/wire/calm-session.yaml", "--port", "0"])
        .arg("--report")
        .arg(report)
        .current_dir(workspace())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("fillproof serve starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("the first line");
    let address = first
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("first line: {first:?}"))
        .to_owned();
    match stop {
        Stop::Shutdown => {
            let mut stream = TcpStream::connect(&address).expect("connects");
            stream
                .write_all(
                    b"POST /_fillproof/shutdown HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .expect("request sent");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
        }
        Stop::Signal(name) => {
            let sent = Command::new("kill")
                .args([&format!("-{name}"), &child.id().to_string()])
                .status()
                .expect("kill runs");
            assert!(sent.success(), "kill -{name}");
        }
    }
    let status = wait(&mut child, stop);
    let mut rest = String::new();
    stdout
        .read_to_string(&mut rest)
        .expect("the rest of stdout");
    let text = std::fs::read_to_string(report)
        .unwrap_or_else(|e| panic!("{stop:?}: no report at {}: {e}", report.display()));
    let value = serde_json::from_str(&text).expect("the report is JSON");
    (status, rest, value)
}

/// Waits up to a minute for `child` to exit; kills it and fails past that.
fn wait(child: &mut Child, stop: Stop) -> ExitStatus {
    for _ in 0..1200 {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("{stop:?}: fillproof serve did not stop within a minute");
}

/// The report without the virtual time it was taken at, which depends on
/// how long the test took to stop the server.
fn timeless(mut report: serde_json::Value) -> serde_json::Value {
    report
        .as_object_mut()
        .expect("a JSON object")
        .remove("at_ms");
    report
}

#[test]
fn sigterm_and_ctrl_c_write_the_report_like_a_shutdown() {
    let folder = scratch("serve-signals");
    let (status, summary, report) =
        serve_and_stop(&folder.path().join("shutdown.json"), Stop::Shutdown);
    let code = status.code().expect("the shutdown ends with an exit code");
    assert!(code <= 1, "{status}");
    assert!(summary.contains("calm-session: seed"), "{summary}");
    let report = timeless(report);
    for signal in ["TERM", "INT"] {
        let path = folder.path().join(format!("{signal}.json"));
        let (status, summary, by_signal) = serve_and_stop(&path, Stop::Signal(signal));
        assert_eq!(
            status.code(),
            Some(code),
            "SIG{signal} exits as a shutdown does: {status}"
        );
        assert!(
            summary.contains("calm-session: seed"),
            "SIG{signal}: {summary}"
        );
        assert_eq!(timeless(by_signal), report, "SIG{signal}");
    }
}
