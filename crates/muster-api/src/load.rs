//! Reading input files into typed objects, each with where it came from.
//!
//! A path may be a file (multi-document YAML) or a directory (every `*.yaml`/`*.yml` inside,
//! recursively, in name order). Each document is dispatched on `apiVersion`/`kind`; an
//! unknown kind is reported as a warning and skipped, as `kubectl apply` would refuse it
//! but a simulation should not stop for it. Everything else wrong is an [`InputError`]
//! naming the file, the line, the object and the field.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Node as K8sNode;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use serde::de::DeserializeOwned;

use crate::error::{InputError, InputErrors, Warning};
use crate::objects::{
    API_VERSION, ClusterQueue, Cohort, Configuration, LocalQueue, NodeResourceTopology,
    ResourceFlavor, Workload,
};
use crate::yaml::{self, Document, Path};

/// What errors about objects read from the API server give as their file.
pub const API_SOURCE: &str = "kube-apiserver";

/// The API version of NodeResourceTopology.
pub const NRT_API_VERSION: &str = "topology.node.k8s.io/v1alpha2";

/// One input document, or an object read from the API server.
#[derive(Debug)]
pub struct Source {
    /// The file, as the user named it (for objects from the API server: `kube-apiserver`).
    pub file: Arc<str>,
    /// The parsed document; `None` for an object read from the API server, which has no
    /// lines to point at.
    pub doc: Option<Document>,
}

impl Source {
    /// An error at `path` in this document, about `object`.
    pub fn error(
        &self,
        object: Option<&str>,
        path: &Path,
        message: impl Into<String>,
    ) -> InputError {
        InputError {
            file: self.file.to_string(),
            line: self.doc.as_ref().map(|d| d.root.line_of(&path.0)),
            object: object.map(str::to_string),
            path: Some(path.to_string()),
            message: message.into(),
        }
    }
}

/// A typed object.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Object {
    /// v1 Node.
    Node(K8sNode),
    /// scheduling.k8s.io/v1 PriorityClass.
    PriorityClass(PriorityClass),
    /// batch/v1 Job.
    Job(Job),
    /// muster.dev ResourceFlavor.
    ResourceFlavor(ResourceFlavor),
    /// muster.dev ClusterQueue.
    ClusterQueue(ClusterQueue),
    /// muster.dev Cohort.
    Cohort(Cohort),
    /// muster.dev LocalQueue.
    LocalQueue(LocalQueue),
    /// muster.dev Workload (shared: the controller reads each cycle's Workloads from its
    /// cache).
    Workload(std::sync::Arc<Workload>),
    /// muster.dev Configuration.
    Configuration(Configuration),
    /// NodeResourceTopology.
    NodeResourceTopology(NodeResourceTopology),
}

impl Object {
    /// The object's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Object::Node(_) => "Node",
            Object::PriorityClass(_) => "PriorityClass",
            Object::Job(_) => "Job",
            Object::ResourceFlavor(_) => "ResourceFlavor",
            Object::ClusterQueue(_) => "ClusterQueue",
            Object::Cohort(_) => "Cohort",
            Object::LocalQueue(_) => "LocalQueue",
            Object::Workload(_) => "Workload",
            Object::Configuration(_) => "Configuration",
            Object::NodeResourceTopology(_) => "NodeResourceTopology",
        }
    }

    /// Whether objects of this kind live in a namespace.
    pub fn namespaced(&self) -> bool {
        matches!(
            self,
            Object::Job(_) | Object::LocalQueue(_) | Object::Workload(_)
        )
    }
}

/// An object and the document it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Where it came from.
    pub source: Arc<Source>,
    /// The object.
    pub object: Object,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, defaulted to `default` for namespaced kinds.
    pub namespace: Option<String>,
}

impl Loaded {
    /// `Kind "name"` or `Kind "namespace/name"`.
    pub fn label(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} \"{}/{}\"", self.object.kind(), ns, self.name),
            None => format!("{} \"{}\"", self.object.kind(), self.name),
        }
    }

    /// An error at `path` of this object.
    pub fn error(&self, path: &Path, message: impl Into<String>) -> InputError {
        self.source.error(Some(&self.label()), path, message)
    }

    /// `file:line` of this object, for "first defined at" notes.
    pub fn location(&self) -> String {
        match &self.source.doc {
            Some(doc) => format!("{}:{}", self.source.file, doc.line),
            None => self.source.file.to_string(),
        }
    }

    /// An object read from the API server rather than a file: errors about it name the
    /// object and the field, with `kube-apiserver` in place of a file and no line.
    pub fn from_api(object: Object, name: String, namespace: Option<String>) -> Loaded {
        Loaded {
            source: Arc::new(Source {
                file: API_SOURCE.into(),
                doc: None,
            }),
            object,
            name,
            namespace,
        }
    }
}

