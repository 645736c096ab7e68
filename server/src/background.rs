//! Work nobody is waiting on (the consistency checks, the search index's catch-ups) runs on a thread
//! of its own at a lower CPU priority: on a small machine a client's start-up would otherwise spend
//! both cores on its checks and its index while its push, the hub's apply and the other clients'
//! pulls wait. The work itself is unchanged, and with idle cores it runs at full speed.

/// How much lower than the rest of the process (added to its `nice` value; 19 is the lowest priority).
const NICENESS: libc::c_int = 10;

/// The background thread ended without an answer (it panicked).
#[derive(Debug, thiserror::Error)]
#[error("the background work `{0}` stopped before it finished")]
pub struct Stopped(pub &'static str);

/// Runs `work` on a new thread named `name` at the lower priority and waits for its result.
/// A thread per run: an unprivileged process can lower a thread's priority but not raise it again,
/// so a pooled thread (`spawn_blocking`) must not carry it to other work.
pub async fn low_priority<T: Send + 'static>(name: &'static str, work: impl FnOnce() -> T + Send + 'static) -> Result<T, Stopped> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            lower_this_threads_priority();
            let _ = answer.send(work());
        })
        .map_err(|_| Stopped(name))?;
    answered.await.map_err(|_| Stopped(name))
}

#[cfg(target_os = "linux")]
fn lower_this_threads_priority() {
    // On Linux a thread is a task of its own: PRIO_PROCESS with its id sets only this thread.
    // SAFETY: plain system calls on the calling thread's own id.
    let changed = unsafe {
        let thread = libc::gettid() as libc::id_t;
        let current = libc::getpriority(libc::PRIO_PROCESS, thread);
        libc::setpriority(libc::PRIO_PROCESS, thread, (current + NICENESS).min(19))
    };
    if changed != 0 {
        tracing::debug!("could not lower the priority of a background thread: {}", std::io::Error::last_os_error());
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_this_threads_priority() {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    fn this_threads_nice() -> libc::c_int {
        // SAFETY: a plain system call on the calling thread's own id.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
    }

    #[tokio::test]
    async fn the_work_runs_below_the_rest_of_the_process_and_leaves_it_as_it_was() {
        let before = this_threads_nice();
        let inside = super::low_priority("test", this_threads_nice).await.unwrap();
        assert_eq!(inside, (before + super::NICENESS).min(19));
        assert_eq!(this_threads_nice(), before);
    }
}
