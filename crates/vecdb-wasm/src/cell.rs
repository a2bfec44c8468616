//! [`WriteCell`]: how one database handle is shared by JavaScript calls that overlap.
//!
//! JavaScript may start a write without awaiting the previous one (`db.insert(1, ..); db.insert(2, ..)`), and may
//! call a synchronous read (`db.search`) while a write is in flight. The database's writes take `&mut self` across
//! `await`s, so the cell:
//! - runs writes one at a time, **in the order they were called** (a FIFO of waiting writers), each holding the
//!   database as a [`Lease`] for its whole duration, `await`s included;
//! - answers a read with [`WasmError::Busy`] while any write is pending (called and not finished: queued or
//!   running), so a read never waits, never sees a half-applied write, and behaves the same whether or not the
//!   pending write's task has started yet;
//! - refuses a write when [`PENDING_WRITES_MAX`] are already queued ([`WasmError::TooManyPendingWrites`]);
//! - after [`Lease::close`], answers every call with [`WasmError::Closed`].
//!
//! Single-threaded (`Rc`, `RefCell`), like the browser. No `RefCell` borrow is held across an `await`: a lease
//! takes the value out of the cell and puts it back when dropped (also when its future is dropped half-way).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::error::WasmError;

/// Most writes queued on one handle (the one running included); more are refused until some finish.
pub const PENDING_WRITES_MAX: usize = 1024;

enum Slot<T> {
    /// Free to read or lease.
    Ready(T),
    /// A writer holds it.
    Leased,
    /// Closed for good.
    Closed,
}

struct Queue {
    /// Whether a lease is out (its writer has not finished).
    held: bool,
    /// Waiting writers in call order, by ticket, with the waker of their last poll.
    waiting: VecDeque<(u64, Option<Waker>)>,
    next_ticket: u64,
}

/// A value shared by overlapping calls: FIFO writers with exclusive leases, synchronous readers (see the module).
pub struct WriteCell<T> {
    slot: RefCell<Slot<T>>,
    queue: RefCell<Queue>,
}

impl<T> WriteCell<T> {
    /// A cell holding `value`.
    pub fn new(value: T) -> Rc<Self> {
        Rc::new(Self {
            slot: RefCell::new(Slot::Ready(value)),
            queue: RefCell::new(Queue { held: false, waiting: VecDeque::new(), next_ticket: 0 }),
        })
    }

    /// Runs `read` on the value now.
    ///
    /// # Errors
    /// [`WasmError::Busy`] while a write is pending (queued or holding the value), [`WasmError::Closed`] after
    /// [`Lease::close`].
    pub fn read<R>(&self, read: impl FnOnce(&T) -> R) -> Result<R, WasmError> {
        let slot = self.slot.borrow();
        if matches!(*slot, Slot::Ready(_)) && self.pending_writes() > 0 {
            return Err(WasmError::Busy);
        }
        match &*slot {
            Slot::Ready(value) => Ok(read(value)),
            Slot::Leased => Err(WasmError::Busy),
            Slot::Closed => Err(WasmError::Closed),
        }
    }

    /// Writes queued or running.
    pub fn pending_writes(&self) -> usize {
        let queue = self.queue.borrow();
        queue.waiting.len() + usize::from(queue.held)
    }

    /// Waits for this writer's turn (after every write called before it), then leases the value.
    ///
    /// The place in the queue is taken when this is called, not when the future is first polled.
    ///
    /// # Errors
    /// [`WasmError::TooManyPendingWrites`] (at once), [`WasmError::Closed`] (at once, or when the turn comes).
    pub fn write(self: &Rc<Self>) -> Result<WaitTurn<T>, WasmError> {
        if matches!(*self.slot.borrow(), Slot::Closed) {
            return Err(WasmError::Closed);
        }
        let pending = self.pending_writes();
        if pending >= PENDING_WRITES_MAX {
            return Err(WasmError::TooManyPendingWrites { pending, limit: PENDING_WRITES_MAX });
        }
        let mut queue = self.queue.borrow_mut();
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        queue.waiting.push_back((ticket, None));
        Ok(WaitTurn { cell: Rc::clone(self), ticket, done: false })
    }

