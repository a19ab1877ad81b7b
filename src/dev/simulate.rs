//! Simulated partners: the service heartbeats and syncs for chosen connections itself,
//! following a pattern, so an admin tool can be built against live-looking health
//! without a partner service. They act on the service's clock: a simulation runs every
//! second, and at once whenever the dev clock is moved, at the new time.

use crate::clock::format_graph_time;
use crate::connections::Connections;
use crate::json::Fields;
use crate::model::TenantId;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// When the simulated partner is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// Always.
    Steady,
    /// Up for `period`, down for `period`, and so on.
    Flapping { period: Duration },
    /// Up for `after`, then never again.
    Stopping { after: Duration },
}

/// What a caller asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub partner_id: Uuid,
    pub pattern: Pattern,
    pub heartbeat_every: Duration,
    pub sync_every: Option<Duration>,
}

/// A running simulation.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub id: Uuid,
    pub tenant: TenantId,
    pub plan: Plan,
    pub started: DateTime<Utc>,
    pub last_heartbeat: Option<DateTime<Utc>>,
    pub last_sync: Option<DateTime<Utc>>,
    pub heartbeats: u64,
    pub syncs: u64,
    pub last_error: Option<String>,
}

fn duration_field(f: &mut Fields, key: &'static str) -> Result<Option<Duration>, String> {
    let name = f.name(key);
    let s = match f.value(key) {
        None => return Ok(None),
        Some(Value::String(s)) => s,
        Some(other) => return Err(f.wrong(key, "a duration such as \"10m\"", other)),
    };
    let d = crate::clock::parse_duration(s).map_err(|e| format!("{name} {e}."))?;
    let d = Duration::from_std(d).map_err(|_| format!("{name} is too long."))?;
    if d < Duration::seconds(1) || d > Duration::days(30) {
        return Err(format!("{name} must be from 1s to 30d, such as \"10m\"."));
    }
    Ok(Some(d))
}

impl Plan {
    /// Reads `{"partnerId": "…", "pattern": "flapping", "period": "10m",
    /// "heartbeatEvery": "30s", "syncEvery": "5m"}`; the error names the field.
    pub fn parse(m: &Map<String, Value>) -> Result<Self, String> {
        let mut f = Fields::new(m);
        let partner_id = f
            .str("partnerId")?
            .and_then(|s| s.trim().parse::<Uuid>().ok())
            .ok_or("'partnerId' must be the GUID of a partner with a connection in this tenant.")?;
        let period = duration_field(&mut f, "period")?;
        let after = duration_field(&mut f, "after")?;
        let pattern = match f.str("pattern")?.unwrap_or("steady") {
            "steady" => Pattern::Steady,
            "flapping" => Pattern::Flapping {
                period: period.unwrap_or(Duration::minutes(10)),
            },
            "stopping" => Pattern::Stopping {
                after: after.ok_or("A stopping partner needs 'after', such as \"15m\".")?,
            },
            other => {
                return Err(format!(
                    "'pattern' '{other}' is not steady, flapping or stopping."
                ))
            }
        };
        if period.is_some() && !matches!(pattern, Pattern::Flapping { .. }) {
            return Err("'period' is for the flapping pattern.".into());
        }
        if after.is_some() && !matches!(pattern, Pattern::Stopping { .. }) {
            return Err("'after' is for the stopping pattern.".into());
        }
        let heartbeat_every =
            duration_field(&mut f, "heartbeatEvery")?.unwrap_or(Duration::seconds(30));
        let sync_every = duration_field(&mut f, "syncEvery")?;
        f.finish()?;
        Ok(Plan {
            partner_id,
            pattern,
            heartbeat_every,
            sync_every,
        })
    }
}

/// What is due at a moment.
#[derive(Debug, PartialEq, Eq)]
pub struct Due {
    pub heartbeat: bool,
    pub sync: bool,
}

/// Whether `every` has passed since `last`; a clock moved back counts as passed.
fn elapsed(last: Option<DateTime<Utc>>, every: Duration, now: DateTime<Utc>) -> bool {
    last.is_none_or(|t| now < t || now - t >= every)
}

impl Simulation {
    pub fn up_at(&self, now: DateTime<Utc>) -> bool {
        let run = now - self.started;
        match self.plan.pattern {
            Pattern::Steady => true,
            Pattern::Flapping { period } => {
                run < Duration::zero()
                    || (run.num_milliseconds() / period.num_milliseconds().max(1)) % 2 == 0
            }
            Pattern::Stopping { after } => run < after,
        }
    }

    pub fn due(&self, now: DateTime<Utc>) -> Due {
        let up = self.up_at(now);
        Due {
            heartbeat: up && elapsed(self.last_heartbeat, self.plan.heartbeat_every, now),
            sync: up
                && self
                    .plan
                    .sync_every
                    .is_some_and(|every| elapsed(self.last_sync, every, now)),
        }
    }

