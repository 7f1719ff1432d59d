//! This replica's side of the store's leases (the rules are in [`crate::store`]): who this replica is,
//! which analyses it holds and until when it may trust that it holds them, how its renewals fare (what
//! `/ready` reports), and its fair share of the work.
//!
//! The scheduler's lease loop ([`super::scheduler`]) renews the held leases every third of the lease period
//! and claims work; an analysis's task asks [`Leases::hold`] before each fetch and each write. A lease is
//! trusted for one period from the start of the last renewal that kept it, less a margin: a replica that
//! cannot renew (the database is down) pauses its analyses before its leases can expire, instead of working
//! on analyses another replica may take over. The store checks the lease again at each write.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::store::Renewal;

/// The lease period when none is configured (`coalmine serve --lease-period`).
pub const DEFAULT_LEASE_PERIOD: Duration = Duration::from_secs(15);

/// The shortest and longest lease periods allowed.
pub const LEASE_PERIODS: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(3600);

/// Checks a configured lease period; the error names `field`.
pub fn check_period(field: &str, period: Duration) -> Result<Duration, String> {
    if LEASE_PERIODS.contains(&period) {
        Ok(period)
    } else {
        Err(format!(
            "{field}: a lease period of {:?} is out of range: give one from 1s to 1h (the default is {}s; \
             another replica takes a dead replica's analyses over within about one period)",
            period,
            DEFAULT_LEASE_PERIOD.as_secs()
        ))
    }
}

/// This process's replica id: the host name (the pod's name on Kubernetes) and a random suffix, so that a
/// restarted process on the same host is another replica, e.g. `coalmine-7d9f-x2k4p-3f2b8c1e`.
pub fn replica_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|host| host.trim().to_string())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "coalmine".to_string());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let suffix = RandomState::new().hash_one((std::process::id(), nanos)) as u32;
    format!("{host}-{suffix:08x}")
}

/// Why an analysis's task must stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Cancelled through this replica's API.
    Cancelled,
    /// A renewal found the lease no longer held: taken over, or the analysis finished by another hand
    /// (cancelled through another replica).
    NotHeld,
    /// This replica is shutting down and gives its leases back.
    Shutdown,
}

/// A lease this replica holds.
struct Held {
    stop: watch::Sender<Option<Stop>>,
    /// Until when the lease is trusted.
    valid_until: Instant,
    /// Which task runs it: a re-claimed analysis gets a new task only once the old one was told to stop.
    generation: u64,
}

/// What the last renewals said.
#[derive(Default)]
struct Outlook {
    /// When the last successful renewal started.
    renewed: Option<Instant>,
    /// Why the renewals since failed.
    failure: Option<String>,
    /// Live replicas and unfinished analyses at the last renewal.
    replicas: usize,
    unfinished: usize,
    /// Real-time analyses submitted here since.
    submitted: usize,
}

/// The leases this replica holds.
pub struct Leases {
    owner: String,
    period: Duration,
    held: Mutex<HashMap<String, Held>>,
    generations: std::sync::atomic::AtomicU64,
    /// Bumped at each successful renewal, so that paused tasks look again.
    renewals: watch::Sender<u64>,
    outlook: Mutex<Outlook>,
}

/// A lease handed to the task that runs the analysis.
pub struct Grant {
    pub stop: watch::Receiver<Option<Stop>>,
    pub generation: u64,
}

