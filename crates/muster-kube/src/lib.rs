//! Muster's Kubernetes shell.
pub mod agent;
pub mod apply;
pub mod binding;
pub mod certs;
pub mod conditions;
pub mod controller;
pub mod crd;
pub mod http;
pub mod job;
pub mod leader;
pub mod metrics;
pub mod names;
pub mod plain_pod;
pub mod plan;
pub mod snapshot;
pub mod webhook;
