//! Sync in the page: the status indicator in the tree pane's bar and the notices at the top of the
//! note pane (failures, a hash check the repair could not fix, conflicts this instance's edits lost).
pub mod api;
mod indicator;
mod notices;

pub use indicator::SyncIndicator;
pub use notices::SyncNotices;

use leptos::prelude::*;

/// The status both the indicator and the notices show, fetched once per page: when the server
/// announces a change ([`crate::state::SyncPulse`], if the page has one), on a 5 s timer as the
/// fallback, and after "sync now".
#[derive(Clone, Copy)]
pub struct SyncView {
    pub overview: Resource<Result<api::SyncStatusView, crate::error::AppError>>,
    refresh: RwSignal<u64>,
}

impl SyncView {
    pub fn refetch(&self) {
        self.refresh.update(|n| *n += 1);
    }
}

const POLL_MS: u64 = 5_000;

pub fn provide_sync_view() -> SyncView {
    let refresh = RwSignal::new(0u64);
    let pulse = use_context::<crate::state::SyncPulse>();
    let overview = Resource::new(
        move || (refresh.get(), pulse.map(|p| p.0.get())),
        |_| api::sync_overview(),
    );
    Effect::new(move |_| {
        let timer = set_interval_with_handle(move || refresh.update(|n| *n += 1), std::time::Duration::from_millis(POLL_MS));
        if let Ok(timer) = timer {
            on_cleanup(move || timer.clear());
        }
    });
    let view = SyncView { overview, refresh };
    provide_context(view);
    view
}

pub fn use_sync_view() -> SyncView {
    expect_context::<SyncView>()
}
