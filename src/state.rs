//! What every request handler shares, cheap to clone. Nothing here is any one
//! front's: dev mode keeps its own state (`dev::DevState`) and is layered on at
//! assembly.

use crate::auth::Authenticator;
use crate::clock::Clock;
use crate::connections::Connections;
use crate::throttle::Throttle;
use std::sync::Arc;

/// The application state handed to every handler and extractor. One `Arc`, since
/// axum clones the state for every request: one count to bump, not one per service.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// A router state the shared extractors can read the application state from: this
/// one, or a front's own state that carries it (dev mode's).
impl AsRef<AppState> for AppState {
    fn as_ref(&self) -> &AppState {
        self
    }
}

/// What the state holds.
pub struct Shared {
    pub connections: Arc<Connections>,
    pub auth: Arc<Authenticator>,
    pub throttle: Arc<Throttle>,
    /// The service's time; in dev mode a clock the dev API can move.
    pub clock: Arc<dyn Clock>,
    /// Serve the deprecated `externalPartnerSettings` view too.
    pub legacy_settings: bool,
    /// How long a whole request may take.
    pub request_timeout: std::time::Duration,
}

impl Shared {
    /// The time tokens are issued and checked at: real time, not a moved dev clock,
    /// so moving the clock cannot expire the token that would move it back.
    pub fn token_now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.token_now()
    }
}
