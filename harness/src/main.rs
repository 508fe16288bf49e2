//! The `fillproof` command line. Its subcommands (`run`, `check`, `replay`,
//! `gate`) are not written yet; today it only reports that.

fn main() -> std::process::ExitCode {
    eprintln!("fillproof: no subcommands are available in this build yet");
    std::process::ExitCode::from(2)
}
