//! `status`: each stage's state, counts and times for a run, as text or JSON.

use std::io::Write;

use serde::Serialize;

use crate::causes;
use crate::cli::StatusArgs;
use crate::manifest::{Manifest, StageRecord, StageState};
use crate::model::Stage;
use crate::pipeline::runs;
use crate::report::render::mib;
use crate::rundir::RunDir;

#[derive(Serialize)]
struct StatusView<'a> {
    run_id: &'a str,
    created_at: chrono::DateTime<chrono::Utc>,
    report_date: chrono::NaiveDate,
    next_stage: Option<Stage>,
    stages: Vec<StageView>,
    counts: Counts,
    /// The run directory's largest size on disk, and the stage that reached it.
    disk_high_water: Option<DiskHighWater>,
}

#[derive(Serialize)]
struct DiskHighWater {
    bytes: u64,
    stage: Stage,
}

#[derive(Serialize)]
struct StageView {
    stage: Stage,
    #[serde(flatten)]
    record: StageRecord,
}

#[derive(Serialize)]
struct Counts {
    vendor_users: Option<u64>,
    internal_users: Option<u64>,
    rejects: Option<u64>,
    rows: Option<u64>,
    total_matches: Option<u64>,
    rows_loaded: Option<u64>,
}

/// Prints the run's status.
pub fn execute(args: &StatusArgs) -> anyhow::Result<()> {
    let id = runs::chosen(&args.work_dir, args.run_id.as_deref())?;
    let run = RunDir::open(&args.work_dir, &id)?;
    let manifest = Manifest::load(&run.manifest())?;
    let view = view(&manifest, run.in_use()?);
    let text = if args.json { serde_json::to_string_pretty(&view)? + "\n" } else { render(&view) };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(())
}

/// What `status` shows of `manifest`; a stage marked running while the run
/// is not `in_use` was interrupted.
fn view(manifest: &Manifest, in_use: bool) -> StatusView<'_> {
    let extract = manifest.extract_output.as_ref();
    let matched = manifest.match_output.as_ref();
    StatusView {
        run_id: &manifest.run_id,
        created_at: manifest.created_at,
        report_date: manifest.settings.report_date,
        next_stage: manifest.first_unfinished(),
        stages: Stage::ALL
            .iter()
            .map(|s| {
                let mut record = manifest.stage(*s).clone();
                if record.state == StageState::Running && !in_use {
                    record.state = StageState::Interrupted;
                }
                StageView { stage: *s, record }
            })
            .collect(),
        counts: Counts {
            vendor_users: extract.map(|e| e.vendor_users),
            internal_users: extract.map(|e| e.internal_users),
            rejects: extract.map(|e| e.vendor_rejects + e.internal_rejects),
            rows: matched.map(|m| m.rows),
            total_matches: matched.map(|m| m.stats.rows.matched),
            rows_loaded: manifest.load_output.as_ref().map(|l| l.rows_loaded),
        },
        disk_high_water: manifest.disk_high_water().map(|(stage, bytes)| DiskHighWater { bytes, stage }),
    }
}

fn render(view: &StatusView<'_>) -> String {
    let mut out = format!(
        "run {} (report date {}, created {})\n",
        view.run_id,
        view.report_date,
        view.created_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    out.push_str(&format!(
        "  {:<8} {:<10} {:>8} {:>10} {:>12} {:>10}\n",
        "stage", "state", "attempts", "time", "rows", "peak RSS"
    ));
    for stage in &view.stages {
        let r = &stage.record;
        out.push_str(&format!(
            "  {:<8} {:<10} {:>8} {:>10} {:>12} {:>10}\n",
            stage.stage.name(),
            format!("{:?}", r.state).to_lowercase(),
            r.attempts,
            r.elapsed_secs.map_or("-".into(), |s| format!("{s:.2} s")),
            r.rows.map_or("-".into(), |n| n.to_string()),
            r.peak_rss_bytes.map_or("-".into(), mib)
        ));
        if let Some(error) = &r.error {
            // Written escaped; a manifest from elsewhere is escaped again here.
            out.push_str(&format!("           error: {}\n", causes::printable(error)));
        }
    }
    if let Some(high) = &view.disk_high_water {
        out.push_str(&format!("disk high-water: {} ({})\n", mib(high.bytes), high.stage.name()));
    }
    match view.next_stage {
        Some(stage) => {
            out.push_str(&format!("next: {} (vendor-match resume --run-id {})\n", stage.name(), view.run_id))
        }
        None => out.push_str("complete\n"),
    }
    out
}
