//! Exit codes and error rendering, decided in one place: 2 for configuration errors, 1 for the rest.

use std::process::ExitCode;

use crate::causes;
use crate::pipeline::PipelineError;
use crate::settings::ConfigError;

/// 128 + the signal's number for a run stopped by a signal (130 for
/// SIGINT, 143 for SIGTERM); 2 when a `ConfigError` is anywhere in the
/// chain; else 1.
pub fn code(error: &anyhow::Error) -> ExitCode {
    // Whatever a command ran into once asked to stop (a preflight request
    // cancelled, say), it ended because it was asked.
    let interrupted = error
        .chain()
        .find_map(|cause| match cause.downcast_ref::<PipelineError>() {
            Some(PipelineError::Interrupted { interrupted, .. }) => Some(*interrupted),
            _ => None,
        })
        .or_else(crate::stop::requested);
    if let Some(interrupted) = interrupted {
        ExitCode::from(interrupted.exit_code())
    } else if error.chain().any(|cause| cause.downcast_ref::<ConfigError>().is_some()) {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}

/// One `error:` line, then one indented `caused by:` line per cause
/// (causes whose text the line above already holds are skipped).
pub fn render(error: &anyhow::Error) -> String {
    let mut out = String::new();
    for (i, line) in causes::distinct(error.as_ref()).iter().enumerate() {
        if i == 0 {
            out.push_str(&format!("error: {line}\n"));
        } else {
            out.push_str(&format!("  caused by: {line}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_error_anywhere_gives_two() {
        let err = anyhow::Error::new(ConfigError::NoRun("x".into())).context("doing y");
        assert_eq!(code(&err), ExitCode::from(2));
        assert_eq!(code(&anyhow::anyhow!("boom")), ExitCode::from(1));
    }

    #[test]
    fn one_error_line_then_causes() {
        let err = anyhow::Error::new(std::io::Error::other("disk full")).context("writing x").context("run r stopped");
        assert_eq!(render(&err), "error: run r stopped\n  caused by: writing x\n  caused by: disk full\n");
    }

    #[test]
    fn a_config_error_inside_the_pipelines_errors_still_gives_two() {
        use crate::model::Stage;
        use crate::pipeline::{PipelineError, StageError};
        let missing = || ConfigError::Missing { flag: "vendor-url", env: "VENDOR_API_URL" };
        let stopped = PipelineError::Stopped {
            run_id: "r".into(),
            stage: Stage::Extract.name(),
            source: Box::new(StageError::from(missing())),
        };
        let no_run = PipelineError::from(crate::rundir::RunDirError::from(ConfigError::NoRun("no run `x`".into())));
        for error in [PipelineError::from(missing()), stopped, no_run] {
            let error = anyhow::Error::new(error);
            assert_eq!(code(&error), ExitCode::from(2), "{error:#}");
            assert_eq!(render(&error).lines().filter(|l| l.starts_with("error:")).count(), 1);
        }
    }
}
