//! Input errors that point at the field at fault.
//!
//! Every problem with an input is reported as one line naming the file, the line of the field
//! (or the document), the object and the field path:
//!
//! ```text
//! cluster.yaml:41: ClusterQueue "team-a": spec.resourceGroups[0].flavors[1].name: unknown ResourceFlavor "h100"
//! ```

use std::fmt;

/// One problem with an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The file, as the user named it.
    pub file: String,
    /// 1-based line of the field (or of the document), when known.
    pub line: Option<usize>,
    /// The object, as `Kind "name"` or `Kind "namespace/name"`, when known.
    pub object: Option<String>,
    /// The field path, when the problem is in one field.
    pub path: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": ")?;
        if let Some(object) = &self.object {
            write!(f, "{object}: ")?;
        }
        if let Some(path) = self.path.as_deref().filter(|p| !p.is_empty()) {
            write!(f, "{path}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for InputError {}

/// Every problem found in a set of inputs (at least one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InputErrors(pub Vec<InputError>);

impl fmt::Display for InputErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl From<InputError> for InputErrors {
    fn from(e: InputError) -> Self {
        InputErrors(vec![e])
    }
}

/// A problem that does not stop the run (an unknown kind skipped, a field not used yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub InputError);

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "warning: {}", self.0)
    }
}