    pub fn to_json(&self, now: DateTime<Utc>) -> Value {
        let (pattern, extra) = match self.plan.pattern {
            Pattern::Steady => ("steady", None),
            Pattern::Flapping { period } => ("flapping", Some(("periodSeconds", period))),
            Pattern::Stopping { after } => ("stopping", Some(("afterSeconds", after))),
        };
        let mut v = json!({
            "id": self.id.to_string(),
            "partnerId": self.plan.partner_id.to_string(),
            "pattern": pattern,
            "heartbeatEverySeconds": self.plan.heartbeat_every.num_seconds(),
            "syncEverySeconds": self.plan.sync_every.map(|d| d.num_seconds()),
            "startedDateTime": format_graph_time(self.started),
            "up": self.up_at(now),
            "heartbeats": self.heartbeats,
            "syncs": self.syncs,
            "lastHeartbeatDateTime": self.last_heartbeat.map(format_graph_time),
            "lastSyncDateTime": self.last_sync.map(format_graph_time),
            "lastError": self.last_error,
        });
        if let Some((key, d)) = extra {
            v[key] = json!(d.num_seconds());
        }
        v
    }
}

/// Every running simulation, in this process.
#[derive(Debug, Default)]
pub struct Simulations {
    running: Mutex<Vec<Simulation>>,
    /// One pass at a time: a tick and a clock move must not both heartbeat.
    pass: tokio::sync::Mutex<()>,
}

/// The most simulations one tenant runs, so that no tenant can take every place.
pub const MAX_PER_TENANT: usize = 1000;

/// The most simulations one process runs, across tenants.
pub const MAX_SIMULATIONS: usize = 20_000;

impl Simulations {
    fn running(&self) -> std::sync::MutexGuard<'_, Vec<Simulation>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn list(&self, tenant: TenantId) -> Vec<Simulation> {
        self.running()
            .iter()
            .filter(|s| s.tenant == tenant)
            .cloned()
            .collect()
    }

    /// Starts one; its first heartbeat (and sync) is sent before it is added, so a
    /// partner with no usable connection is refused with the partner API's error.
    pub async fn start(
        &self,
        connections: &Connections,
        tenant: TenantId,
        plan: Plan,
        now: DateTime<Utc>,
    ) -> Result<Simulation, StartError> {
        let _pass = self.pass.lock().await;
        {
            let running = self.running();
            if running.iter().filter(|s| s.tenant == tenant).count() >= MAX_PER_TENANT {
                return Err(StartError::TooMany);
            }
            if running.len() >= MAX_SIMULATIONS {
                return Err(StartError::ProcessFull);
            }
            if running
                .iter()
                .any(|s| s.tenant == tenant && s.plan.partner_id == plan.partner_id)
            {
                return Err(StartError::Duplicate(plan.partner_id));
            }
        }
        let mut sim = Simulation {
            id: Uuid::new_v4(),
            tenant,
            plan,
            started: now,
            last_heartbeat: None,
            last_sync: None,
            heartbeats: 0,
            syncs: 0,
            last_error: None,
        };
        act(connections, &mut sim, now).await;
        if let Some(e) = sim.last_error.take() {
            return Err(StartError::Refused(e));
        }
        self.running().push(sim.clone());
        Ok(sim)
    }

    pub fn stop(&self, tenant: TenantId, id: Uuid) -> bool {
        let mut running = self.running();
        let before = running.len();
        running.retain(|s| !(s.tenant == tenant && s.id == id));
        running.len() < before
    }

    /// Stops a tenant's simulations (`None`: everyone's), as a reset does.
    pub fn stop_all(&self, tenant: Option<TenantId>) {
        self.running()
            .retain(|s| tenant.is_some_and(|t| s.tenant != t));
    }

    /// Sends what is due at `now`.
    pub async fn run_due(&self, connections: &Connections, now: DateTime<Utc>) {
        let _pass = self.pass.lock().await;
        let due: Vec<Simulation> = self
            .running()
            .iter()
            .filter(|s| {
                s.due(now)
                    != Due {
                        heartbeat: false,
                        sync: false,
                    }
            })
            .cloned()
            .collect();
        for mut sim in due {
            act(connections, &mut sim, now).await;
            // Stopped meanwhile: it stays stopped.
            if let Some(slot) = self.running().iter_mut().find(|s| s.id == sim.id) {
                *slot = sim;
            }
        }
    }
}

/// Why a simulation was not started.
#[derive(Debug)]
pub enum StartError {
    /// The tenant runs its most.
    TooMany,
    /// The process runs its most.
    ProcessFull,
    Duplicate(Uuid),
    Refused(String),
}