impl Leases {
    /// The leases of replica `owner`, each lasting `period` (at least a tenth of a second).
    pub fn new(owner: String, period: Duration) -> Leases {
        Leases {
            owner,
            period: period.max(Duration::from_millis(100)),
            held: Mutex::new(HashMap::new()),
            generations: std::sync::atomic::AtomicU64::new(0),
            renewals: watch::channel(0).0,
            outlook: Mutex::new(Outlook {
                replicas: 1,
                ..Outlook::default()
            }),
        }
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn period(&self) -> Duration {
        self.period
    }

    /// How often the lease loop renews and claims: a third of the period, so that two renewals can fail
    /// before a lease is in doubt.
    pub fn heartbeat(&self) -> Duration {
        self.period / 3
    }

    /// How long before its expiry a lease stops being trusted.
    fn margin(&self) -> Duration {
        self.period / 4
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn outlook(&self) -> std::sync::MutexGuard<'_, Outlook> {
        self.outlook.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that the lease on `id`, asked for at `since`, is this replica's. Returns the grant for a new
    /// task, or `None` when a task of this replica already runs the analysis (its lease is extended).
    pub fn take(&self, id: &str, since: Instant) -> Option<Grant> {
        let valid_until = since + self.period;
        let mut held = self.held();
        if let Some(lease) = held.get_mut(id)
            && lease.stop.borrow().is_none()
        {
            lease.valid_until = lease.valid_until.max(valid_until);
            return None;
        }
        let (stop, receiver) = watch::channel(None);
        let generation = self
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        held.insert(
            id.to_string(),
            Held {
                stop,
                valid_until,
                generation,
            },
        );
        crate::telemetry::leases_held(held.len());
        Some(Grant {
            stop: receiver,
            generation,
        })
    }

    /// Forgets the lease on `id` of the task `generation`, which has ended.
    pub fn forget(&self, id: &str, generation: u64) {
        let mut held = self.held();
        if held
            .get(id)
            .is_some_and(|lease| lease.generation == generation)
        {
            held.remove(id);
        }
        crate::telemetry::leases_held(held.len());
    }

    /// The analyses whose lease this replica holds.
    pub fn ids(&self) -> Vec<String> {
        self.held().keys().cloned().collect()
    }

    /// How many leases this replica holds.
    pub fn count(&self) -> usize {
        self.held().len()
    }

    /// Tells the task running `id`, if any, to stop.
    pub fn stop(&self, id: &str, why: Stop) {
        if let Some(lease) = self.held().get(id) {
            lease.stop.send_if_modified(|stop| {
                let first = stop.is_none();
                if first {
                    *stop = Some(why);
                }
                first
            });
        }
    }

    /// Tells every task to stop; the analyses they ran.
    pub fn stop_all(&self, why: Stop) -> Vec<String> {
        let ids = self.ids();
        for id in &ids {
            self.stop(id, why);
        }
        ids
    }

    /// Takes in a renewal of `asked` that started at `started`: the leases kept are trusted for another
    /// period, and the tasks of the others stop.
    pub fn renewed(&self, started: Instant, asked: &[String], renewal: &Renewal) {
        let kept: std::collections::HashSet<&String> = renewal.held.iter().collect();
        for id in asked {
            if kept.contains(id) {
                if let Some(lease) = self.held().get_mut(id) {
                    lease.valid_until = lease.valid_until.max(started + self.period);
                }
            } else {
                self.stop(id, Stop::NotHeld);
            }
        }
        let mut outlook = self.outlook();
        outlook.renewed = Some(started);
        outlook.failure = None;
        outlook.replicas = renewal.replicas.max(1);
        outlook.unfinished = renewal.unfinished;
        outlook.submitted = 0;
        drop(outlook);
        self.renewals
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    /// Records that a renewal failed, and why.
    pub fn renewal_failed(&self, why: String) {
        self.outlook().failure = Some(why);
    }

    /// Whether the lease on `id` can be trusted now (a margin before it could expire).
    pub fn trusted(&self, id: &str) -> bool {
        self.held()
            .get(id)
            .is_some_and(|lease| lease.valid_until > Instant::now() + self.margin())
    }

    /// Returns once the lease on `id` can be trusted, or why the task must stop. While renewals fail, this
    /// waits: the analysis pauses until the store is back (and the lease renewed) or another replica took it
    /// over.
    pub async fn hold(
        &self,
        id: &str,
        stop: &mut watch::Receiver<Option<Stop>>,
    ) -> Result<(), Stop> {
        let mut renewals = self.renewals.subscribe();
        let mut paused = false;
        loop {
            if let Some(why) = *stop.borrow_and_update() {
                return Err(why);
            }
            if self.trusted(id) {
                if paused {
                    tracing::info!(analysis = %id, "resuming: the lease is renewed");
                }
                return Ok(());
            }
            if !paused {
                tracing::warn!(
                    analysis = %id,
                    "pausing: the lease could not be renewed lately (is the store reachable?)"
                );
                paused = true;
            }
            tokio::select! {
                _ = renewals.changed() => {}
                changed = stop.changed() => if changed.is_err() {
                    // The grant was replaced: another task of this replica runs the analysis now.
                    return Err(Stop::NotHeld);
                },
                () = tokio::time::sleep(self.heartbeat()) => {}
            }
        }
    }

    /// How many more analyses to claim, with room for `capacity` more: up to this replica's fair share of the
    /// unfinished analyses among the live replicas, counting those it holds.
    pub fn claim_limit(&self, capacity: usize) -> usize {
        let outlook = self.outlook();
        let fair = outlook.unfinished.div_ceil(outlook.replicas.max(1));
        capacity.min(fair.saturating_sub(self.count()))
    }

    /// Whether an analysis submitted here should run here, rather than wait for the replica that claims it:
    /// always a retrospective one (its caller waits for the result); a real-time one while this replica
    /// holds less than its fair share, counting the analyses submitted since the last renewal. A lone replica
    /// runs everything.
    pub fn runs_here(&self, real_time: bool) -> bool {
        let held = self.count();
        let mut outlook = self.outlook();
        outlook.submitted += 1;
        let fair = (outlook.unfinished + outlook.submitted).div_ceil(outlook.replicas.max(1));
        !real_time || held < fair
    }

    /// How many replicas were alive at the last renewal, this one included.
    pub fn replicas(&self) -> usize {
        self.outlook().replicas
    }

    /// Whether the replica can serve: the store answered the last renewal, within the lease period.
    pub fn readiness(&self) -> Result<(), String> {
        let outlook = self.outlook();
        if let Some(failure) = &outlook.failure {
            return Err(format!(
                "not ready: the store cannot be reached, so this replica cannot renew its leases: {failure}"
            ));
        }
        match outlook.renewed {
            None => Err("not ready: the leases have not been renewed yet".to_string()),
            Some(renewed) if renewed.elapsed() > self.period => Err(format!(
                "not ready: the leases were last renewed {:.1}s ago, more than the lease period of {:.1}s",
                renewed.elapsed().as_secs_f64(),
                self.period.as_secs_f64()
            )),
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn renewal(held: &[&str], replicas: usize, unfinished: usize) -> Renewal {
        Renewal {
            held: held.iter().map(|id| id.to_string()).collect(),
            replicas,
            unfinished,
        }
    }

    #[test]
    fn replica_ids_name_the_host_and_differ_per_process_start() {
        let (a, b) = (replica_id(), replica_id());
        assert_ne!(a, b);
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert!(a.starts_with(&format!("{}-", host.trim())), "{a}");
        assert_eq!(a.rsplit('-').next().unwrap().len(), 8, "{a}");
    }

    #[tokio::test]
    async fn a_lease_not_kept_by_a_renewal_stops_its_task_and_a_kept_one_is_trusted() {
        let leases = Leases::new("r".to_string(), Duration::from_secs(60));
        let since = Instant::now();
        let mut kept = leases.take("kept", since).unwrap();
        let mut lost = leases.take("lost", since).unwrap();
        assert!(leases.take("kept", since).is_none(), "already running here");
        leases.renewed(
            since,
            &["kept".to_string(), "lost".to_string()],
            &renewal(&["kept"], 1, 2),
        );
        assert_eq!(leases.hold("kept", &mut kept.stop).await, Ok(()));
        assert_eq!(
            leases.hold("lost", &mut lost.stop).await,
            Err(Stop::NotHeld)
        );
        // Its task is told to stop, so a claim of it again starts a new task, whose end the old one's does
        // not disturb.
        let again = leases.take("lost", Instant::now()).unwrap();
        leases.forget("lost", lost.generation);
        assert_eq!(leases.count(), 2);
        leases.forget("lost", again.generation);
        leases.forget("kept", kept.generation);
        assert_eq!(leases.count(), 0);
    }

    #[tokio::test]
    async fn an_untrusted_lease_pauses_until_renewed_or_stopped() {
        let leases = std::sync::Arc::new(Leases::new("r".to_string(), Duration::from_secs(60)));
        // Taken a period ago: past trusting.
        let long_ago = Instant::now() - Duration::from_secs(60);
        let mut grant = leases.take("a", long_ago).unwrap();
        assert!(!leases.trusted("a"));
        let waiting = tokio::spawn({
            let leases = leases.clone();
            let mut stop = grant.stop.clone();
            async move { leases.hold("a", &mut stop).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        leases.renewed(Instant::now(), &["a".to_string()], &renewal(&["a"], 1, 1));
        assert_eq!(waiting.await.unwrap(), Ok(()));

        let mut other = leases.take("b", long_ago).unwrap();
        let waiting = tokio::spawn({
            let leases = leases.clone();
            async move { leases.hold("b", &mut other.stop).await }
        });
        leases.stop("b", Stop::Cancelled);
        assert_eq!(waiting.await.unwrap(), Err(Stop::Cancelled));
        assert_eq!(leases.hold("a", &mut grant.stop).await, Ok(()));
    }

    #[test]
    fn work_is_shared_fairly_and_a_lone_replica_takes_everything() {
        let leases = Leases::new("r".to_string(), Duration::from_secs(60));
        // Before any renewal, the replica knows of no other.
        assert!(leases.runs_here(true));
        leases.renewed(Instant::now(), &[], &renewal(&[], 3, 12));
        assert_eq!(leases.claim_limit(100), 4, "12 analyses over 3 replicas");
        assert_eq!(leases.claim_limit(1), 1, "bounded by the room left");
        for id in ["a", "b", "c"] {
            leases.take(id, Instant::now()).unwrap();
        }
        assert_eq!(leases.claim_limit(100), 1);
        // 12 + 1 submitted over 3: a fair share of 5 > 3 held.
        assert!(leases.runs_here(true));
        leases.take("d", Instant::now()).unwrap();
        leases.take("e", Instant::now()).unwrap();
        // 12 + 2 over 3: 5, and 5 held. A retrospective analysis runs here all the same.
        assert!(!leases.runs_here(true));
        assert!(leases.runs_here(false));
        leases.take("f", Instant::now()).unwrap();
        // 12 + 4 over 3: 6, and 6 held.
        assert!(!leases.runs_here(true));

        leases.renewed(Instant::now(), &[], &renewal(&[], 1, 40));
        assert_eq!(leases.claim_limit(1000), 34);
        assert!(leases.runs_here(true));
    }

    #[test]
    fn readiness_follows_the_last_renewal() {
        let leases = Leases::new("r".to_string(), Duration::from_secs(60));
        assert!(leases.readiness().unwrap_err().contains("not been renewed"));
        leases.renewed(Instant::now(), &[], &renewal(&[], 1, 0));
        assert_eq!(leases.readiness(), Ok(()));
        leases.renewal_failed("connection refused".to_string());
        let why = leases.readiness().unwrap_err();
        assert!(why.contains("connection refused"), "{why}");
        leases.renewed(
            Instant::now() - Duration::from_secs(120),
            &[],
            &renewal(&[], 1, 0),
        );
        let why = leases.readiness().unwrap_err();
        assert!(why.contains("last renewed"), "{why}");
    }
}
