//! Muster's simulator: the scheduling core driven by a discrete-event clock.
//!
//! [`simulate`] replays a [`muster_api::Scenario`] through [`muster_core::run_cycle`] and
//! streams [`events::EventRecord`]s to a sink; [`output::run_to_dir`] writes the contract's
//! three files (`events.jsonl`, `summary.json`, `report.html`).
//!
//! Architecture invariant: the simulator holds no scheduling logic. It orders events,
//! applies the core's decisions and measures; what runs where is the core's answer, so a
//! simulation predicts what the Kubernetes controller (the same core) will do.

pub mod compare;
pub mod engine;
pub mod events;
pub mod output;
pub mod report;
pub mod stats;
pub mod synthetic;

pub use engine::{Options, Outcome, Progress, SimError, Summary, simulate};
