//! COPY of the rows' segment files over several warehouse sessions at once,
//! each taking the next segment not yet taken.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use postgres::GenericClient;

use super::copy::{self, SendError};
use super::distribution::{NotOurRows, RowShape, WithUserKey};
use super::error::{db_error, LoadError};
use super::feed::FeedReader;
use crate::bug::Bug;
use crate::matching::segment::Segment;
use crate::secret::SecretUrl;
use crate::table::TableName;

/// COPYs every segment of `feed` into `target` over `sessions` connections
/// of their own (each COPY commits by itself: `target` is not visible to
/// readers yet). Returns the rows loaded and the segments COPYed; the first
/// failure stops the rest.
pub(super) fn copy_all(
    warehouse: &SecretUrl,
    target: &TableName,
    shape: RowShape,
    feed: &FeedReader<'_>,
    sessions: u32,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<(u64, usize), LoadError> {
    let sessions = sessions.max(1) as usize;
    let stop = AtomicBool::new(false);
    let copied = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..sessions)
            .map(|_| scope.spawn(|| session(warehouse, target, shape, feed, &copied, &stop, on_bytes)))
            .collect();
        let mut rows = 0;
        let mut failure = None;
        for worker in workers {
            match worker.join() {
                Ok(Ok(n)) => rows += n,
                Ok(Err(error)) => {
                    failure.get_or_insert(error);
                }
                Err(_) => {
                    failure.get_or_insert(Bug::new("a COPY session panicked").into());
                }
            }
        }
        failure.map_or(Ok((rows, copied.load(Ordering::Relaxed))), Err)
    })
}

fn session(
    warehouse: &SecretUrl,
    target: &TableName,
    shape: RowShape,
    feed: &FeedReader<'_>,
    copied: &AtomicUsize,
    stop: &AtomicBool,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<u64, LoadError> {
    let result = (|| {
        let mut client = crate::db::connect(warehouse, "warehouse")?;
        let mut rows = 0;
        while !stop.load(Ordering::Relaxed) {
            crate::stop::check()?;
            let Some(segment) = feed.next().filter(|_| !stop.load(Ordering::Relaxed)) else { break };
            rows += copy_segment(&mut client, target, shape, &segment, on_bytes)?;
            copied.fetch_add(1, Ordering::Relaxed);
        }
        Ok(rows)
    })();
    if result.is_err() {
        stop.store(true, Ordering::Relaxed);
    }
    result
}

/// COPYs one segment file into `target`, its rows given the columns of
/// `shape`; returns the rows COPY took.
pub(super) fn copy_segment(
    client: &mut impl GenericClient,
    target: &TableName,
    shape: RowShape,
    segment: &Segment,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Result<u64, LoadError> {
    let statement = format!("COPY {} ({}) FROM STDIN (FORMAT binary)", target.quoted(), shape.column_list());
    let mut writer = client.copy_in(&statement).map_err(db_error("starting COPY into", target))?;
    let sent = match shape {
        RowShape::AsWritten => copy::send_segment(segment, &mut writer, on_bytes),
        RowShape::WithUserKey => {
            let mut keyed = WithUserKey::new(&mut writer);
            copy::send_segment(segment, &mut keyed, on_bytes).and_then(|()| {
                keyed
                    .finish()
                    .map(drop)
                    .map_err(|e| SendError::Write(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
            })
        }
    };
    match sent {
        Ok(()) => {}
        // Dropped unfinished, the COPY is cancelled: none of the file's rows stay.
        Err(SendError::Damaged(damaged)) => return Err(damaged.into()),
        Err(SendError::Interrupted(interrupted)) => return Err(interrupted.into()),
        Err(SendError::Read(source)) => return Err(LoadError::Io { path: segment.path.clone(), source }),
        // The file is what match wrote (send_segment checked it) yet not rows
        // as match writes them: a bug, and the COPY is dropped, never ended.
        Err(SendError::Write(source)) if source.get_ref().is_some_and(|e| e.is::<NotOurRows>()) => {
            return Err(Bug::new(format!("{}: {source}", segment.path.display())).into())
        }
        // A write fails when the server ended the COPY: its reason comes with finish.
        Err(SendError::Write(source)) => {
            return Err(match writer.finish() {
                Err(error) => db_error("COPY into", target)(error),
                Ok(_) => LoadError::Io { path: segment.path.clone(), source },
            })
        }
    }
    writer.finish().map_err(db_error("COPY into", target))
}
