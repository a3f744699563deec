//! Muster's Kubernetes shell.
pub mod crd;