/// Everything read from the inputs.
#[derive(Debug, Default)]
pub struct Inputs {
    /// Objects in input order.
    pub objects: Vec<Loaded>,
    /// Problems that did not stop reading.
    pub warnings: Vec<Warning>,
}

/// Reads every path; collects all errors before failing.
pub fn load_paths(paths: &[PathBuf]) -> Result<Inputs, InputErrors> {
    let mut inputs = Inputs::default();
    let mut errors = Vec::new();
    for path in paths {
        let files = match expand(path) {
            Ok(f) => f,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        for file in files {
            let name = file.display().to_string();
            match std::fs::read(&file) {
                Err(e) => errors.push(file_error(&name, format!("cannot read: {e}"))),
                Ok(bytes) => match String::from_utf8(bytes) {
                    Err(_) => errors.push(file_error(&name, "not UTF-8 text")),
                    Ok(text) => load_str(&name, &text, &mut inputs, &mut errors),
                },
            }
        }
    }
    if errors.is_empty() {
        Ok(inputs)
    } else {
        Err(InputErrors(errors))
    }
}

fn file_error(file: &str, message: impl Into<String>) -> InputError {
    InputError {
        file: file.to_string(),
        line: None,
        object: None,
        path: None,
        message: message.into(),
    }
}

/// A file as itself, a directory as its YAML files, recursively, sorted by path.
fn expand(path: &FsPath) -> Result<Vec<PathBuf>, InputError> {
    let name = path.display().to_string();
    let meta =
        std::fs::metadata(path).map_err(|e| file_error(&name, format!("cannot read: {e}")))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| {
            file_error(
                &dir.display().to_string(),
                format!("cannot read directory: {e}"),
            )
        })?;
        for entry in entries {
            let entry = entry.map_err(|e| {
                file_error(
                    &dir.display().to_string(),
                    format!("cannot read directory: {e}"),
                )
            })?;
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e == "yaml" || e == "yml")
            {
                out.push(p);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(file_error(&name, "directory holds no .yaml or .yml files"));
    }
    Ok(out)
}

/// Reads the documents of one file's text into `inputs`, errors into `errors`.
pub fn load_str(file: &str, text: &str, inputs: &mut Inputs, errors: &mut Vec<InputError>) {
    let file: Arc<str> = file.into();
    let docs = match yaml::parse_stream(text) {
        Ok(d) => d,
        Err(e) => {
            errors.push(InputError {
                file: file.to_string(),
                line: Some(e.line),
                object: None,
                path: None,
                message: format!("invalid YAML (column {}): {}", e.column, e.message),
            });
            return;
        }
    };
    for doc in docs {
        let source = Arc::new(Source {
            file: file.clone(),
            doc: Some(doc),
        });
        match read_object(&source) {
            Ok(Some(loaded)) => inputs.objects.push(loaded),
            Ok(None) => {}
            Err(Problem::Error(e)) => errors.push(e),
            Err(Problem::Skip(w)) => inputs.warnings.push(Warning(w)),
        }
    }
}

enum Problem {
    Error(InputError),
    Skip(InputError),
}

