//! The `fillproof` command line.
//!
//! Exit codes: 0 success, 1 a gate or expectation fell short (or an audit
//! log failed verification), 2 bad input
//! (a scenario that does not load, a bad flag, a file that cannot be
//! written). A closed output pipe exits 0.

use std::process::ExitCode;

use clap::Parser;
use fillproof_harness::cli::{Cli, Command};
use fillproof_harness::commands::{self, Exit};

/// Simulations allocate and free small objects on every broker call;
/// mimalloc does that several times cheaper than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(level) = &cli.log {
        match level.parse::<tracing_subscriber::filter::LevelFilter>() {
            Ok(filter) => tracing_subscriber::fmt()
                .with_max_level(filter)
                .with_writer(std::io::stderr)
                .without_time()
                .init(),
            Err(_) => {
                eprintln!("error: --log {level}: use one of error, warn, info, debug, trace");
                return ExitCode::from(2);
            }
        }
    }
    let result = match &cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Check(args) => commands::check::run(args),
        Command::Replay(args) => commands::replay::run(args),
        Command::Audit(command) => commands::audit::run(command),
        Command::Sweep(args) => commands::sweep::run(args),
        Command::Merge(args) => commands::merge::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::ReplaySession(args) => commands::serve::replay_session(args),
        Command::Crowd(args) => commands::crowd::run(args),
        Command::Import(command) => commands::import::run(command),
        Command::Gate(args) => commands::gate::run(args).map(|(exit, bad_input)| {
            if bad_input {
                eprintln!("error: some scenarios did not load; see above");
                std::process::exit(2);
            }
            exit
        }),
    };
    match result {
        Ok(Exit::Success) => ExitCode::SUCCESS,
        Ok(Exit::ShortFall) => ExitCode::from(1),
        Err(error) => {
            let broken_pipe = error.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
