//! What a pod asks the scheduler for, by Kubernetes' rules.
//!
//! A container's request for a resource is its `requests` entry, or its `limits` entry when
//! only a limit is set (API-server defaulting). The pod's request is the larger of:
//! - the sum over app containers, plus every sidecar (an init container with
//!   `restartPolicy: Always`, which keeps running beside them), and
//! - for each ordinary init container, its own request plus the sidecars started before it.
//!
//! This is the "effective request" kube-scheduler and Kueue use (without pod overhead).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, Toleration as K8sToleration};
use muster_core::Quantity;
use muster_core::node::{Toleration, TolerationOperator};

use crate::validate::{Ctx, effect_of};
use crate::yaml::Path;

/// The request of one container, validated: quantities parse and are not negative.
fn container_request(c: &Container, path: &Path, cx: &mut Ctx<'_>) -> BTreeMap<String, Quantity> {
    let mut out = BTreeMap::new();
    let Some(resources) = &c.resources else {
        return out;
    };
    let mut read = |list: &Option<
        BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >,
                    field: &str|
     -> BTreeMap<String, Quantity> {
        let mut m = BTreeMap::new();
        for (name, q) in list.iter().flatten() {
            let p = path.key("resources").key(field).key(name);
            if let Some(v) = cx.quantity(&p, &q.0) {
                m.insert(name.clone(), v);
            }
        }
        m
    };
    let requests = read(&resources.requests, "requests");
    let limits = read(&resources.limits, "limits");
    for (name, limit) in &limits {
        if let Some(req) = requests.get(name)
            && req > limit
        {
            cx.error(
                &path.key("resources").key("requests").key(name),
                format!("request {req} exceeds limit {limit}"),
            );
        }
    }
    out.extend(limits);
    out.extend(requests);
    out
}

fn add(into: &mut BTreeMap<String, Quantity>, from: &BTreeMap<String, Quantity>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += *v;
    }
}

fn max_into(into: &mut BTreeMap<String, Quantity>, from: &BTreeMap<String, Quantity>) {
    for (k, v) in from {
        let e = into.entry(k.clone()).or_default();
        if *v > *e {
            *e = *v;
        }
    }
}

/// What one pod of a pod spec asks for: its effective request, each container's request
/// (for NUMA alignment with container scope) and its QoS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodRequests {
    /// The pod's effective request.
    pub effective: BTreeMap<String, Quantity>,
    /// Requests of the containers that run side by side: sidecars, then app containers.
    pub containers: Vec<BTreeMap<String, Quantity>>,
    /// Requests of the ordinary init containers, which run one at a time before them.
    pub init_containers: Vec<BTreeMap<String, Quantity>>,
    /// Whether the pod is of Guaranteed QoS.
    pub guaranteed: bool,
}

/// Whether a container makes its pod Guaranteed (Kubernetes' QoS rule): cpu and memory
/// limits set, and its requests of them (defaulted to the limits) equal to the limits.
fn guaranteed_container(c: &Container) -> bool {
    let Some(resources) = &c.resources else {
        return false;
    };
    let limits = resources.limits.as_ref();
    let requests = resources.requests.as_ref();
    ["cpu", "memory"].iter().all(|r| {
        let Some(limit) = limits.and_then(|l| l.get(*r)) else {
            return false;
        };
        match requests.and_then(|q| q.get(*r)) {
            None => true,
            Some(req) => match (Quantity::parse(&req.0), Quantity::parse(&limit.0)) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            },
        }
    })
}

/// The effective request of one pod of `spec` (at `path`, the pod spec), with its
/// containers' requests and QoS.
pub fn pod_requests(spec: &PodSpec, path: &Path, cx: &mut Ctx<'_>) -> PodRequests {
    if spec.containers.is_empty() {
        cx.error(
            &path.key("containers"),
            "at least one container is required",
        );
    }
    let mut out = PodRequests {
        guaranteed: !spec.containers.is_empty()
            && spec
                .containers
                .iter()
                .chain(spec.init_containers.iter().flatten())
                .all(guaranteed_container),
        ..PodRequests::default()
    };
    let mut sidecars = BTreeMap::new();
    let mut init_peak = BTreeMap::new();
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        let req = container_request(c, &path.key("initContainers").index(i), cx);
        if c.restart_policy.as_deref() == Some("Always") {
            add(&mut sidecars, &req);
            out.containers.push(req);
        } else {
            let mut with_sidecars = req.clone();
            add(&mut with_sidecars, &sidecars);
            max_into(&mut init_peak, &with_sidecars);
            out.init_containers.push(req);
        }
    }
    let mut total = sidecars;
    for (i, c) in spec.containers.iter().enumerate() {
        let req = container_request(c, &path.key("containers").index(i), cx);
        add(&mut total, &req);
        out.containers.push(req);
    }
    max_into(&mut total, &init_peak);
    total.retain(|_, v| !v.is_zero());
    out.effective = total;
    out
}

