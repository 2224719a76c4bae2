//! The `vendor-match` binary: parse the command line, dispatch, turn errors into one `error:` line and an exit code.

use std::process::ExitCode;

use clap::Parser;
use vendor_match::{causes, cli::Cli, cmd, exit, logging};

fn main() -> ExitCode {
    // A bug must still end in one error line, not a panic message and backtrace.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("error: internal error (this is a bug in vendor-match): {}", causes::printable(&message));
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if error.use_stderr() => {
            // A usage error repeats the arguments: escaped, line by line (so without colours).
            let text = error.render().to_string();
            eprintln!("{}", text.trim_end().lines().map(causes::printable).collect::<Vec<_>>().join("\n"));
            return ExitCode::from(2);
        }
        Err(help) => {
            let _ = help.print();
            return ExitCode::SUCCESS;
        }
    };
    let verbosity = i8::try_from(i16::from(cli.logging.verbose) - i16::from(cli.logging.quiet)).unwrap_or(0);
    logging::init(verbosity, cli.logging.format);
    match std::panic::catch_unwind(|| cmd::dispatch(cli)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(error)) => {
            eprint!("{}", exit::render(&error));
            exit::code(&error)
        }
        Err(_) => ExitCode::from(1),
    }
}