async fn act(connections: &Connections, sim: &mut Simulation, now: DateTime<Utc>) {
    let due = sim.due(now);
    let partner = sim.plan.partner_id;
    if due.heartbeat {
        match connections.heartbeat(sim.tenant, partner).await {
            Ok(()) => {
                sim.heartbeats += 1;
                sim.last_error = None;
            }
            Err(e) => sim.last_error = Some(e.to_string()),
        }
        // Due again a full interval on, whatever the outcome: a failing partner
        // retries at its pace, not every second.
        sim.last_heartbeat = Some(now);
    }
    if due.sync {
        match connections.sync(sim.tenant, partner, None).await {
            Ok(()) => {
                sim.syncs += 1;
                sim.last_error = None;
            }
            Err(e) => sim.last_error = Some(e.to_string()),
        }
        sim.last_sync = Some(now);
    }
    if let Some(e) = &sim.last_error {
        tracing::warn!(tenant = %sim.tenant, partner = %partner, error = %e, "simulated partner refused");
    }
}

/// Runs the simulations every second until `shutdown`; nothing outside dev mode.
pub fn spawn(
    sims: Arc<Simulations>,
    connections: Arc<Connections>,
    clock: Arc<dyn crate::clock::Clock>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => sims.run_due(&connections, clock.now()).await,
                _ = shutdown.changed() => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sim(pattern: Pattern, sync_every: Option<Duration>) -> Simulation {
        Simulation {
            id: Uuid::nil(),
            tenant: TenantId(Uuid::nil()),
            plan: Plan {
                partner_id: Uuid::nil(),
                pattern,
                heartbeat_every: Duration::seconds(30),
                sync_every,
            },
            started: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            last_heartbeat: None,
            last_sync: None,
            heartbeats: 0,
            syncs: 0,
            last_error: None,
        }
    }

    #[test]
    fn patterns_say_when_the_partner_is_up() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let flap = sim(
            Pattern::Flapping {
                period: Duration::minutes(10),
            },
            None,
        );
        assert!(flap.up_at(t0 + Duration::minutes(9)));
        assert!(!flap.up_at(t0 + Duration::minutes(10)));
        assert!(flap.up_at(t0 + Duration::minutes(25)));
        let stop = sim(
            Pattern::Stopping {
                after: Duration::minutes(15),
            },
            None,
        );
        assert!(stop.up_at(t0 + Duration::minutes(14)));
        assert!(!stop.up_at(t0 + Duration::hours(3)));
    }

    #[test]
    fn heartbeats_and_syncs_fall_due_at_their_intervals() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut s = sim(Pattern::Steady, Some(Duration::minutes(5)));
        assert_eq!(
            s.due(t0),
            Due {
                heartbeat: true,
                sync: true
            }
        );
        s.last_heartbeat = Some(t0);
        s.last_sync = Some(t0);
        assert_eq!(
            s.due(t0 + Duration::seconds(29)),
            Due {
                heartbeat: false,
                sync: false
            }
        );
        assert_eq!(
            s.due(t0 + Duration::seconds(30)),
            Due {
                heartbeat: true,
                sync: false
            }
        );
        assert_eq!(
            s.due(t0 + Duration::minutes(5)),
            Due {
                heartbeat: true,
                sync: true
            }
        );
        // The dev clock moved back: due at once rather than never.
        assert!(s.due(t0 - Duration::hours(1)).heartbeat);
    }

    #[test]
    fn plans_are_checked_field_by_field() {
        let parse = |v: Value| Plan::parse(v.as_object().unwrap());
        let p = Uuid::new_v4().to_string();
        let ok = parse(
            json!({"partnerId": p, "pattern": "flapping", "period": "2m", "syncEvery": "5m"}),
        )
        .unwrap();
        assert_eq!(
            ok.pattern,
            Pattern::Flapping {
                period: Duration::minutes(2)
            }
        );
        assert_eq!(ok.heartbeat_every, Duration::seconds(30));
        let err = |v: Value| parse(v).unwrap_err();
        assert!(err(json!({})).contains("partnerId"));
        assert!(err(json!({"partnerId": p, "pattern": "sleepy"})).contains("sleepy"));
        assert!(err(json!({"partnerId": p, "pattern": "stopping"})).contains("'after'"));
        assert!(err(json!({"partnerId": p, "period": "2m"})).contains("flapping"));
        assert!(err(json!({"partnerId": p, "heartbeatEvery": "800h"})).contains("1s to 30d"));
        assert!(err(json!({"partnerId": p, "heartbeatEvery": 30})).contains("duration"));
        assert!(
            err(json!({"partnerId": p, "colour": "red"})).contains("'colour' is not understood")
        );
    }
}
