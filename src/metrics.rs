//! Figures per stage: peak resident memory from /proc, measured without
//! touching the process's own high-water mark, and the largest reading of
//! any figure sampled beside a stage ([`MaxSampler`]).
//!
//! The kernel keeps one peak per process (`VmHWM`, what `/usr/bin/time`
//! reports at exit). Resetting it per stage (`/proc/self/clear_refs`) would
//! make every outside reading show the last stage only, so a stage's peak is
//! measured beside it instead ([`PeakSampler`]):
//!
//! 1. at the stage's start, note the process's `VmHWM`;
//! 2. while it runs, a thread reads `VmRSS` every 20 ms and keeps the largest;
//! 3. at the end: if `VmHWM` rose during the stage, the process's peak was
//!    reached in it, and that `VmHWM` is the stage's peak, exactly; otherwise
//!    the largest `VmRSS` seen (the current one included) is, to within a
//!    spike shorter than the sampling interval.
//!
//! Either way a stage's peak never exceeds the process's.
//!
//! The sampling thread itself is [`MaxSampler`], which the pipeline also
//! uses for the run directory's size on disk.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the sampler reads the resident memory.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// The process's peak resident memory (`VmHWM`) so far, in bytes.
pub fn process_peak_rss_bytes() -> Option<u64> {
    status_kib("VmHWM:").map(|kib| kib * 1024)
}

/// The process's resident memory (`VmRSS`) now, in bytes.
pub fn rss_bytes() -> Option<u64> {
    status_kib("VmRSS:").map(|kib| kib * 1024)
}

/// One `kB` figure of `/proc/self/status`; `None` without /proc.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What the sampling thread and its owner share.
struct Samples {
    state: Mutex<Sampled>,
    wake: Condvar,
    measure: Box<dyn Fn() -> Option<u64> + Send + Sync>,
}

#[derive(Default)]
struct Sampled {
    /// The largest reading.
    largest: u64,
    /// Set when the owner is done: the thread ends.
    stopped: bool,
}

impl Samples {
    fn largest(&self) -> u64 {
        self.state.lock().map_or(0, |s| s.largest)
    }

    /// Takes one reading.
    fn sample(&self) {
        if let Some(value) = (self.measure)() {
            if let Ok(mut state) = self.state.lock() {
                state.largest = state.largest.max(value);
            }
        }
    }

    /// Takes a reading every `every` until stopped.
    fn run(&self, every: Duration) {
        loop {
            self.sample();
            let Ok(state) = self.state.lock() else { return };
            if state.stopped {
                return;
            }
            match self.wake.wait_timeout(state, every) {
                Ok((state, _)) if !state.stopped => {}
                _ => return,
            }
        }
    }

    fn stop(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.stopped = true;
        }
        self.wake.notify_all();
    }
}

/// The largest reading of a figure (resident memory, a directory's size on
/// disk), taken on a thread of its own at a fixed interval from
/// [`start`](MaxSampler::start) until dropped, and once more whenever it is
/// asked for its [`largest`](MaxSampler::largest): a stage shorter than the
/// interval is still measured. Best effort: a reading that fails is skipped.
pub struct MaxSampler {
    samples: Arc<Samples>,
    thread: Option<JoinHandle<()>>,
}

impl MaxSampler {
    /// Takes a first reading of `measure` now, then one every `every` on a
    /// thread named `name`.
    pub fn start(name: &str, every: Duration, measure: impl Fn() -> Option<u64> + Send + Sync + 'static) -> MaxSampler {
        let samples = Arc::new(Samples { state: Mutex::default(), wake: Condvar::new(), measure: Box::new(measure) });
        samples.sample();
        let sampling = Arc::clone(&samples);
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || sampling.run(every)).ok();
        MaxSampler { samples, thread }
    }

    /// The largest reading so far, one taken now included; `None` when no
    /// reading was above 0.
    pub fn largest(&self) -> Option<u64> {
        self.samples.sample();
        Some(self.samples.largest()).filter(|n| *n > 0)
    }
}

impl Drop for MaxSampler {
    fn drop(&mut self) {
        self.samples.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The peak resident memory of one stage (see the module's doc), sampled on
/// a thread of its own from [`start`](PeakSampler::start) until dropped.
/// Best effort: without /proc, or without a thread, the readings it can get.
pub struct PeakSampler {
    rss: MaxSampler,
    hwm_at_start: Option<u64>,
}

impl PeakSampler {
    /// Starts sampling.
    pub fn start() -> PeakSampler {
        let hwm_at_start = process_peak_rss_bytes();
        PeakSampler { rss: MaxSampler::start("peak-rss", SAMPLE_EVERY, rss_bytes), hwm_at_start }
    }

    /// The peak since the start, in bytes; `None` without /proc.
    pub fn peak_bytes(&self) -> Option<u64> {
        let hwm_now = process_peak_rss_bytes();
        if let (Some(now), Some(start)) = (hwm_now, self.hwm_at_start) {
            if now > start {
                return Some(now);
            }
        }
        let sampled = self.rss.largest().unwrap_or(0);
        // A reading is never above the process's peak read after it.
        let peak = hwm_now.map_or(sampled, |hwm| sampled.min(hwm));
        (peak > 0).then_some(peak)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    /// Touches every page of `bytes` of fresh memory, so that it is resident.
    fn resident(bytes: usize) -> Vec<u8> {
        let mut block = vec![0u8; bytes];
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        std::hint::black_box(block)
    }

    #[test]
    fn a_max_sampler_keeps_the_largest_reading_and_reads_at_the_end() {
        let value = Arc::new(std::sync::atomic::AtomicU64::new(5));
        let read = Arc::clone(&value);
        let sampler = MaxSampler::start("test", Duration::from_millis(5), move || {
            Some(read.load(std::sync::atomic::Ordering::SeqCst))
        });
        value.store(40, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(30));
        value.store(7, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(sampler.largest(), Some(40));
        // A sampler whose interval never came round still reads at the end.
        let slow = MaxSampler::start("test", Duration::from_secs(3600), || Some(0));
        assert_eq!(slow.largest(), None);
        value.store(90, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(sampler.largest(), Some(90));
    }

    /// One test, so that no other test of this file allocates meanwhile.
    #[test]
    fn a_stage_peak_is_seen_without_resetting_the_process_peak() {
        let before = process_peak_rss_bytes().unwrap();
        let first = PeakSampler::start();
        let block = resident(96 * MIB);
        // Held for a few samples: a spike shorter than one may be missed.
        std::thread::sleep(SAMPLE_EVERY * 4);
        drop(block);
        let first_peak = first.peak_bytes().unwrap();
        drop(first);
        let after = process_peak_rss_bytes().unwrap();
        assert!(after >= before, "the process's peak went down: {before} -> {after}");
        assert!(first_peak <= after, "stage peak {first_peak} above the process's {after}");
        assert!(first_peak >= 96 * MIB as u64, "stage peak {first_peak} missed a 96 MiB block");

        // A later, smaller stage reports its own peak, not the process's.
        let second = PeakSampler::start();
        std::thread::sleep(SAMPLE_EVERY * 3);
        let second_peak = second.peak_bytes().unwrap();
        drop(second);
        assert!(second_peak + 64 * MIB as u64 <= first_peak, "second {second_peak}, first {first_peak}");
        assert!(process_peak_rss_bytes().unwrap() >= first_peak, "the process's peak was reset");
    }
}
