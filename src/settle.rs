//! Running a handler at once: it is polled when it is called, and what did not finish is
//! handed on with a waker that follows it (`crate::exports` hands it to wasm-bindgen's
//! executor). Most handlers finish without waiting on I/O and need no Promise at all.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// A handler after its first poll.
pub enum FirstPoll<F: Future> {
    /// It finished: its answer.
    Done(F::Output),
    /// It waits: the rest of it, for an executor.
    Waiting(Relayed<F>),
}

/// Polls `handler` once, with a waker that follows it to whatever polls it next.
pub fn first_poll<F: Future>(handler: F) -> FirstPoll<F> {
    let relay = Arc::new(Relay::default());
    let waker = Waker::from(Arc::clone(&relay));
    let mut future = Box::pin(handler);
    match future.as_mut().poll(&mut Context::from_waker(&waker)) {
        Poll::Ready(answer) => FirstPoll::Done(answer),
        Poll::Pending => FirstPoll::Waiting(Relayed { relay, future }),
    }
}

/// The waker of a handler's first poll. What the handler waits on may keep the first waker
/// it was given (the `worker` crate's `Delay` does), so a wake-up of this one is passed on
/// to the waker of the handler's latest poll.
#[derive(Default)]
struct Relay(Mutex<Option<Waker>>);

impl Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let latest = self.0.lock().ok().and_then(|w| w.clone());
        if let Some(latest) = latest {
            latest.wake();
        }
    }
}

/// A handler that waited: each poll tells the relay whom to wake.
pub struct Relayed<F> {
    relay: Arc<Relay>,
    future: Pin<Box<F>>,
}

impl<F: Future> Future for Relayed<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if let Ok(mut latest) = self.relay.0.lock() {
            if !latest.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *latest = Some(cx.waker().clone());
            }
        }
        self.future.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Waits until told, waking only the first waker it saw (as `worker::Delay` does).
    struct FirstWakerOnly {
        seen: Rc<RefCell<Option<Waker>>>,
        fired: Rc<Cell<bool>>,
    }

    impl Future for FirstWakerOnly {
        type Output = &'static str;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
            if self.fired.get() {
                return Poll::Ready("fired");
            }
            self.seen
                .borrow_mut()
                .get_or_insert_with(|| cx.waker().clone());
            Poll::Pending
        }
    }

    #[derive(Default)]
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_handler_that_does_not_wait_is_answered_at_once() {
        assert!(matches!(first_poll(async { 7 }), FirstPoll::Done(7)));
    }

    #[test]
    fn a_wake_up_registered_in_the_first_poll_reaches_the_executor() {
        let (seen, fired) = (Rc::default(), Rc::new(Cell::new(false)));
        let handler = FirstWakerOnly {
            seen: Rc::clone(&seen),
            fired: Rc::clone(&fired),
        };
        let FirstPoll::Waiting(mut rest) = first_poll(handler) else {
            panic!("the handler waits");
        };
        let executor = Arc::new(Counter::default());
        let waker = Waker::from(Arc::clone(&executor));
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut rest).poll(&mut cx).is_pending());
        // What it waited on is done, and it wakes the waker of the first poll.
        fired.set(true);
        let first = seen.borrow_mut().take().expect("a waker was kept");
        first.wake();
        assert_eq!(executor.0.load(Ordering::SeqCst), 1);
        assert_eq!(Pin::new(&mut rest).poll(&mut cx), Poll::Ready("fired"));
    }
}
