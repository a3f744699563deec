//! Field-level validation helpers: each check that fails records an [`InputError`] at the
//! field's path and line, and validation goes on, so one run reports every problem.

use k8s_openapi::api::core::v1::Taint as K8sTaint;
use muster_core::node::{Taint, TaintEffect};
use muster_core::{Duration, Quantity};

use crate::duration::parse_duration;
use crate::error::InputError;
use crate::load::Source;
use crate::objects::Qty;
use crate::yaml::Path;

/// Where errors about one object go.
pub struct Ctx<'a> {
    source: &'a Source,
    object: String,
    errors: &'a mut Vec<InputError>,
}

impl<'a> Ctx<'a> {
    /// A context for `object` (as `Kind "name"`) in `source`.
    pub fn new(
        source: &'a Source,
        object: impl Into<String>,
        errors: &'a mut Vec<InputError>,
    ) -> Self {
        Ctx {
            source,
            object: object.into(),
            errors,
        }
    }

    /// Records an error at `path`.
    pub fn error(&mut self, path: &Path, message: impl Into<String>) {
        let e = self.source.error(Some(&self.object), path, message);
        self.errors.push(e);
    }

    /// Parses a quantity that must not be negative.
    pub fn quantity(&mut self, path: &Path, text: &str) -> Option<Quantity> {
        match Quantity::parse(text) {
            Ok(q) => self.non_negative(path, Qty(q)),
            Err(e) => {
                self.error(path, e.to_string());
                None
            }
        }
    }

    /// A quantity that must not be negative.
    pub fn non_negative(&mut self, path: &Path, q: Qty) -> Option<Quantity> {
        if q.0.is_negative() {
            self.error(path, format!("must not be negative, got {}", q.0));
            None
        } else {
            Some(q.0)
        }
    }

    /// Parses a duration.
    pub fn duration(&mut self, path: &Path, text: &str) -> Option<Duration> {
        match parse_duration(text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(path, e.to_string());
                None
            }
        }
    }

    /// Checks a value against a closed set; `None` uses the default.
    pub fn one_of<T: Copy>(
        &mut self,
        path: &Path,
        value: Option<&str>,
        default: T,
        allowed: &[(&str, T)],
    ) -> T {
        let Some(v) = value else {
            return default;
        };
        if let Some((_, t)) = allowed.iter().find(|(name, _)| *name == v) {
            return *t;
        }
        let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
        self.error(
            path,
            format!("unknown value {v:?} (use {})", names.join(", ")),
        );
        default
    }
}

/// A taint effect by its Kubernetes name.
pub fn effect_of(s: &str) -> Option<TaintEffect> {
    match s {
        "NoSchedule" => Some(TaintEffect::NoSchedule),
        "PreferNoSchedule" => Some(TaintEffect::PreferNoSchedule),
        "NoExecute" => Some(TaintEffect::NoExecute),
        _ => None,
    }
}

/// Validated taints.
pub fn taints(list: &[K8sTaint], path: &Path, cx: &mut Ctx<'_>) -> Vec<Taint> {
    let mut out = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let p = path.index(i);
        if t.key.is_empty() {
            cx.error(&p.key("key"), "required");
            continue;
        }
        let Some(effect) = effect_of(&t.effect) else {
            cx.error(
                &p.key("effect"),
                format!(
                    "unknown effect {:?} (use NoSchedule, PreferNoSchedule or NoExecute)",
                    t.effect
                ),
            );
            continue;
        };
        out.push(Taint {
            key: t.key.clone(),
            value: t.value.clone().unwrap_or_default(),
            effect,
        });
    }
    out
}
