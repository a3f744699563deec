//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go's `leaderelection`
//! does it: the holder renews the Lease every `retry_period`; a candidate takes it over only
//! once it has not been renewed for `lease_duration`. Updates carry the Lease's
//! resourceVersion, so of two candidates racing for it only one wins.
//!
//! A leader stops counting itself leader `renew_deadline` after its last successful renewal
//! (less than the lease duration), so it has stopped writing before anyone else may take
//! over: [`Leadership::is_leader`] is checked before every write.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::watch;

/// Timing of the election.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity (its pod name and a random suffix).
    pub identity: String,
    /// How long a lease lasts without renewal before another replica may take it.
    pub lease_duration: Duration,
    /// How long after its last renewal a leader still counts itself leader.
    pub renew_deadline: Duration,
    /// How often to try to acquire or renew.
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// client-go's defaults (15 s, 10 s, 2 s).
    pub fn new(namespace: &str, name: &str, identity: &str) -> Self {
        LeaseConfig {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// Whether this replica leads, shared by every task that writes.
#[derive(Clone, Debug)]
pub struct Leadership {
    start: Instant,
    /// Milliseconds since `start` until which this replica leads (0: it does not).
    until_ms: Arc<AtomicI64>,
    changes: watch::Receiver<bool>,
    /// Keeps the channel open when no elector owns it (so `changes` never ends).
    _fixed: Option<Arc<watch::Sender<bool>>>,
}

impl Leadership {
    /// A replica that always leads (leader election turned off).
    pub fn always() -> Leadership {
        let (tx, rx) = watch::channel(true);
        Leadership {
            start: Instant::now(),
            until_ms: Arc::new(AtomicI64::new(i64::MAX)),
            changes: rx,
            _fixed: Some(Arc::new(tx)),
        }
    }

    /// Whether this replica may write now.
    pub fn is_leader(&self) -> bool {
        let now = self.start.elapsed().as_millis() as i64;
        now < self.until_ms.load(Ordering::SeqCst)
    }

    /// Waits until this replica leads.
    pub async fn wait_until_leader(&mut self) {
        while !self.is_leader() {
            if self.changes.changed().await.is_err() {
                // No elector any more: the last word stands.
                if self.is_leader() {
                    return;
                }
                std::future::pending::<()>().await;
            }
        }
    }

    /// A receiver that changes when leadership is gained or lost.
    pub fn changes(&self) -> watch::Receiver<bool> {
        self.changes.clone()
    }
}

/// Runs the election for as long as the returned task lives.
pub struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    start: Instant,
    until_ms: Arc<AtomicI64>,
    tx: watch::Sender<bool>,
}

impl Elector {
    /// An elector and the leadership it maintains.
    pub fn new(client: Client, config: LeaseConfig) -> (Elector, Leadership) {
        let start = Instant::now();
        let until_ms = Arc::new(AtomicI64::new(0));
        let (tx, rx) = watch::channel(false);
        let api = Api::namespaced(client, &config.namespace);
        (
            Elector {
                api,
                config,
                start,
                until_ms: until_ms.clone(),
                tx,
            },
            Leadership {
                start,
                until_ms,
                changes: rx,
                _fixed: None,
            },
        )
    }

    fn now_micro() -> MicroTime {
        MicroTime(jiff::Timestamp::now())
    }

    /// Tries once to acquire or renew; returns whether this replica holds the lease.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let c = &self.config;
        let duration_s = c.lease_duration.as_secs() as i32;
        let existing = self.api.get_opt(&c.name).await?;
        let Some(mut lease) = existing else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(c.name.clone()),
                    namespace: Some(c.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(c.identity.clone()),
                    lease_duration_seconds: Some(duration_s),
                    acquire_time: Some(Self::now_micro()),
                    renew_time: Some(Self::now_micro()),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.is_already_exists() => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let mine = holder == c.identity;
        if !mine && !holder.is_empty() {
            let renewed = spec.renew_time.as_ref().map(|t| t.0);
            let lasts = i64::from(spec.lease_duration_seconds.unwrap_or(duration_s));
            let expired = match renewed {
                None => true,
                Some(t) => {
                    jiff::Timestamp::now().as_millisecond() > t.as_millisecond() + lasts * 1000
                }
            };
            if !expired {
                return Ok(false);
            }
        }
        if !mine {
            spec.holder_identity = Some(c.identity.clone());
            spec.acquire_time = Some(Self::now_micro());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.lease_duration_seconds = Some(duration_s);
        spec.renew_time = Some(Self::now_micro());
        // The resourceVersion read above makes this a compare-and-swap.
        match self
            .api
            .replace(&c.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.is_conflict() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the lease up (on shutdown), so that another replica takes over at once.
    pub async fn release(&self) {
        self.until_ms.store(0, Ordering::SeqCst);
        let _ = self.tx.send(false);
        let Ok(Some(mut lease)) = self.api.get_opt(&self.config.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        if let Err(e) = self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            tracing::warn!(error = %e, "could not release the leader lease");
        }
    }

    /// Tries to acquire or renew every retry period, forever.
    pub async fn run(self: Arc<Self>) {
        let mut was_leader = false;
        loop {
            let attempt_started = self.start.elapsed();
            let attempt =
                tokio::time::timeout(self.config.renew_deadline, self.try_acquire_or_renew());
            let result = match attempt.await {
                Ok(r) => r,
                Err(_) => Err(kube::Error::Service(
                    "leader election: the API server did not answer in time".into(),
                )),
            };
            match result {
                Ok(true) => {
                    let until = attempt_started + self.config.renew_deadline;
                    self.until_ms
                        .store(until.as_millis() as i64, Ordering::SeqCst);
                    if !was_leader {
                        tracing::info!(identity = %self.config.identity, lease = %self.config.name, "became the leader");
                        was_leader = true;
                        let _ = self.tx.send(true);
                    }
                }
                Ok(false) => {
                    if was_leader {
                        tracing::warn!(identity = %self.config.identity, "lost the leader lease");
                        self.until_ms.store(0, Ordering::SeqCst);
                        was_leader = false;
                        let _ = self.tx.send(false);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "leader election: could not reach the lease");
                    let now = self.start.elapsed().as_millis() as i64;
                    let still = now < self.until_ms.load(Ordering::SeqCst);
                    if was_leader && !still {
                        tracing::warn!(identity = %self.config.identity, "renew deadline passed: no longer the leader");
                        was_leader = false;
                        let _ = self.tx.send(false);
                    }
                }
            }
            tokio::time::sleep(self.config.retry_period).await;
        }
    }
}
