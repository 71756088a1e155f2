//! A write in progress, passed explicitly to everything that writes: the connection of its transaction, and
//! what the write adds beyond its rows, visible in the code that writes rather than held on the thread.
//!
//! - wakes: the earliest pending timer and whether a send was queued, handed to the background loops
//!   after the commit ([`super::Wakes::added`]);
//! - rollup changes: inside a writer's group they are held back and written once, summed, before the group
//!   commits (see `repo::metrics`); in a transaction of its own they are written as they come;
//! - what a repository function read once for the whole group (the active webhook subscriptions: every create and
//!   ledger event asks which subscriptions want it, and they change rarely), kept in a slot the repository owns.
//!
//! A `Tx` dereferences to the connection, so reads and plain writes take it where they take a `&mut DbConn`.

use std::ops::{Deref, DerefMut};

use super::wakes::Added;
use super::DbConn;
use crate::domain::metrics::RollupChange;

/// What the jobs of one writer's group share. A job that fails forgets what it held (its savepoint is rolled
/// back with its rows).
#[derive(Default)]
pub struct Group {
    /// Rollup changes held back until the group commits; `None` in a transaction of its own (written at once).
    pub rollups: Option<Vec<RollupChange>>,
    /// What a repository read once for the group (see `repo::subscriptions::active`); `None` when not
    /// read yet, or forgotten after a change or a failed job. Typed by its owner, so this layer does not know
    /// the rows it holds.
    pub memo: Option<Box<dyn std::any::Any + Send>>,
}

impl Group {
    /// The state of a group-commit writer's group: rollups held back.
    pub fn holding() -> Self {
        Group { rollups: Some(Vec::new()), memo: None }
    }
}

/// A write in progress.
pub struct Tx<'a> {
    conn: &'a mut DbConn,
    group: &'a mut Group,
    added: Added,
}

impl<'a> Tx<'a> {
    /// A write on `conn`, inside `group`.
    pub fn new(conn: &'a mut DbConn, group: &'a mut Group) -> Self {
        Tx { conn, group, added: Added::default() }
    }

    /// Runs `f` as a write of its own on `conn` (already in a transaction): rollups written as they come. For
    /// loaders that write rows the way the service does (the benches, the scale tests). Answers what it added.
    pub fn scoped<T>(conn: &mut DbConn, f: impl FnOnce(&mut Tx<'_>) -> T) -> (T, Added) {
        let mut group = Group::default();
        let mut tx = Tx::new(conn, &mut group);
        let value = f(&mut tx);
        (value, tx.added)
    }

    /// Records that this write added a pending timer that fires at `at_ms`.
    pub fn timer_added(&mut self, at_ms: i64) {
        let earliest = self.added.earliest_timer.map_or(at_ms, |earliest| earliest.min(at_ms));
        self.added.earliest_timer = Some(earliest);
    }

    /// Records that this write queued a send.
    pub fn send_added(&mut self) {
        self.added.send = true;
    }

    /// What this write added so far.
    pub fn added(&self) -> Added {
        self.added
    }

    /// The group's shared state.
    pub fn group(&mut self) -> &mut Group {
        self.group
    }

    /// The connection and the group's state at once (a repository function that reads and then holds).
    pub fn parts(&mut self) -> (&mut DbConn, &mut Group) {
        (self.conn, self.group)
    }
}

impl Deref for Tx<'_> {
    type Target = DbConn;
    fn deref(&self) -> &DbConn {
        self.conn
    }
}

impl DerefMut for Tx<'_> {
    fn deref_mut(&mut self) -> &mut DbConn {
        self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::Connection;

    #[test]
    fn a_write_records_its_earliest_timer_and_whether_it_queued_a_send() {
        let mut conn = DbConn::establish(":memory:").expect("an in-memory SQLite connection");
        let ((), added) = Tx::scoped(&mut conn, |tx| {
            tx.timer_added(5_000);
            tx.timer_added(3_000);
            tx.timer_added(9_000);
        });
        assert_eq!(added, Added { earliest_timer: Some(3_000), send: false });
        let ((), added) = Tx::scoped(&mut conn, |tx| tx.send_added());
        assert_eq!(added, Added { earliest_timer: None, send: true });
        // Nothing carries over to the next write.
        let ((), added) = Tx::scoped(&mut conn, |_| ());
        assert_eq!(added, Added::default());
    }
}