fn read_object(source: &Arc<Source>) -> Result<Option<Loaded>, Problem> {
    let Some(doc) = &source.doc else {
        return Ok(None);
    };
    let root = &doc.root;
    let document = format!("document {}", doc.index + 1);
    if root.is_null() {
        return Ok(None);
    }
    if !matches!(root, yaml::Node::Map { .. }) {
        return Err(Problem::Error(source.error(
            None,
            &Path::root(),
            format!("{document} is not a Kubernetes object (expected a mapping with apiVersion and kind)"),
        )));
    }
    let field = |key: &str| -> Result<String, Problem> {
        match root.get(key) {
            Some(yaml::Node::Scalar { value, .. }) if !value.is_empty() => Ok(value.clone()),
            Some(_) => Err(Problem::Error(source.error(
                None,
                &Path::root().key(key),
                "must be a non-empty string",
            ))),
            None => Err(Problem::Error(source.error(
                None,
                &Path::root(),
                format!("{document} has no {key}: not a Kubernetes object"),
            ))),
        }
    };
    let api_version = field("apiVersion")?;
    let kind = field("kind")?;
    let name = root
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(|n| n.as_str())
        .unwrap_or("")
        .to_string();
    let namespaced = matches!(
        (api_version.as_str(), kind.as_str()),
        ("batch/v1", "Job") | (API_VERSION, "LocalQueue") | (API_VERSION, "Workload")
    );
    let namespace = namespaced.then(|| {
        root.get("metadata")
            .and_then(|m| m.get("namespace"))
            .and_then(|n| n.as_str())
            .filter(|n| !n.is_empty())
            .unwrap_or("default")
            .to_string()
    });
    let label = match (&namespace, name.is_empty()) {
        (_, true) => kind.clone(),
        (Some(ns), false) => format!("{kind} \"{ns}/{name}\""),
        (None, false) => format!("{kind} \"{name}\""),
    };
    if name.is_empty() {
        let path = Path::root().key("metadata").key("name");
        return Err(Problem::Error(source.error(
            Some(&label),
            &path,
            "required",
        )));
    }

    fn typed<T: DeserializeOwned>(source: &Source, label: &str) -> Result<T, Problem> {
        let Some(doc) = &source.doc else {
            return Err(Problem::Error(source.error(
                Some(label),
                &Path::root(),
                "no document",
            )));
        };
        yaml::from_node(&doc.root)
            .map_err(|(path, e)| Problem::Error(source.error(Some(label), &path, e.0)))
    }
    /// A custom resource as a file holds it: `spec` may be left out (`kind: ResourceFlavor`
    /// with a name only is a flavor with no labels), status is never read from a file.
    #[derive(serde::Deserialize)]
    struct Doc<S> {
        #[serde(default)]
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        #[serde(default)]
        spec: S,
    }
    fn custom<S: DeserializeOwned + Default>(
        source: &Source,
        label: &str,
    ) -> Result<
        (
            k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
            S,
        ),
        Problem,
    > {
        let d: Doc<S> = typed(source, label)?;
        Ok((d.metadata, d.spec))
    }
    let object = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Node") => Object::Node(typed(source, &label)?),
        ("scheduling.k8s.io/v1", "PriorityClass") => Object::PriorityClass(typed(source, &label)?),
        ("batch/v1", "Job") => Object::Job(typed(source, &label)?),
        (API_VERSION, "ResourceFlavor") => {
            let (metadata, spec) = custom(source, &label)?;
            Object::ResourceFlavor(ResourceFlavor { metadata, spec })
        }
        (API_VERSION, "ClusterQueue") => {
            let (metadata, spec) = custom(source, &label)?;
            Object::ClusterQueue(ClusterQueue {
                metadata,
                spec,
                status: None,
            })
        }
        (API_VERSION, "Cohort") => {
            let (metadata, spec) = custom(source, &label)?;
            Object::Cohort(Cohort { metadata, spec })
        }
        (API_VERSION, "LocalQueue") => {
            let (metadata, spec) = custom(source, &label)?;
            Object::LocalQueue(LocalQueue {
                metadata,
                spec,
                status: None,
            })
        }
        (API_VERSION, "Workload") => {
            let (metadata, spec) = custom(source, &label)?;
            Object::Workload(std::sync::Arc::new(Workload {
                metadata,
                spec,
                status: None,
            }))
        }
        (API_VERSION, "Configuration") => Object::Configuration(typed(source, &label)?),
        (NRT_API_VERSION, "NodeResourceTopology") => {
            Object::NodeResourceTopology(typed(source, &label)?)
        }
        _ => {
            return Err(Problem::Skip(source.error(
                Some(&label),
                &Path::root(),
                format!("unknown kind {kind} in {api_version}: skipped"),
            )));
        }
    };
    debug_assert_eq!(object.namespaced(), namespace.is_some());
    Ok(Some(Loaded {
        source: source.clone(),
        object,
        name,
        namespace,
    }))
}
