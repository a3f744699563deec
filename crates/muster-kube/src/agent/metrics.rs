//! Prometheus metrics of the node agent, served as text on `/metrics`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

/// Every metric the agent exports.
pub struct AgentMetrics {
    registry: Registry,
    /// Resyncs run: periodic ones and those a pod change triggered
    /// (`muster_agent_resyncs_total`).
    pub resyncs: Counter,
    /// Resyncs that wrote the NodeResourceTopology because its content changed
    /// (`muster_agent_writes_total`).
    pub writes: Counter,
    /// Resyncs that failed: sysfs unreadable, or the API server refused
    /// (`muster_agent_errors_total`).
    pub errors: Counter,
}

impl Default for AgentMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl AgentMetrics {
    /// The metrics, registered under the `muster_agent_` prefix.
    pub fn new() -> AgentMetrics {
        let mut registry = Registry::with_prefix("muster_agent");
        let resyncs = Counter::default();
        let writes = Counter::default();
        let errors = Counter::default();
        registry.register(
            "resyncs",
            "Resyncs of the node's NodeResourceTopology (periodic or on a pod change)",
            resyncs.clone(),
        );
        registry.register(
            "writes",
            "Resyncs that wrote the NodeResourceTopology because it changed",
            writes.clone(),
        );
        registry.register(
            "errors",
            "Resyncs that failed (sysfs unreadable or the API server refused)",
            errors.clone(),
        );
        AgentMetrics {
            registry,
            resyncs,
            writes,
            errors,
        }
    }

    /// The metrics in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_names_every_metric() {
        let m = AgentMetrics::new();
        m.resyncs.inc();
        m.resyncs.inc();
        m.writes.inc();
        let text = m.encode();
        for needle in [
            "muster_agent_resyncs_total 2",
            "muster_agent_writes_total 1",
            "muster_agent_errors_total 0",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
    }
}
