//! Muster's objects and how they are read.
//!
//! - [`objects`]: the `muster.dev/v1alpha1` types (ResourceFlavor, ClusterQueue, Cohort,
//!   LocalQueue, Workload, Configuration) and NodeResourceTopology; Kubernetes' own objects
//!   come from `k8s-openapi`.
//! - [`load`]: files and directories of multi-document YAML into typed objects.
//! - [`scenario`]: validation and conversion into the core's [`muster_core::spec`] types.
//! - [`numa_zones`]: the `muster.dev/numa-zones` pod annotation (which NUMA zones a pod's
//!   resources come from), written by the controller and read by the node agent.
//!
//! Architecture invariant: every problem with an input becomes an [`InputError`] that names
//! the file, the line, the object and the field path; nothing here panics on bad input.

pub mod duration;
pub mod emit;
pub mod error;
pub mod load;
pub mod numa_zones;
pub mod objects;
pub mod pod;
pub mod scenario;
pub mod trace;
pub mod validate;
pub mod yaml;

pub use error::{InputError, InputErrors, Warning};
pub use scenario::{LiveCluster, Scenario, ScenarioWorkload, build_live, build_scenario};

/// Reads and validates every path into a scenario.
pub fn load_scenario(paths: &[std::path::PathBuf]) -> Result<Scenario, InputErrors> {
    build_scenario(load::load_paths(paths)?)
}

/// Reads and validates YAML text (as if from `file`) into a scenario.
pub fn scenario_from_str(file: &str, text: &str) -> Result<Scenario, InputErrors> {
    let mut inputs = load::Inputs::default();
    let mut errors = Vec::new();
    load::load_str(file, text, &mut inputs, &mut errors);
    if !errors.is_empty() {
        return Err(InputErrors(errors));
    }
    build_scenario(inputs)
}
