//! Waking the background jobs (the scheduler and the sender, run by the jobs loop) from the writes that
//! give them work.
//!
//! A write that adds a timer or queues a send says so on its transaction context as it does it
//! ([`super::Tx::timer_added`], [`super::Tx::send_added`], called by the repository functions that write
//! those rows); once its transaction has committed, [`Db::write`] and [`Db::write_blocking`] hand what it added to
//! [`Wakes::added`]. The scheduler is woken only when a timer
//! falls due before the moment it already plans to wake, the sender only when a send was queued. Most writes
//! (a new promise, whose reminders are hours or days away) wake nothing, where waking on every write made the
//! loops look at the database once per write.
//!
//! Writes made by another process (the CLI, another instance) are not seen here: the loops also wake on their own
//! at least every 30 seconds.
//!
//! [`Db::write`]: super::Db::write
//! [`Db::write_blocking`]: super::Db::write_blocking

use std::sync::atomic::{AtomicI64, Ordering};

use tokio::sync::Notify;

/// What one write added for the background loops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Added {
    /// The earliest fire time (ms) among the pending timers it wrote.
    pub earliest_timer: Option<i64>,
    /// Whether it queued a send.
    pub send: bool,
}

/// The background loops' alarm clocks, one set per database.
#[derive(Debug)]
pub struct Wakes {
    scheduler: Notify,
    sender: Notify,
    /// When the scheduler will wake on its own (ms); `i64::MAX` while it is awake, so that every timer added
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
        if added.earliest_timer.is_some_and(|at| at < self.scheduler_plan.load(Ordering::Acquire)) {
            self.scheduler.notify_one();
        }
        if added.send {
            self.sender.notify_one();
        }
    }

    /// The scheduler is awake and about to look: every timer added from now on wakes it again.
    fn scheduler_awake(&self) {
        self.scheduler_plan.store(i64::MAX, Ordering::Release);
    }

    /// Sleeps the scheduler until `at_ms` (by the caller's own timer) or until a timer is added that fires
    /// before then.
    pub async fn scheduler_sleeps_until(&self, at_ms: i64, timer: impl std::future::Future<Output = ()>) {
        self.scheduler_plan.store(at_ms, Ordering::Release);
        tokio::select! {
            _ = timer => {}
            _ = self.scheduler.notified() => {}
        }
        self.scheduler_awake();
    }

    /// Sleeps the sender until its timer ends or a send is queued.
    pub async fn sender_sleeps(&self, timer: impl std::future::Future<Output = ()>) {
        tokio::select! {
            _ = timer => {}
            _ = self.sender.notified() => {}
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
        wakes.added(Added { earliest_timer: Some(10_000), send: true });
        wakes.added(Added { earliest_timer: Some(60_000), send: false });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!asleep.is_finished(), "a timer at or after the plan woke the scheduler");
        wakes.added(Added { earliest_timer: Some(9_999), send: false });
        tokio::time::timeout(std::time::Duration::from_secs(5), asleep).await.expect("not woken").unwrap();
        // Awake, it is woken by any timer: the permit waits for its next sleep.
        wakes.added(Added { earliest_timer: Some(i64::MAX - 1), send: false });
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            wakes.scheduler_sleeps_until(20_000, std::future::pending()),
        )
        .await
        .expect("the permit left while awake did not end the next sleep");
    }
}