    /// Wakes the first waiting writer, if the value is free.
    fn wake_next(&self) {
        let queue = self.queue.borrow();
        if !queue.held {
            if let Some((_, Some(waker))) = queue.waiting.front() {
                waker.wake_by_ref();
            }
        }
    }

    fn finish_lease(&self, value: Option<T>) {
        {
            let mut slot = self.slot.borrow_mut();
            if matches!(*slot, Slot::Leased) {
                *slot = value.map_or(Slot::Closed, Slot::Ready);
            }
        }
        self.queue.borrow_mut().held = false;
        self.wake_next();
    }
}

/// A writer waiting for its turn: resolves to a [`Lease`], or to [`WasmError::Closed`] when the cell was closed by
/// an earlier writer. Dropping it gives up its place.
pub struct WaitTurn<T> {
    cell: Rc<WriteCell<T>>,
    ticket: u64,
    done: bool,
}

impl<T> Future for WaitTurn<T> {
    type Output = Result<Lease<T>, WasmError>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let cell = Rc::clone(&this.cell);
        let mut queue = cell.queue.borrow_mut();
        let first = queue.waiting.front().map(|(ticket, _)| *ticket);
        if queue.held || first != Some(this.ticket) {
            if let Some(entry) = queue.waiting.iter_mut().find(|(ticket, _)| *ticket == this.ticket) {
                entry.1 = Some(context.waker().clone());
            }
            return Poll::Pending;
        }
        queue.waiting.pop_front();
        this.done = true;
        let taken = std::mem::replace(&mut *cell.slot.borrow_mut(), Slot::Leased);
        match taken {
            Slot::Ready(value) => {
                queue.held = true;
                Poll::Ready(Ok(Lease { cell: Rc::clone(&cell), value: Some(value) }))
            }
            other => {
                // Closed by an earlier writer: stay closed, and let the next writer find out too.
                *cell.slot.borrow_mut() = other;
                drop(queue);
                cell.wake_next();
                Poll::Ready(Err(WasmError::Closed))
            }
        }
    }
}

impl<T> Drop for WaitTurn<T> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.cell.queue.borrow_mut().waiting.retain(|(ticket, _)| *ticket != self.ticket);
        self.cell.wake_next();
    }
}

/// Exclusive use of the value for one write. Dropping it puts the value back and wakes the next writer.
pub struct Lease<T> {
    cell: Rc<WriteCell<T>>,
    value: Option<T>,
}

impl<T> Lease<T> {
    /// The value.
    ///
    /// # Errors
    /// [`WasmError::Closed`] (never in practice: the value is there until the lease is dropped or closed).
    pub fn value(&mut self) -> Result<&mut T, WasmError> {
        self.value.as_mut().ok_or(WasmError::Closed)
    }

    /// Drops the value (closing what it holds) and closes the cell: every later call gets [`WasmError::Closed`].
    pub fn close(mut self) {
        drop(self.value.take());
    }
}

