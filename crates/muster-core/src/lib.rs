//! Muster's scheduling core.
//!
//! A pure, synchronous, deterministic model of a batch cluster — nodes, resource flavors,
//! a quota tree of ClusterQueues and cohorts, queued and running workloads — and the cycle
//! that decides what should happen next: admit this gang on these nodes, preempt these
//! victims, or wait for this reason.
//!
//! Two shells drive it: the simulator (`muster-sim`) and the Kubernetes controller. Both
//! build a [`Model`], submit workloads, call [`run_cycle`] and apply its [`CycleOutput`], so
//! a simulated result predicts what the controller does.
//!
//! Architecture invariants:
//! - The core performs no I/O, reads no clock and draws no random numbers: time is an
//!   argument (`now`), and the same inputs always give the same decisions.
//! - Every collection the core iterates is ordered; ties always go to a name.
//! - "Does not fit" is data (a [`decision::PendingReason`]), never an error.

mod assign;
pub mod cycle;
pub mod decision;
pub mod fair;
mod free_order;
pub mod ids;
pub mod invariants;
pub mod lookup;
pub mod model;
pub mod node;
pub mod numa;
pub mod place;
mod preempt;
pub mod quantity;
pub mod quota;
pub mod resource;
pub mod shape;
pub mod spec;
pub mod testing;
pub mod time;
pub mod topology;
pub mod usage;

pub use cycle::{Profile, run_cycle, run_cycle_charged};
pub use decision::{Admission, CycleOutput, Decision, PendingReason, PreemptionReason, Victim};
pub use ids::{CqId, FlavorId, NodeId, WorkloadId};
pub use model::{Model, ModelError, RecordedPodSet, WorkloadKey, WorkloadState};
pub use quantity::Quantity;
pub use time::{Duration, Time};
