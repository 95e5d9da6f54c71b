//! What every stage loop shares: who this process is (its lease owner name), its leases and
//! their renewal, when to wait and when to stop, and `imgpipe worker`, which serves several
//! stages at once until SIGTERM.
//!
//! A stage runs in one of three modes (see [`Mode`]). `Drain` (the one-shot commands and
//! `imgpipe run`) claims until the stage has no work left anywhere, waiting while other live
//! workers hold some. `Serve` (`imgpipe worker`) claims until told to stop, and sleeps when there
//! is no work: on PostgreSQL until a `NOTIFY` for the stage or the poll interval, on SQLite the
//! poll interval.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::blobstore::BlobStore;
use crate::store::{Result, Stage, Store};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Until the stage has no work left (one-shot commands).
    Drain,
    /// Until neither the stage nor any stage before it has work left (`worker
    /// --exit-when-idle`: work may still flow in from upstream).
    DrainPipeline,
    /// Until told to stop.
    Serve,
}

/// One process's view of the fleet.
#[derive(Clone)]
pub struct Context {
    pub store: Arc<Store>,
    pub blobs: BlobStore,
    /// Lease owner: `host:pid:process-start`, unique over time on one machine.
    pub owner: String,
    pub lease: Duration,
    pub poll: Duration,
    pub mode: Mode,
    pub quiet: bool,
    stop: watch::Receiver<bool>,
    stop_sender: Arc<watch::Sender<bool>>,
    wake: Arc<HashMap<Stage, Notify>>,
    /// Whether PostgreSQL notifications wake this process's stage loops (see [`Context::listen`]).
    listening: Arc<std::sync::atomic::AtomicBool>,
    /// When idle stage loops last looked for dead workers' leases to give back.
    dead_workers_checked: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

/// This process's lease owner name.
pub fn owner_name() -> String {
    format!(
        "{}:{}:{}",
        host_name(),
        std::process::id(),
        process_start(std::process::id()).unwrap_or(0)
    )
}

fn host_name() -> String {
    hostname::get()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}

/// A process's start time (clock ticks since boot, field 22 of /proc/PID/stat): with the pid
/// it names one process, even after the pid is reused.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    after_name.split(' ').nth(19)?.parse().ok()
}