impl<T> Drop for Lease<T> {
    fn drop(&mut self) {
        self.cell.finish_lease(self.value.take());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn poll<F: Future + Unpin>(future: &mut F, waker: &Arc<CountingWaker>) -> Poll<F::Output> {
        let waker = Waker::from(Arc::clone(waker));
        Pin::new(future).poll(&mut Context::from_waker(&waker))
    }

    fn ready<T>(poll: Poll<T>) -> T {
        match poll {
            Poll::Ready(value) => value,
            Poll::Pending => panic!("expected Ready"),
        }
    }

    #[test]
    fn writers_get_their_turns_in_call_order() {
        let cell = WriteCell::new(Vec::<u32>::new());
        let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let mut turns: Vec<_> = (0..3).map(|_| cell.write().unwrap()).collect();
        assert_eq!(cell.pending_writes(), 3);
        // The last caller is polled first and still waits.
        assert!(poll(&mut turns[2], &waker).is_pending());
        assert!(poll(&mut turns[1], &waker).is_pending());
        let mut first = ready(poll(&mut turns[0], &waker)).unwrap();
        first.value().unwrap().push(0);
        assert!(poll(&mut turns[1], &waker).is_pending(), "the lease is still out");
        let woken = waker.0.load(Ordering::Relaxed);
        drop(first);
        assert_eq!(waker.0.load(Ordering::Relaxed), woken + 1, "releasing wakes the next writer");
        assert!(poll(&mut turns[2], &waker).is_pending(), "not its turn yet");
        let mut second = ready(poll(&mut turns[1], &waker)).unwrap();
        second.value().unwrap().push(1);
        drop(second);
        let mut third = ready(poll(&mut turns[2], &waker)).unwrap();
        third.value().unwrap().push(2);
        drop(third);
        assert_eq!(cell.read(Clone::clone).unwrap(), vec![0, 1, 2]);
        assert_eq!(cell.pending_writes(), 0);
    }

    #[test]
    fn a_read_while_a_write_is_pending_is_busy_and_sees_the_value_after() {
        let cell = WriteCell::new(1_u32);
        let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let mut turn = cell.write().unwrap();
        assert!(matches!(cell.read(|value| *value), Err(WasmError::Busy)), "queued, not yet leased");
        let mut lease = ready(poll(&mut turn, &waker)).unwrap();
        *lease.value().unwrap() = 2;
        assert!(matches!(cell.read(|value| *value), Err(WasmError::Busy)));
        drop(lease);
        assert_eq!(cell.read(|value| *value).unwrap(), 2);
    }

    #[test]
    fn a_writer_that_gives_up_its_place_does_not_block_the_next() {
        let cell = WriteCell::new(0_u32);
        let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let abandoned = cell.write().unwrap();
        let mut next = cell.write().unwrap();
        assert!(poll(&mut next, &waker).is_pending());
        drop(abandoned);
        assert!(waker.0.load(Ordering::Relaxed) >= 1, "the next writer is woken");
        assert!(ready(poll(&mut next, &waker)).is_ok());
    }

    #[test]
    fn a_lease_dropped_half_way_puts_the_value_back() {
        let cell = WriteCell::new(5_u32);
        let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let mut turn = cell.write().unwrap();
        let lease = ready(poll(&mut turn, &waker)).unwrap();
        drop(lease);
        assert_eq!(cell.read(|value| *value).unwrap(), 5);
    }

    #[test]
    fn closing_answers_every_later_call_with_closed() {
        let cell = WriteCell::new(String::from("db"));
        let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let mut closer = cell.write().unwrap();
        let mut queued = cell.write().unwrap();
        let lease = ready(poll(&mut closer, &waker)).unwrap();
        lease.close();
        assert!(matches!(ready(poll(&mut queued, &waker)), Err(WasmError::Closed)));
        assert!(matches!(cell.read(String::len), Err(WasmError::Closed)));
        assert!(matches!(cell.write().map(|_| ()), Err(WasmError::Closed)));
    }

    #[test]
    fn writes_past_the_queue_limit_are_refused() {
        let cell = WriteCell::new(());
        let turns: Vec<_> = (0..PENDING_WRITES_MAX).map(|_| cell.write().unwrap()).collect();
        assert_eq!(cell.pending_writes(), PENDING_WRITES_MAX);
        assert!(matches!(
            cell.write().map(|_| ()),
            Err(WasmError::TooManyPendingWrites { pending: PENDING_WRITES_MAX, limit: PENDING_WRITES_MAX })
        ));
        drop(turns);
        assert_eq!(cell.pending_writes(), 0);
        assert!(cell.write().is_ok());
    }
}
