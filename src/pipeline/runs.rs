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
    match all(work_dir)?.into_iter().next() {
        None => Ok(None),
        Some(Listed { id, manifest: Ok(_), .. }) => Ok(Some(id)),
        Some(Listed { id, manifest: Err(source), .. }) => Err(PipelineError::LatestUnreadable { run_id: id, source }),
    }
}

/// One run of a work dir, as [`all`] lists it.
#[derive(Debug)]
pub struct Listed {
    /// The run id.
    pub id: String,
    /// When it was created: its manifest's time, or for a run whose manifest
    /// can't be read, the time in its generated id or its directory's.
    pub created_at: DateTime<Utc>,
    /// Its manifest, or why it can't be read.
    pub manifest: Result<Manifest, ManifestError>,
}

/// Every run of `work_dir` (directories holding a manifest), newest first:
/// the order [`latest`] goes by.
pub fn all(work_dir: &Path) -> Result<Vec<Listed>, PipelineError> {
    let mut runs = Vec::new();
    for id in rundir::run_ids(work_dir)? {
        let dir = work_dir.join(&id);
        let manifest = Manifest::load(&dir.join(rundir::MANIFEST));
        let created_at = match &manifest {
            Ok(manifest) => manifest.created_at,
            Err(_) => unreadable_run_created(&id, &dir),
        };
        runs.push(Listed { id, created_at, manifest });
    }
    // By the second (generated ids hold no finer time), an unreadable run
    // winning a tie: never passed over for a readable one of the same
    // moment; then by the exact time, then the id.
    runs.sort_by_cached_key(|run| {
        std::cmp::Reverse((run.created_at.timestamp(), run.manifest.is_err(), run.created_at, run.id.clone()))
    });
    Ok(runs)
}

/// Which runs `gc` removes: those past the `keep` newest, or created more
/// than `older_than` ago; given both, only the runs both select (a run is
/// kept when either rule keeps it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// How many of the newest runs are kept.
    pub keep: Option<usize>,
    /// Runs created longer ago than this are removed.
    pub older_than: Option<chrono::Duration>,
}

impl Retention {
    /// Whether the run at `position` in the list of [`all`] (0 is the
    /// newest), created at `created_at`, is to be removed at `now`. With no
    /// rule given, nothing is.
    pub fn removes(&self, position: usize, created_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        if self.keep.is_none() && self.older_than.is_none() {
            return false;
        }
        let past_kept = self.keep.is_none_or(|keep| position >= keep);
        let old = self.older_than.is_none_or(|age| now.signed_duration_since(created_at) > age);
        past_kept && old
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
    fn all_runs_are_listed_newest_first_an_unreadable_one_by_its_id() {
        let work = tempfile::tempdir().unwrap();
        save(work.path(), "b-named", "2017-01-01T00:00:00Z");
        save(work.path(), "a-named", "2017-01-03T00:00:00Z");
        let broken = save(work.path(), "20170102T000000Z-0001", "2017-01-02T00:00:00Z");
        std::fs::write(broken, "{").unwrap();
        std::fs::create_dir(work.path().join("not-a-run")).unwrap();
        let listed = all(work.path()).unwrap();
        let ids: Vec<&str> = listed.iter().map(|run| run.id.as_str()).collect();
        assert_eq!(ids, ["a-named", "20170102T000000Z-0001", "b-named"]);
        assert!(listed[1].manifest.is_err() && listed[0].manifest.is_ok());
        assert_eq!(listed[1].created_at, "2017-01-02T00:00:00Z".parse::<DateTime<Utc>>().unwrap());
    }

    #[test]
    fn retention_keeps_the_newest_or_the_young_and_with_both_removes_what_both_select() {
        let now: DateTime<Utc> = "2017-02-10T00:00:00Z".parse().unwrap();
        let days_ago = |days: i64| now - chrono::Duration::days(days);
        // Newest first, as `all` lists them: 0, 1, 5 and 9 days old.
        let runs = [days_ago(0), days_ago(1), days_ago(5), days_ago(9)];
        let removed = |retention: Retention| -> Vec<usize> {
            (0..runs.len()).filter(|&i| retention.removes(i, runs[i], now)).collect()
        };
        assert_eq!(removed(Retention { keep: Some(1), older_than: None }), [1, 2, 3]);
        assert_eq!(removed(Retention { keep: Some(0), older_than: None }), [0, 1, 2, 3]);
        assert_eq!(removed(Retention { keep: Some(9), older_than: None }), Vec::<usize>::new());
        let older_than = Some(chrono::Duration::days(4));
        assert_eq!(removed(Retention { keep: None, older_than }), [2, 3]);
        assert_eq!(removed(Retention { keep: Some(3), older_than }), [3]);
        assert_eq!(removed(Retention { keep: Some(1), older_than }), [2, 3]);
        // Exactly DAYS old is not more than DAYS.
        assert_eq!(removed(Retention { keep: None, older_than: Some(chrono::Duration::days(5)) }), [3]);
        assert_eq!(removed(Retention::default()), Vec::<usize>::new());
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