/// Whether a lease owner named by [`owner_name`] on this machine has exited.
fn owner_is_dead_here(owner: &str) -> bool {
    let mut parts = owner.rsplitn(3, ':');
    let (Some(start), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if host != host_name() {
        return false;
    }
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    process_start(pid) != Some(start)
}

impl Context {
    pub fn new(
        store: Arc<Store>,
        blobs: BlobStore,
        lease: Duration,
        poll: Duration,
        mode: Mode,
        quiet: bool,
    ) -> Context {
        let (stop_sender, stop) = watch::channel(false);
        let wake = Stage::ALL.into_iter().map(|s| (s, Notify::new())).collect();
        Context {
            store,
            blobs,
            owner: owner_name(),
            lease,
            poll,
            mode,
            quiet,
            stop,
            stop_sender: Arc::new(stop_sender),
            wake: Arc::new(wake),
            listening: Arc::default(),
            dead_workers_checked: Arc::default(),
        }
    }

    fn listening(&self) -> bool {
        self.listening.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether an idle loop should look for dead workers now: at most once a third of a lease
    /// over all of this process's loops (each look is a statement per work table).
    fn due_to_look_for_dead_workers(&self) -> bool {
        let mut last = self
            .dead_workers_checked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let due = last.is_none_or(|at| at.elapsed() >= self.lease / 3);
        if due {
            *last = Some(std::time::Instant::now());
        }
        due
    }

    /// Called when a stage loop of this process ends: draining loops of later stages look
    /// again at once instead of at their next poll (their input may have ended with it).
    pub fn stage_ended(&self, stage: Stage) {
        for later in Stage::ALL.into_iter().filter(|later| *later > stage) {
            self.wake[&later].notify_one();
        }
    }

    pub fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Tells every stage loop of this process to stop claiming and finish what it holds.
    pub fn stop(&self) {
        let _ = self.stop_sender.send(true);
    }

    /// Claim batch size for a stage: a few items per thread.
    pub fn batch(&self, jobs: usize) -> usize {
        (jobs * 2).clamp(1, 64)
    }

    /// Gives back the leases of workers on this machine that died (kill -9) at once, instead
    /// of waiting for them to expire. Their temporaries are swept too.
    pub async fn recover_dead_local_workers(&self) -> Result<u64> {
        let prefix = format!("{}:", host_name());
        let dead: Vec<String> = self
            .store
            .lease_owners(&prefix)
            .await?
            .into_iter()
            .filter(|owner| *owner != self.owner && owner_is_dead_here(owner))
            .collect();
        if dead.is_empty() {
            return Ok(0);
        }
        tracing::info!("releasing the leases of dead workers {dead:?}");
        let released = self.store.release(&dead).await?;
        if released > 0 {
            // Nobody else announces their work again: wake the fleet's idle loops.
            self.store.notify_stages(&Stage::ALL).await?;
        }
        Ok(released)
    }

    /// Called when a claim came back empty: true when the stage loop should end (draining and
    /// no work is left anywhere, or told to stop); otherwise waits for work to appear.
    pub async fn idle(&self, stage: Stage) -> Result<bool> {
        if self.stopping() {
            return Ok(true);
        }
        let poll = match self.mode {
            Mode::Drain | Mode::DrainPipeline => {
                let mut busy = false;
                for other in Stage::ALL {
                    let watched =
                        other == stage || (self.mode == Mode::DrainPipeline && other < stage);
                    if watched && self.store.has_work(other).await? {
                        busy = true;
                        break;
                    }
                }
                if !busy {
                    return Ok(true);
                }
                // Others hold the rest: theirs to finish, or ours when their leases lapse.
                if self.due_to_look_for_dead_workers() {
                    self.recover_dead_local_workers().await?;
                }
                if self.listening() {
                    // Work arriving for this stage wakes it (NOTIFY), and so does an earlier
                    // stage's loop here ending; the poll only bounds a missed notification.
                    self.poll
                } else {
                    self.poll.min(Duration::from_millis(200))
                }
            }
            Mode::Serve => self.poll,
        };
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = self.wake[&stage].notified() => {}
            _ = stop.changed() => {}
        }
        Ok(self.stopping())
    }

    /// Renews this process's leases every third of the lease until dropped.
    pub fn heartbeat(&self) -> Heartbeat {
        let store = self.store.clone();
        let owner = self.owner.clone();
        let lease = self.lease;
        Heartbeat(tokio::spawn(async move {
            let mut tick = tokio::time::interval(lease / 3);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(error) = store.renew(&owner, lease).await {
                    tracing::warn!("renewing leases: {error}");
                }
            }
        }))
    }

    /// Wakes stage loops on PostgreSQL notifications until dropped (nothing on SQLite).
    pub async fn listen(&self, stages: &[Stage]) -> Result<Option<Heartbeat>> {
        let Some(mut listener) = self.store.listener(stages).await? else {
            return Ok(None);
        };
        let wake = self.wake.clone();
        self.listening
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(Some(Heartbeat(tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(notification) => {
                        if let Some(stage) = Stage::ALL
                            .into_iter()
                            .find(|s| s.channel() == notification.channel())
                        {
                            wake[&stage].notify_one();
                        }
                    }
                    Err(error) => {
                        tracing::warn!("listening for work: {error}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }))))
    }

    /// Runs a database step again (up to 5 times, with a short pause) while it fails in a way
    /// that may pass: a deadlock victim, a dropped connection.
    pub async fn retrying<T, F, Fut>(&self, mut step: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut tries = 0;
        loop {
            match step().await {
                Err(error) if error.is_transient() && tries < 5 => {
                    tries += 1;
                    tracing::warn!("{error} (trying again)");
                    tokio::time::sleep(Duration::from_millis(50 * tries)).await;
                }
                result => return result,
            }
        }
    }

    /// Counts a stage's outcome for the metrics endpoint.
    pub fn count(&self, stage: Stage, outcome: &'static str, n: u64) {
        metrics::counter!("imgpipe_items_total", "stage" => stage.name(), "outcome" => outcome)
            .increment(n);
    }

    /// Records results that were dropped because their lease was lost.
    pub fn lost(&self, stage: Stage, sent: usize, accepted: u64) {
        let lost = (sent as u64).saturating_sub(accepted);
        if lost > 0 {
            tracing::warn!(
                "{}: {lost} result(s) dropped: their lease was lost to another worker",
                stage.name()
            );
            metrics::counter!("imgpipe_lost_leases_total", "stage" => stage.name()).increment(lost);
        }
    }

    /// Sweeps temporaries that no live worker can be writing from a local store: those last
    /// modified before the oldest live lease was taken (less a margin for clocks), or, when no
    /// lease is live, all those older than this call (a writer claims before it writes).
    pub async fn sweep(&self, storage: &crate::storage::Storage) -> StageResult<u64> {
        let now = std::time::SystemTime::now();
        let cutoff = match self.store.oldest_live_lease().await? {
            Some(since_ms) => {
                let now_ms = self.store.now_ms().await?;
                let age = Duration::from_millis(now_ms.saturating_sub(since_ms).max(0) as u64);
                now - age - Duration::from_secs(2)
            }
            None => now,
        };
        Ok(storage.sweep(cutoff)?)
    }
}

/// A background task of the context, stopped when dropped.
pub struct Heartbeat(tokio::task::JoinHandle<()>);

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Errors that stop a stage loop (a failed item is recorded, not raised).
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("storage {0}")]
    Storage(#[from] crate::storage::StorageError),
    #[error("{0}")]
    Other(String),
}

pub type StageResult<T> = std::result::Result<T, StageError>;
