//! `runs`: the runs of a work dir, newest first, with their state, age and size on disk.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use indicatif::{HumanBytes, HumanDuration};
use serde::Serialize;

use crate::causes;
use crate::cli::RunsArgs;
use crate::pipeline::runs::{self, Listed};
use crate::rundir::{self, RunDir};

/// One run as `runs` shows it.
#[derive(Debug, Serialize)]
struct RunView {
    run_id: String,
    /// `None` when the manifest can't be read.
    report_date: Option<NaiveDate>,
    /// running, completed, failed, interrupted, or unreadable.
    state: &'static str,
    created_at: DateTime<Utc>,
    age_secs: i64,
    /// `None` when it could not be measured.
    size_bytes: Option<u64>,
    /// Why the manifest (or the lock) could not be read.
    error: Option<String>,
}

#[derive(Serialize)]
struct RunsView<'a> {
    work_dir: &'a Path,
    runs: Vec<RunView>,
}

/// Prints the runs of the work dir.
pub fn execute(args: &RunsArgs) -> anyhow::Result<()> {
    let now = Utc::now();
    let views: Vec<RunView> =
        runs::all(&args.work_dir)?.into_iter().map(|run| view(&args.work_dir, run, now)).collect();
    let text = if args.json {
        serde_json::to_string_pretty(&RunsView { work_dir: &args.work_dir, runs: views })? + "\n"
    } else {
        render(&views)
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(())
}

fn view(work_dir: &Path, run: Listed, now: DateTime<Utc>) -> RunView {
    let state = run.manifest.as_ref().map_err(|e| causes::one_line(e)).and_then(|manifest| {
        let in_use = RunDir::open(work_dir, &run.id).and_then(|dir| dir.in_use()).map_err(|e| causes::one_line(&e))?;
        Ok((manifest.state(in_use).name(), manifest.settings.report_date))
    });
    let (state, report_date, error) = match state {
        Ok((state, date)) => (state, Some(date), None),
        Err(error) => ("unreadable", None, Some(error)),
    };
    RunView {
        size_bytes: rundir::disk_usage(&work_dir.join(&run.id)).ok(),
        run_id: run.id,
        report_date,
        state,
        created_at: run.created_at,
        age_secs: now.signed_duration_since(run.created_at).num_seconds(),
        error,
    }
}

fn render(views: &[RunView]) -> String {
    if views.is_empty() {
        return "no runs\n".to_string();
    }
    let width = views.iter().map(|v| v.run_id.len()).max().unwrap_or(0).max("run".len());
    let mut out = format!("{:<width$}  {:<11}  {:<11}  {:>10}  {:>12}\n", "run", "report date", "state", "age", "size");
    for v in views {
        let date = v.report_date.map_or("-".to_string(), |d| d.to_string());
        let age = HumanDuration(std::time::Duration::from_secs(v.age_secs.max(0) as u64)).to_string();
        let size = v.size_bytes.map_or("?".to_string(), |b| HumanBytes(b).to_string());
        out.push_str(&format!("{:<width$}  {date:<11}  {:<11}  {age:>10}  {size:>12}\n", v.run_id, v.state));
        if let Some(error) = &v.error {
            out.push_str(&format!("  error: {}\n", causes::printable(error)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_a_table_with_an_unreadable_run_s_cause_below_it() {
        let created_at: DateTime<Utc> = "2017-02-02T00:00:00Z".parse().unwrap();
        let run = |id: &str, state, error: Option<&str>| RunView {
            run_id: id.into(),
            report_date: error.is_none().then(|| "2017-02-02".parse().unwrap()),
            state,
            created_at,
            age_secs: 3 * 86_400,
            size_bytes: Some(432_329_523),
            error: error.map(String::from),
        };
        let text = render(&[run("a-long-run-id", "completed", None), run("b", "unreadable", Some("bad\x1b"))]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["run", "report", "date", "state", "age", "size"]);
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["a-long-run-id", "2017-02-02", "completed", "3", "days", "412.30", "MiB"]
        );
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["b", "-", "unreadable", "3", "days", "412.30", "MiB"]
        );
        assert_eq!(lines[3], "  error: bad\\u{1b}");
        assert_eq!(render(&[]), "no runs\n");
    }
}
