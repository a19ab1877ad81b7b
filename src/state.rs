//! What every request handler shares, cheap to clone.

use crate::auth::Authenticator;
use crate::clock::Clock;
use crate::connections::Connections;
use crate::throttle::Throttle;
use std::sync::{Arc, OnceLock, Weak};

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

/// What the state holds.
pub struct Shared {
    pub connections: Arc<Connections>,
    pub auth: Arc<Authenticator>,
    pub throttle: Arc<Throttle>,
    pub clock: Arc<dyn Clock>,
    /// Serve the deprecated `externalPartnerSettings` view too.
    pub legacy_settings: bool,
    /// The movable clock, in dev mode (`serve --dev`); `None` otherwise.
    pub dev: Option<Arc<crate::clock::AdjustableClock>>,
    /// Fault and latency injection, in dev mode.
    pub faults: Option<Arc<crate::dev::faults::Faults>>,
    /// The request journal, in dev mode.
    pub journal: Option<Arc<crate::dev::journal::Journal>>,
    /// Simulated partners, in dev mode.
    pub simulations: Option<Arc<crate::dev::simulate::Simulations>>,
    /// How long a whole request may take.
    pub request_timeout: std::time::Duration,
    /// The whole router, set once it is built: `$batch` sends its items through it.
    /// Weak, because the router holds this state: a strong reference would keep both
    /// (and the database pools) alive for ever.
    pub router: Arc<OnceLock<Weak<axum::Router>>>,
}

impl Shared {
    /// The time tokens are issued and checked at: real time, not a moved dev clock,
    /// so moving the clock cannot expire the token that would move it back.
    pub fn token_now(&self) -> chrono::DateTime<chrono::Utc> {
        self.dev
            .as_ref()
            .map_or_else(|| self.clock.now(), |dev| dev.base_now())
    }
}
