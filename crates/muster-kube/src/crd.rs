//! The CustomResourceDefinitions of `muster.dev/v1alpha1`, generated from the Rust types in
//! [`muster_api::objects`].
//!
//! The schemas carry one `default`: an object written without `spec` (a ResourceFlavor with
//! only a name is common) is stored with `spec: {}`, as the simulator reads it. Every other
//! field is defaulted by the types when read (as Kubernetes tolerates missing fields), so
//! stored objects stay as their authors wrote them and no default can contradict a field's
//! own validation.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use muster_api::objects::{ClusterQueue, Cohort, LocalQueue, ResourceFlavor, Workload};
use serde_json::Value;

/// Every CRD Muster serves, in the order they should be applied.
pub fn all() -> Vec<CustomResourceDefinition> {
    [
        ResourceFlavor::crd(),
        Cohort::crd(),
        ClusterQueue::crd(),
        LocalQueue::crd(),
        Workload::crd(),
    ]
    .into_iter()
    .map(without_defaults)
    .collect()
}

/// The CRDs as one multi-document YAML stream, as `muster crds` prints it.
pub fn to_yaml() -> Result<String, muster_api::emit::EmitError> {
    muster_api::emit::yaml_stream(&all())
}

fn without_defaults(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("default");
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let Ok(mut value) = serde_json::to_value(&crd) else {
        return crd;
    };
    for version in value["spec"]["versions"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if let Some(schema) = version.get_mut("schema") {
            strip(schema);
            let root = &mut schema["openAPIV3Schema"];
            if let Some(spec) = root["properties"].get_mut("spec") {
                spec["default"] = serde_json::json!({});
            }
            if let Some(required) = root["required"].as_array_mut() {
                required.retain(|r| r != "spec");
                if required.is_empty()
                    && let Some(o) = root.as_object_mut()
                {
                    o.remove("required");
                }
            }
        }
    }
    serde_json::from_value(value).unwrap_or(crd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_schema_status_and_no_defaults() {
        let crds = all();
        let names: Vec<&str> = crds
            .iter()
            .filter_map(|c| c.metadata.name.as_deref())
            .collect();
        assert_eq!(
            names,
            [
                "resourceflavors.muster.dev",
                "cohorts.muster.dev",
                "clusterqueues.muster.dev",
                "localqueues.muster.dev",
                "workloads.muster.dev"
            ]
        );
        for crd in &crds {
            let v = &crd.spec.versions[0];
            assert!(v.schema.is_some());
            let mut schema = serde_json::to_value(&v.schema).unwrap();
            let root = &mut schema["openAPIV3Schema"];
            assert_eq!(root["properties"]["spec"]["default"], serde_json::json!({}));
            root["properties"]["spec"]
                .as_object_mut()
                .unwrap()
                .remove("default");
            let text = schema.to_string();
            assert!(!text.contains("\"default\""), "{text}");
        }
        let with_status: Vec<&str> = crds
            .iter()
            .filter(|c| {
                c.spec.versions[0]
                    .subresources
                    .as_ref()
                    .is_some_and(|s| s.status.is_some())
            })
            .map(|c| c.spec.names.kind.as_str())
            .collect();
        assert_eq!(with_status, ["ClusterQueue", "LocalQueue", "Workload"]);
    }

    #[test]
    fn quantities_and_enums_are_validated_by_the_schema() {
        let yaml = to_yaml().unwrap();
        assert!(yaml.contains("x-kubernetes-int-or-string: true"));
        assert!(yaml.contains("LowerOrNewerEqualPriority"));
        assert!(yaml.contains("minimum: 0"));
    }
}