/// Tolerations of a pod spec, validated.
pub fn tolerations(list: &[K8sToleration], path: &Path, cx: &mut Ctx<'_>) -> Vec<Toleration> {
    let mut out = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let p = path.index(i);
        let operator = match t.operator.as_deref() {
            None | Some("") | Some("Equal") => TolerationOperator::Equal,
            Some("Exists") => TolerationOperator::Exists,
            Some(other) => {
                cx.error(
                    &p.key("operator"),
                    format!("unknown operator {other:?} (use Equal or Exists)"),
                );
                continue;
            }
        };
        let key = t.key.clone().unwrap_or_default();
        let value = t.value.clone().unwrap_or_default();
        if operator == TolerationOperator::Exists && !value.is_empty() {
            cx.error(&p.key("value"), "must be empty when operator is Exists");
            continue;
        }
        if key.is_empty() && operator != TolerationOperator::Exists {
            cx.error(&p.key("operator"), "must be Exists when key is empty");
            continue;
        }
        let effect = match t.effect.as_deref() {
            None | Some("") => None,
            Some(e) => {
                match effect_of(e) {
                    Some(e) => Some(e),
                    None => {
                        cx.error(
                        &p.key("effect"),
                        format!("unknown effect {e:?} (use NoSchedule, PreferNoSchedule or NoExecute)"),
                    );
                        continue;
                    }
                }
            }
        };
        out.push(Toleration {
            key,
            operator,
            value,
            effect,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Source;
    use crate::yaml;
    use std::sync::Arc;

    fn request_of(yaml_text: &str) -> (BTreeMap<String, String>, Vec<String>) {
        let doc = yaml::parse_stream(yaml_text).unwrap().remove(0);
        let spec: PodSpec = yaml::from_node(&doc.root).unwrap();
        let source = Arc::new(Source {
            file: "t.yaml".into(),
            doc: Some(doc),
        });
        let mut errors = Vec::new();
        let mut cx = Ctx::new(&source, "Job \"j\"", &mut errors);
        let r = pod_requests(&spec, &Path::root(), &mut cx).effective;
        (
            r.into_iter().map(|(k, v)| (k, v.to_string())).collect(),
            errors.iter().map(|e| e.to_string()).collect(),
        )
    }

    #[test]
    fn effective_request_takes_the_larger_of_init_and_app_containers() {
        let (r, errors) = request_of(
            "initContainers:\n- name: setup\n  resources: {requests: {cpu: 4, memory: 1Gi}}\n\
             containers:\n- name: a\n  resources: {requests: {cpu: 1, memory: 2Gi}}\n\
             - name: b\n  resources: {limits: {cpu: 500m, nvidia.com/gpu: 1}}\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(r["cpu"], "4");
        assert_eq!(r["memory"], "2Gi");
        assert_eq!(r["nvidia.com/gpu"], "1", "a limit alone is the request");
    }

    #[test]
    fn sidecars_run_beside_the_app_and_later_init_containers() {
        let (r, _) = request_of(
            "initContainers:\n- name: proxy\n  restartPolicy: Always\n  resources: {requests: {cpu: 1}}\n\
             - name: setup\n  resources: {requests: {cpu: 2}}\n\
             containers:\n- name: a\n  resources: {requests: {cpu: 1}}\n",
        );
        // max(setup 2 + proxy 1, app 1 + proxy 1) = 3
        assert_eq!(r["cpu"], "3");
    }

    #[test]
    fn malformed_and_negative_quantities_name_the_field() {
        let (_, errors) = request_of(
            "containers:\n- name: a\n  resources:\n    requests: {cpu: 2x}\n    limits: {memory: -1Gi}\n",
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with("t.yaml:4: Job \"j\": containers[0].resources.requests.cpu: "),
            "{}",
            errors[0]
        );
        assert!(
            errors[1].contains("containers[0].resources.limits.memory: must not be negative"),
            "{}",
            errors[1]
        );
    }
}
