//! Background work as typed jobs, run by one loop.
//!
//! Tendero has two queues, both tables whose rows are claimed with a lease ([`crate::repo::lease`]): the timers
//! (the moments a promise reminds, prompts, escalates or is judged), fired by the scheduler, and the outbound
//! sends (webhook POSTs and emails), attempted by the sender. Each is a [`Job`]: it says when its earliest pending
//! row is due, handles what is due now, and names the alarm a write rings when it adds work for it
//! ([`crate::db::wakes`]). [`run`] is the loop both share: look, work when due, otherwise sleep until the next due
//! time or an alarm; a pass that fails or panics is logged and retried, so one bad row never stops the queue.
//! Tests call a job's [`Job::run_due`] by hand instead of running the loop.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration as StdDuration;

use futures_util::FutureExt;

use crate::clock::Clock;
use crate::db::Db;
use crate::error::AppError;

/// Which alarm wakes a job's loop early (see [`crate::db::wakes::Wakes::added`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alarm {
    /// Rung when a write adds a timer due before the scheduler's planned wake-up.
    Timers,
    /// Rung when a write queues a send.
    Sends,
}

/// One kind of background work over a leased queue.
pub trait Job {
    /// The name in logs.
    const NAME: &'static str;
    /// The alarm that wakes this job when a write gives it work.
    const ALARM: Alarm;

    /// The database the queue lives in.
    fn db(&self) -> &Db;

    /// The clock due times are read against.
    fn clock(&self) -> &Clock;

    /// When the earliest pending row is due (ms), if any; read without a lease, so an idle loop's wake-up costs
    /// one read instead of a write.
    fn next_due(&self) -> impl Future<Output = Result<Option<i64>, AppError>>;

    /// Claims and handles everything due now; returns how many rows it handled (0 when what is due is leased
    /// by another instance).
    fn run_due(&self) -> impl Future<Output = Result<usize, AppError>>;
}

/// How long a failed pass waits before the loop looks again.
const RETRY: StdDuration = StdDuration::from_millis(500);

/// The longest a loop sleeps: it bounds how long work written by another process (the CLI, another instance)
/// waits, since only this process's writes ring the alarms.
const LONGEST_SLEEP: StdDuration = StdDuration::from_secs(30);

/// Runs `job` until the process stops.
pub async fn run<J: Job>(job: J) {
    let (db, clock) = (job.db().clone(), job.clock().clone());
    loop {
        let looked_at = clock.now().timestamp_millis();
        let Some(next) = guarded::<J, _>("looking for pending work", job.next_due()).await else { continue };
        if next.is_some_and(|at| at <= looked_at) {
            // Due work it could not claim is leased by another instance (or by one that died, until its lease
            // ends): wait a moment for the lease instead of spinning on claims.
            if guarded::<J, _>("a pass", job.run_due()).await == Some(0) {
                tokio::time::sleep(StdDuration::from_millis(100)).await;
            }
            continue;
        }
        let timer = tokio::time::sleep(clock.sleep_before(next, LONGEST_SLEEP));
        match J::ALARM {
            Alarm::Timers => db.wakes().scheduler_sleeps_until(next.unwrap_or(i64::MAX), timer).await,
            Alarm::Sends => db.wakes().sender_sleeps(timer).await,
        }
    }
}

/// Awaits one step of a job; a step that fails or panics is logged and waited on for [`RETRY`], and gives `None`.
/// A panic mid-pass rolled its transaction back: the rows it held are claimed again when their lease ends.
async fn guarded<J: Job, T>(step: &str, work: impl Future<Output = Result<T, AppError>>) -> Option<T> {
    let failure = match AssertUnwindSafe(work).catch_unwind().await {
        Ok(Ok(done)) => return Some(done),
        Ok(Err(e)) => e.to_string(),
        Err(panic) => format!("panicked: {}", panic_text(&panic)),
    };
    tracing::error!(error = %failure, "{}: {step} failed; retrying shortly", J::NAME);
    tokio::time::sleep(RETRY).await;
    None
}

/// The message of a caught panic, for the log.
fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_panic_reads_as_its_message() {
        let caught = std::panic::catch_unwind(|| panic!("row 7 is corrupt")).expect_err("it panicked");
        assert_eq!(panic_text(&caught), "row 7 is corrupt");
        let caught = std::panic::catch_unwind(|| std::panic::panic_any(7_u8)).expect_err("it panicked");
        assert_eq!(panic_text(&caught), "a panic without a message");
    }
}
