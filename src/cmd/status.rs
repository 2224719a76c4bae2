//! `status`: a run's state, each stage's state, counts and times, as text or
//! as one JSON document a scheduler can trust (`docs/status.schema.json`).

use std::io::Write;

use serde::Serialize;

use crate::causes;
use crate::cli::StatusArgs;
use crate::load::Distribution;
use crate::manifest::{Manifest, RunState, StageRecord, StageState};
use crate::model::Stage;
use crate::pipeline::runs;
use crate::report::render::mib;
use crate::rundir::RunDir;

/// Version of the JSON document's layout: raised when a field changes
/// meaning or goes away (new fields may come without it).
pub const SCHEMA_VERSION: u32 = 1;

/// What `status --json` prints (and `run --json` at the end).
#[derive(Serialize)]
pub(super) struct StatusView<'a> {
    schema_version: u32,
    run_id: &'a str,
    /// `running`, `completed`, `failed` or `interrupted`.
    state: RunState,
    /// The command that continues the run; null once it is complete.
    resume_command: Option<String>,
    created_at: chrono::DateTime<chrono::Utc>,
    report_date: chrono::NaiveDate,
    next_stage: Option<Stage>,
    stages: Vec<StageView>,
    counts: Counts,
    data_quality: Option<DataQuality>,
    warehouse: Warehouse<'a>,
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

/// What extract and match saw of the sources that a person should know.
#[derive(Serialize)]
struct DataQuality {
    vendor_records: u64,
    vendor_rejects: u64,
    duplicate_vendor_ids: u64,
    internal_rejects: u64,
    vendor_retries: u64,
    vendor_empty_pages: u32,
    vendor_page_count_changes: u64,
    source_reconnects: u32,
    ambiguous: Option<u64>,
    unmatchable: Option<u64>,
    future_dates: Option<u64>,
    null_dates: Option<u64>,
}

/// Where the rows go, and where the last load put them.
#[derive(Serialize)]
struct Warehouse<'a> {
    table: String,
    partition: Option<&'a str>,
    rows_replaced: Option<u64>,
    distribution: Option<&'a Distribution>,
}

/// Prints the run's status; with `--check`, fails unless it completed.
pub fn execute(args: &StatusArgs) -> anyhow::Result<()> {
    let id = runs::chosen(&args.work_dir, args.run_id.as_deref())?;
    let run = RunDir::open(&args.work_dir, &id)?;
    let manifest = Manifest::load(&run.manifest())?;
    let view = view(&manifest, run.in_use()?);
    let text = if args.json { json(&view)? } else { render(&view) };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if args.check && view.state != RunState::Completed {
        return Err(NotCompleted { run_id: id, state: view.state }.into());
    }
    Ok(())
}

/// `status --check` on a run that is not complete (exit 1).
#[derive(Debug, thiserror::Error)]
#[error("run {run_id} is {}, not completed", state.name())]
pub struct NotCompleted {
    run_id: String,
    state: RunState,
}

/// The document as printed: pretty JSON and a newline.
pub(super) fn json(view: &StatusView<'_>) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(view)? + "\n")
}

/// The document on one line: what `run --json` prints last, for a scheduler
/// that keeps a task's last line of output (Airflow's XCom).
pub(super) fn json_line(view: &StatusView<'_>) -> anyhow::Result<String> {
    Ok(serde_json::to_string(view)? + "\n")
}

/// What `status` shows of `manifest`; `in_use` is whether a process holds
/// the run now: a stage marked running while nobody does was interrupted.
pub(super) fn view(manifest: &Manifest, in_use: bool) -> StatusView<'_> {
    let extract = manifest.extract_output.as_ref();
    let matched = manifest.match_output.as_ref();
    let loaded = manifest.load_output.as_ref();
    let state = manifest.state(in_use);
    let resume_command = match state {
        RunState::Completed => None,
        _ => Some(format!("vendor-match resume --run-id {}", manifest.run_id)),
    };
    StatusView {
        schema_version: SCHEMA_VERSION,
        run_id: &manifest.run_id,
        state,
        resume_command,
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
            rows_loaded: loaded.map(|l| l.rows_loaded),
        },
        data_quality: extract.map(|e| DataQuality {
            vendor_records: e.vendor_records,
            vendor_rejects: e.vendor_rejects,
            duplicate_vendor_ids: e.duplicate_vendor_ids,
            internal_rejects: e.internal_rejects,
            vendor_retries: e.fetch.retries,
            vendor_empty_pages: e.fetch.empty_pages,
            vendor_page_count_changes: e.fetch.page_count_changes,
            source_reconnects: e.source_reconnects,
            ambiguous: matched.map(|m| m.stats.rows.ambiguous),
            unmatchable: matched.map(|m| m.stats.rows.unmatchable),
            future_dates: matched.map(|m| m.stats.vendor_future_dates + m.stats.internal_future_dates),
            null_dates: matched.map(|m| m.stats.vendor_null_dates + m.stats.internal_null_dates),
        }),
        warehouse: Warehouse {
            // The table loaded, when it was: a retry may name another one.
            table: loaded.map_or_else(|| manifest.settings.warehouse_table.to_string(), |l| l.table.clone()),
            partition: loaded.and_then(|l| l.partition.as_deref()),
            rows_replaced: loaded.map(|l| l.rows_replaced),
            distribution: loaded.and_then(|l| l.distribution.as_ref()),
        },
        disk_high_water: manifest.disk_high_water().map(|(stage, bytes)| DiskHighWater { bytes, stage }),
    }
}

fn render(view: &StatusView<'_>) -> String {
    let mut out = format!(
        "run {} (report date {}, created {}): {}\n",
        view.run_id,
        view.report_date,
        view.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
        view.state.name()
    );
    out.push_str(&format!(
        "  {:<8} {:<11} {:>8} {:>10} {:>12} {:>10}\n",
        "stage", "state", "attempts", "time", "rows", "peak RSS"
    ));
    for stage in &view.stages {
        let r = &stage.record;
        out.push_str(&format!(
            "  {:<8} {:<11} {:>8} {:>10} {:>12} {:>10}\n",
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
    if let Some(partition) = view.warehouse.partition {
        out.push_str(&format!("warehouse: {} (partition {partition})\n", view.warehouse.table));
    }
    if let Some(high) = &view.disk_high_water {
        out.push_str(&format!("disk high-water: {} ({})\n", mib(high.bytes), high.stage.name()));
    }
    match (view.next_stage, &view.resume_command) {
        (Some(stage), Some(command)) => out.push_str(&format!("next: {} ({command})\n", stage.name())),
        _ => out.push_str("complete\n"),
    }
    out
}
