//! The domain: what an external-partner connection is and how its health is judged.
//! Pure data and pure functions; no I/O.

pub mod health;
pub mod partner;

pub use health::{derive_status, ConnectionStatus, HealthPolicy, StatusReport};
pub use partner::{NewPartner, PartnerRecord, PartnerUpdate, TenantId};
