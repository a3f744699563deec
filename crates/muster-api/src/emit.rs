//! Writing objects out as YAML (for `muster crds` and generated manifests).
//!
//! The values go through `serde_json::Value` (what `k8s-openapi` and `kube` serialize to) and
//! are emitted in block style by `saphyr`, the maintained successor of yaml-rust that also
//! reads Muster's inputs.

use saphyr::{Mapping, Scalar, Yaml, YamlEmitter};
use serde_json::Value;

/// An error writing YAML.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// The value could not be turned into JSON first.
    #[error("cannot serialize: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The emitter failed.
    #[error("cannot write YAML: {0}")]
    Emit(String),
}

fn to_yaml(v: &Value) -> Yaml<'_> {
    match v {
        Value::Null => Yaml::Value(Scalar::Null),
        Value::Bool(b) => Yaml::Value(Scalar::Boolean(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Value(Scalar::Integer(i)),
            None => Yaml::Value(Scalar::FloatingPoint(n.as_f64().unwrap_or(0.0).into())),
        },
        Value::String(s) => Yaml::Value(Scalar::String(s.as_str().into())),
        Value::Array(a) => Yaml::Sequence(a.iter().map(to_yaml).collect()),
        Value::Object(o) => {
            let mut m = Mapping::new();
            for (k, v) in o {
                m.insert(Yaml::Value(Scalar::String(k.as_str().into())), to_yaml(v));
            }
            Yaml::Mapping(m)
        }
    }
}

/// Serializes each object as one document of a YAML stream (`---` before each).
pub fn yaml_stream<T: serde::Serialize>(objects: &[T]) -> Result<String, EmitError> {
    let mut out = String::new();
    for o in objects {
        let value = serde_json::to_value(o)?;
        let mut emitter = YamlEmitter::new(&mut out);
        emitter.multiline(true);
        emitter
            .dump(&to_yaml(&value))
            .map_err(|e| EmitError::Emit(e.to_string()))?;
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_reader() {
        let objects = vec![
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}),
            serde_json::json!({"kind": "X", "data": {"n": 3, "s": "3", "yes": "true", "list": ["a: b", "#c"], "empty": {}}}),
        ];
        let text = yaml_stream(&objects).unwrap();
        assert!(text.starts_with("---\n"), "{text}");
        let docs = crate::yaml::parse_stream(&text).unwrap();
        assert_eq!(docs.len(), 2);
        let back: Vec<Value> = docs
            .iter()
            .map(|d| crate::yaml::from_node::<Value>(&d.root).unwrap())
            .collect();
        assert_eq!(back, objects);
    }
}
