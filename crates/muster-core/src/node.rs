//! Nodes and the rules that say whether a pod may go on one: labels, taints, tolerations.
//!
//! These are Kubernetes' rules, restated: a pod's `nodeSelector` must be a subset of the
//! node's labels, and every `NoSchedule` or `NoExecute` taint on the node must be tolerated
//! (`PreferNoSchedule` is a preference and never rejects). Resource fit lives in `place`.

use std::collections::BTreeMap;

/// Node labels, or a node selector: key → value.
pub type Labels = BTreeMap<String, String>;

/// What a taint does to pods that do not tolerate it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaintEffect {
    /// New pods that do not tolerate the taint are not placed on the node.
    NoSchedule,
    /// Like `NoSchedule`, and running pods are evicted (for placement, the same).
    NoExecute,
    /// The scheduler avoids the node if it can; never a reason to reject it.
    PreferNoSchedule,
}

impl TaintEffect {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::NoExecute => "NoExecute",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
        }
    }

    /// Whether a pod that does not tolerate this effect is kept off the node.
    pub fn repels(self) -> bool {
        !matches!(self, TaintEffect::PreferNoSchedule)
    }
}

/// A node taint.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Taint {
    /// Taint key.
    pub key: String,
    /// Taint value (empty when absent).
    pub value: String,
    /// Taint effect.
    pub effect: TaintEffect,
}

/// How a toleration matches a taint's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TolerationOperator {
    /// The value must be equal (the Kubernetes default).
    Equal,
    /// Any value matches.
    Exists,
}

/// A pod toleration.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Toleration {
    /// Taint key to match; empty with `Exists` matches every key.
    pub key: String,
    /// How the value is matched.
    pub operator: TolerationOperator,
    /// Value to match with `Equal`.
    pub value: String,
    /// Effect to match; `None` matches every effect.
    pub effect: Option<TaintEffect>,
}

impl Toleration {
    /// Whether this toleration tolerates `taint` (Kubernetes' `ToleratesTaint`).
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if let Some(effect) = self.effect
            && effect != taint.effect
        {
            return false;
        }
        if self.key.is_empty() {
            return self.operator == TolerationOperator::Exists;
        }
        if self.key != taint.key {
            return false;
        }
        match self.operator {
            TolerationOperator::Exists => true,
            TolerationOperator::Equal => self.value == taint.value,
        }
    }
}

/// The first taint among `taints` that repels pods and that none of `tolerations` tolerates.
pub fn untolerated<'a>(taints: &'a [Taint], tolerations: &[&[Toleration]]) -> Option<&'a Taint> {
    taints.iter().find(|t| {
        t.effect.repels()
            && !tolerations
                .iter()
                .any(|list| list.iter().any(|tol| tol.tolerates(t)))
    })
}

/// Whether every key/value of `selector` is among `labels`.
pub fn selector_matches(selector: &Labels, labels: &Labels) -> bool {
    selector
        .iter()
        .all(|(k, v)| labels.get(k).is_some_and(|lv| lv == v))
}

/// A node's identity and placement attributes (its capacity lives in the model's tables).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Node name; nodes are ordered by it.
    pub name: String,
    /// Node labels.
    pub labels: Labels,
    /// Node taints.
    pub taints: Vec<Taint>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: &str, effect: TaintEffect) -> Taint {
        Taint {
            key: key.into(),
            value: value.into(),
            effect,
        }
    }

    fn tol(
        key: &str,
        op: TolerationOperator,
        value: &str,
        effect: Option<TaintEffect>,
    ) -> Toleration {
        Toleration {
            key: key.into(),
            operator: op,
            value: value.into(),
            effect,
        }
    }

    #[test]
    fn toleration_matching_follows_kubernetes() {
        use TaintEffect::*;
        use TolerationOperator::*;
        let gpu = taint("gpu", "true", NoSchedule);
        assert!(tol("gpu", Equal, "true", None).tolerates(&gpu));
        assert!(tol("gpu", Equal, "true", Some(NoSchedule)).tolerates(&gpu));
        assert!(!tol("gpu", Equal, "true", Some(NoExecute)).tolerates(&gpu));
        assert!(!tol("gpu", Equal, "false", None).tolerates(&gpu));
        assert!(tol("gpu", Exists, "", None).tolerates(&gpu));
        assert!(
            tol("", Exists, "", None).tolerates(&gpu),
            "empty key with Exists tolerates all"
        );
        assert!(!tol("", Equal, "", None).tolerates(&gpu));
        assert!(!tol("other", Exists, "", None).tolerates(&gpu));
    }

    #[test]
    fn prefer_no_schedule_never_repels() {
        let taints = [taint("soft", "", TaintEffect::PreferNoSchedule)];
        assert_eq!(untolerated(&taints, &[]), None);
        let taints = [taint("hard", "", TaintEffect::NoExecute)];
        assert_eq!(
            untolerated(&taints, &[]).map(|t| t.key.as_str()),
            Some("hard")
        );
    }

    #[test]
    fn selector_is_a_subset_of_labels() {
        let labels: Labels = [("a".into(), "1".into()), ("b".into(), "2".into())].into();
        assert!(selector_matches(&Labels::new(), &labels));
        assert!(selector_matches(
            &[("a".into(), "1".into())].into(),
            &labels
        ));
        assert!(!selector_matches(
            &[("a".into(), "2".into())].into(),
            &labels
        ));
        assert!(!selector_matches(
            &[("c".into(), "1".into())].into(),
            &labels
        ));
    }
}
