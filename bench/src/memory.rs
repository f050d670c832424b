//! Reading a process's memory and CPU time from /proc (Linux).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

fn status_field(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .ok_or_else(|| anyhow::anyhow!("no {field} in /proc/{pid}/status"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1).unwrap_or("0").parse()?;
    Ok(kilobytes * 1024)
}

/// Resident set size now, in bytes.
pub(crate) fn resident(pid: u32) -> anyhow::Result<u64> {
    status_field(pid, "VmRSS:")
}

/// The largest resident set size the process has had, in bytes.
pub(crate) fn high_water(pid: u32) -> anyhow::Result<u64> {
    status_field(pid, "VmHWM:")
}

/// CPU time the process has used so far (user and system, all threads), in
/// seconds. `/proc` counts it in `USER_HZ` ticks, 100 a second on Linux.
pub(crate) fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces; the fields after it do not. From
    // `state` (field 3) on, `utime` and `stime` are fields 14 and 15.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let mut fields = after_name.split_whitespace().skip(11);
    let mut next = || -> anyhow::Result<u64> {
        Ok(fields.next().ok_or_else(|| anyhow::anyhow!("short /proc/{pid}/stat"))?.parse()?)
    };
    let ticks = next()? + next()?;
    Ok(ticks as f64 / 100.0)
}

pub(crate) fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Samples a process's resident size in the background and keeps the largest.
pub(crate) struct Watcher {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    pub(crate) fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn({
            let (stop, peak) = (Arc::clone(&stop), Arc::clone(&peak));
            async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(now) = resident(pid) {
                        peak.fetch_max(now, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
        Self { stop, peak, task }
    }

    pub(crate) async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        self.peak.load(Ordering::Relaxed)
    }
}
