//! Waking the background loops (scheduler and sender) from the writes that give them work.
//!
//! A write that adds a delivery or queues a message says so on its transaction context as it does it
//! ([`super::Tx::delivery_added`], [`super::Tx::message_added`], called by the repository functions that write
//! those rows); once its transaction has committed, [`Db::write`] and [`Db::write_blocking`] hand what it added to
//! [`Wakes::added`]. The scheduler is woken only when a delivery
//! falls due before the moment it already plans to wake, the sender only when a message was queued. Most writes
//! (a new promise, whose reminders are hours or days away) wake nothing, where waking on every write made the
//! loops look at the database once per write.
//!
//! Writes made by another process (the CLI, another instance) are not seen here: the loops also wake on their own
//! at least every 30 seconds.
//!
//! [`Db::write`]: super::Db::write
//! [`Db::write_blocking`]: super::Db::write_blocking

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration as StdDuration;

use tokio::sync::Notify;

use super::Db;
use crate::clock::Clock;
use crate::error::AppError;

/// What one write added for the background loops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Added {
    /// The earliest fire time (ms) among the pending deliveries it wrote.
    pub earliest_delivery: Option<i64>,
    /// Whether it queued a message.
    pub message: bool,
}

/// The background loops' alarm clocks, one set per database.
#[derive(Debug)]
pub struct Wakes {
    scheduler: Notify,
    sender: Notify,
    /// When the scheduler will wake on its own (ms); `i64::MAX` while it is awake, so that every delivery added
    /// meanwhile makes it look again before it sleeps.
    scheduler_plan: AtomicI64,
}

impl Default for Wakes {
    fn default() -> Self {
        Self { scheduler: Notify::new(), sender: Notify::new(), scheduler_plan: AtomicI64::new(i64::MAX) }
    }
}

impl Wakes {
    /// Wakes the loops that a committed write gave work to.
    pub fn added(&self, added: Added) {
        if added.earliest_delivery.is_some_and(|at| at < self.scheduler_plan.load(Ordering::Acquire)) {
            self.scheduler.notify_one();
        }
        if added.message {
            self.sender.notify_one();
        }
    }

    /// The scheduler is awake and about to look: every delivery added from now on wakes it again.
    fn scheduler_awake(&self) {
        self.scheduler_plan.store(i64::MAX, Ordering::Release);
    }

    /// Sleeps the scheduler until `at_ms` (by the caller's own timer) or until a delivery is added that fires
    /// before then.
    pub async fn scheduler_sleeps_until(&self, at_ms: i64, timer: impl std::future::Future<Output = ()>) {
        self.scheduler_plan.store(at_ms, Ordering::Release);
        tokio::select! {
            _ = timer => {}
            _ = self.scheduler.notified() => {}
        }
        self.scheduler_awake();
    }

    /// Sleeps the sender until its timer ends or a message is queued.
    pub async fn sender_sleeps(&self, timer: impl std::future::Future<Output = ()>) {
        tokio::select! {
            _ = timer => {}
            _ = self.sender.notified() => {}
        }
    }
}

/// Which background loop runs [`run_forever`]: it decides the alarm it sleeps on and names it in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Worker {
    /// Fires due deliveries.
    Scheduler,
    /// Sends queued messages.
    Sender,
}

impl std::fmt::Display for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Worker::Scheduler => "scheduler",
            Worker::Sender => "sender",
        })
    }
}

/// The loop of both background workers, until the process stops: `look` reads the earliest pending time; when that
/// is now, `work` claims and handles what is due and says how much it handled; otherwise the loop sleeps until that
/// time (at most 30 s, which bounds how long work written by another process waits) or until a write adds work for
/// it ([`Wakes::added`]). Looking first keeps an idle worker's wake-up to one read instead of a write.
pub async fn run_forever<L, LF, W, WF>(db: &Db, clock: &Clock, worker: Worker, look: L, work: W)
where
    L: Fn() -> LF,
    LF: Future<Output = Result<Option<i64>, AppError>>,
    W: Fn() -> WF,
    WF: Future<Output = Result<usize, AppError>>,
{
    let retry = || tokio::time::sleep(StdDuration::from_millis(500));
    loop {
        let looked_at = clock.now().timestamp_millis();
        let next = match look().await {
            Ok(next) => next,
            Err(e) => {
                tracing::error!(error = %e, "{worker} could not look for pending work; retrying shortly");
                retry().await;
                continue;
            }
        };
        if next.is_some_and(|at| at <= looked_at) {
            match work().await {
                // Due work it could not claim is leased by another instance (or by one that died, until its lease
                // ends): wait a moment for the lease instead of spinning on claims.
                Ok(0) => tokio::time::sleep(StdDuration::from_millis(100)).await,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "{worker} pass failed; retrying shortly");
                    retry().await;
                }
            }
            continue;
        }
        let timer = tokio::time::sleep(clock.sleep_before(next, StdDuration::from_secs(30)));
        match worker {
            Worker::Scheduler => db.wakes().scheduler_sleeps_until(next.unwrap_or(i64::MAX), timer).await,
            Worker::Sender => db.wakes().sender_sleeps(timer).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_scheduler_is_woken_only_by_deliveries_earlier_than_its_plan() {
        let wakes = std::sync::Arc::new(Wakes::default());
        let asleep = {
            let wakes = wakes.clone();
            tokio::spawn(async move {
                wakes.scheduler_sleeps_until(10_000, std::future::pending()).await;
            })
        };
        // Let it store its plan and start waiting.
        while wakes.scheduler_plan.load(Ordering::Acquire) != 10_000 {
            tokio::task::yield_now().await;
        }
        wakes.added(Added { earliest_delivery: Some(10_000), message: true });
        wakes.added(Added { earliest_delivery: Some(60_000), message: false });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!asleep.is_finished(), "a delivery at or after the plan woke the scheduler");
        wakes.added(Added { earliest_delivery: Some(9_999), message: false });
        tokio::time::timeout(std::time::Duration::from_secs(5), asleep).await.expect("not woken").unwrap();
        // Awake, it is woken by any delivery: the permit waits for its next sleep.
        wakes.added(Added { earliest_delivery: Some(i64::MAX - 1), message: false });
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            wakes.scheduler_sleeps_until(20_000, std::future::pending()),
        )
        .await
        .expect("the permit left while awake did not end the next sleep");
    }
}
