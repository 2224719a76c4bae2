//! The runs of a work dir: which one a command acts on when none is named.

use std::path::Path;

use chrono::{DateTime, NaiveDateTime, Utc};

use super::error::PipelineError;
use crate::manifest::{Manifest, ManifestError};
use crate::rundir;
use crate::settings::ConfigError;

/// The run a command acts on: `id` when given, else the latest run of `work_dir`.
pub fn chosen(work_dir: &Path, id: Option<&str>) -> Result<String, PipelineError> {
    if let Some(id) = id {
        return Ok(id.to_string());
    }
    let latest = latest(work_dir)?;
    latest.ok_or_else(|| {
        ConfigError::NoRun(format!("no run in work dir {}; start one with `vendor-match run`", work_dir.display()))
            .into()
    })
}

/// The run created last in `work_dir`, if any. Named runs (`run --run-id`)
/// don't sort by age, so this goes by the manifests' creation times. A run
/// whose manifest can't be read is placed by the time in its generated id, or
/// else by its directory's creation time; if it is the latest, that is an
/// error naming it, never a reason to act on an older run.
pub fn latest(work_dir: &Path) -> Result<Option<String>, PipelineError> {
    let mut runs = Vec::new();
    for id in rundir::run_ids(work_dir)? {
        let dir = work_dir.join(&id);
        match Manifest::load(&dir.join(rundir::MANIFEST)) {
            Ok(manifest) => runs.push((manifest.created_at, id, None)),
            Err(error) => runs.push((unreadable_run_created(&id, &dir), id, Some(error))),
        }
    }
    // By the second (generated ids hold no finer time), an unreadable run
    // winning a tie: never passed over for a readable one of the same
    // moment; then by the exact time, then the id.
    let order = |run: &(DateTime<Utc>, String, Option<ManifestError>)| {
        (run.0.timestamp(), run.2.is_some(), run.0, run.1.clone())
    };
    match runs.into_iter().max_by_key(order) {
        None => Ok(None),
        Some((_, id, None)) => Ok(Some(id)),
        Some((_, id, Some(source))) => Err(PipelineError::LatestUnreadable { run_id: id, source }),
    }
}

/// When a run whose manifest can't be read was created: the time in a
/// generated id (`20170102T030405Z-abcd`), else the directory's creation
/// (or, where the file system keeps none, modification) time.
fn unreadable_run_created(id: &str, dir: &Path) -> DateTime<Utc> {
    let stamp = id.split('-').next().unwrap_or_default();
    if let Ok(time) = NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ") {
        return time.and_utc();
    }
    std::fs::metadata(dir)
        .and_then(|meta| meta.created().or_else(|_| meta.modified()))
        .map(DateTime::<Utc>::from)
        // Unknown: counted as newest, so that it is named rather than passed over.
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn save(work_dir: &Path, id: &str, created: &str) -> std::path::PathBuf {
        let mut manifest = Manifest::example(id);
        manifest.created_at = created.parse().unwrap();
        let dir = work_dir.join(id);
        std::fs::create_dir_all(&dir).unwrap();
        manifest.save(&dir.join(rundir::MANIFEST)).unwrap();
        dir.join(rundir::MANIFEST)
    }

    #[test]
    fn the_latest_run_is_chosen_by_creation_time() {
        let work = tempfile::tempdir().unwrap();
        save(work.path(), "b-named", "2017-01-01T00:00:00Z");
        save(work.path(), "a-named", "2017-01-02T00:00:00Z");
        assert_eq!(latest(work.path()).unwrap().as_deref(), Some("a-named"));
    }

    #[test]
    fn an_unreadable_latest_run_is_an_error_naming_it_never_an_older_run() {
        let work = tempfile::tempdir().unwrap();
        save(work.path(), "20160101T000000Z-0001", "2016-01-01T00:00:00Z");
        let newest = save(work.path(), "20170101T000000Z-0002", "2017-01-01T00:00:00Z");
        let text = std::fs::read_to_string(&newest).unwrap();
        std::fs::write(&newest, text.replace("2017-01-01", "2016-01-01")).unwrap();
        let error = latest(work.path()).unwrap_err();
        assert!(
            matches!(&error, PipelineError::LatestUnreadable { run_id, .. } if run_id == "20170101T000000Z-0002"),
            "{error:?}"
        );
        // Made in the same second as a readable run, it still wins.
        save(work.path(), "20170101T000000Z-0003", "2017-01-01T00:00:00.900Z");
        assert!(matches!(latest(work.path()), Err(PipelineError::LatestUnreadable { .. })));
        std::fs::remove_dir_all(work.path().join("20170101T000000Z-0003")).unwrap();
        // An older run whose manifest can't be read does not stand in the way.
        std::fs::write(&newest, text).unwrap();
        std::fs::write(work.path().join("20160101T000000Z-0001").join(rundir::MANIFEST), "{").unwrap();
        assert_eq!(latest(work.path()).unwrap().as_deref(), Some("20170101T000000Z-0002"));
    }
}
