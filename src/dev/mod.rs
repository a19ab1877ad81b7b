//! Dev mode (`serve --dev`), an add-on the assembly layers onto the service: a
//! `DevKit` (the movable clock, fault injection, the request journal, simulated
//! partners) with its own router state, the controls under `/dev/v1`, and the dev
//! authority's token endpoint. Nothing outside the assembly knows it exists.
//!
//! Dev mode is refused together with production token validation (`--jwks-file`),
//! so none of this runs in production.

use crate::clock::{AdjustableClock, Clock};
use crate::connections::Connections;
use crate::http::routes::Routes;
use crate::state::AppState;
use axum::Router;
use std::sync::Arc;

mod controls;
mod doc;
pub mod faults;
pub mod journal;
pub mod oauth;
pub mod seed;
pub mod simulate;

/// What dev mode adds to the service, made once at start.
pub struct DevKit {
    /// The service's clock, which the dev API moves (the application state reads the
    /// same clock as a plain `Clock`).
    pub clock: Arc<AdjustableClock>,
    pub faults: faults::Faults,
    pub journal: journal::Journal,
    pub simulations: Arc<simulate::Simulations>,
    /// `--dev-shared`: the stand-in belongs to one tester, so a control may reach
    /// past the token's tenant (a reset of every tenant, another tenant's journal).
    pub shared: bool,
    /// The client secret each tenant's tokens were first asked for with.
    pub claims: Arc<oauth::TenantClaims>,
}

impl DevKit {
    /// A kit over the real clock, with the faults to start with and a journal of
    /// `journal_capacity` entries.
    pub fn new(
        base: Arc<dyn Clock>,
        faults: Option<faults::FaultSettings>,
        journal_capacity: usize,
        shared: bool,
    ) -> Self {
        let kit = DevKit {
            clock: Arc::new(AdjustableClock::over(base)),
            faults: faults::Faults::default(),
            journal: journal::Journal::new(journal_capacity),
            simulations: Arc::default(),
            shared,
            claims: Arc::new(oauth::TenantClaims::new(shared)),
        };
        kit.faults.set_start(faults);
        kit
    }

    /// Refuses `what`, a control that reaches past the caller's tenant, unless the
    /// stand-in was started with `--dev-shared`.
    pub(crate) fn shared_only(&self, what: &str) -> Result<(), crate::http::ApiError> {
        match self.shared {
            true => Ok(()),
            false => Err(crate::http::ApiError::Forbidden {
                code: "Authorization_RequestDenied",
                message: format!(
                    "{what} reaches past your token's tenant, which this stand-in allows only when started with --dev-shared (a stand-in that belongs to one tester)."
                ),
            }),
        }
    }
}

/// The dev routes' state: the application's, and the kit.
#[derive(Clone)]
pub struct DevState {
    pub app: AppState,
    pub kit: Arc<DevKit>,
}

impl AsRef<AppState> for DevState {
    fn as_ref(&self) -> &AppState {
        &self.app
    }
}

impl DevState {
    /// The controls under `/dev/v1`. They are neither faulted (they are how one
    /// recovers) nor journaled (a journal query would fill the journal).
    pub fn controls(&self) -> Routes<AppState> {
        let dev = self.clone();
        controls::routes().map(|r| r.with_state(dev))
    }

    /// The dev authority: OpenID configuration, keys and the token endpoint.
    pub fn authority(&self) -> Routes<AppState> {
        let claims = self.kit.claims.clone();
        oauth::routes().map(|r| r.layer(axum::Extension(claims)))
    }

    /// `routes` with fault and latency injection.
    pub fn faulted(&self, routes: Router<AppState>) -> Router<AppState> {
        routes.layer(axum::middleware::from_fn_with_state(
            self.clone(),
            faults::inject,
        ))
    }

    /// `routes` with each request recorded in the journal (outside the faults, so
    /// injected answers are journaled too).
    pub fn journaled(&self, routes: Router<AppState>) -> Router<AppState> {
        routes.layer(axum::middleware::from_fn_with_state(
            self.clone(),
            journal::record,
        ))
    }

    /// Runs the simulated partners every second until `shutdown`.
    pub fn spawn_simulator(
        &self,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        simulate::spawn(
            self.kit.simulations.clone(),
            self.app.connections.clone(),
            self.app.clock.clone(),
            shutdown,
        )
    }

    /// What the simulated partners and the clock's readers act on.
    fn connections(&self) -> &Connections {
        &self.app.connections
    }
}

/// The header the status page sends on each of its calls, so they count as control
/// traffic: never faulted (the page can always show and stop the faults it set),
/// and left out of the journal unless asked for (its polls would fill it).
pub const PAGE_HEADER: &str = "x-cloudpc-partners-client";

/// Whether a request is the status page's own, by [`PAGE_HEADER`].
pub(crate) fn from_status_page(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(PAGE_HEADER)
        .is_some_and(|v| v.as_bytes() == b"status-page")
}
