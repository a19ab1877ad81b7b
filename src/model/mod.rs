//! The domain: what an external-partner connection is, its description, and how its
//! health is judged. Pure data and pure functions; no I/O.

pub mod agent;
pub mod health;
pub mod partner;
pub mod schema;

pub use health::{derive_status, status_as_of, ConnectionStatus, HealthPolicy, StatusReport};
pub use partner::{NewPartner, PartnerRecord, PartnerUpdate, TenantId};
