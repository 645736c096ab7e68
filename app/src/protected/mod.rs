//! Protected notes in the page: whether this login has a protected session, the lock button of the
//! tree bar, the password dialog, and what the note pane shows for a protected note without one.
//! Whatever shows protected titles or content reloads when the session starts or ends (here, in
//! another tab through the live channel, or by timeout).
pub mod api;
mod view;

use leptos::prelude::*;

use api::{get_protected_status, ProtectedStatus};
use crate::error::AppError;

pub use view::{LockButton, LockedNote, PasswordDialog};

/// The page's view of its protected session.
#[derive(Clone, Copy)]
pub struct ProtectedView {
    /// `None` until the server said.
    pub unlocked: RwSignal<Option<bool>>,
    pub has_password: RwSignal<bool>,
    /// Bumped whenever the session starts or ends: what shows protected notes reloads.
    pub generation: RwSignal<u64>,
    /// The password dialog is open.
    pub dialog: RwSignal<bool>,
    status: Resource<Result<ProtectedStatus, AppError>>,
}

impl ProtectedView {
    /// The session started (`true`) or ended; a change bumps [`ProtectedView::generation`].
    pub fn set_unlocked(&self, unlocked: bool) {
        let before = self.unlocked.get_untracked();
        if before != Some(unlocked) {
            self.unlocked.set(Some(unlocked));
            if before.is_some() {
                self.generation.update(|g| *g += 1);
            }
        }
    }

    /// Takes the server's answer in (first render, after a call).
    pub fn take(&self, status: &ProtectedStatus) {
        self.has_password.set(status.has_password);
        self.set_unlocked(status.unlocked);
    }

    pub fn is_unlocked(&self) -> bool {
        self.unlocked.get_untracked() == Some(true)
    }

    /// Asks the server again (the live channel was down and may have missed a start or end).
    pub fn refresh(&self) {
        self.status.refetch();
    }

    /// Opens the password dialog.
    pub fn ask(&self) {
        self.dialog.set(true);
    }
}

/// Creates the page's protected view; the layout calls it once, after the tree's state exists (a
/// start or end of the session reloads the tree's loaded levels).
pub fn provide_protected() -> ProtectedView {
    let view = ProtectedView {
        unlocked: RwSignal::new(None),
        has_password: RwSignal::new(true),
        generation: RwSignal::new(0),
        dialog: RwSignal::new(false),
        status: Resource::new(|| (), |_| get_protected_status()),
    };
    provide_context(view);
    let reload_tree = crate::tree::everything_reloader();
    Effect::new(move |previous: Option<u64>| {
        let generation = view.generation.get();
        if previous.is_some_and(|p| p != generation) {
            reload_tree();
        }
        generation
    });
    view
}

pub fn use_protected() -> Option<ProtectedView> {
    use_context::<ProtectedView>()
}
