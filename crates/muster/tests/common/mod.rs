//! What the tests of the `muster` binary share: running it, and finding the repository's
//! examples.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the built `muster` with `args` in `dir` and returns what it did.
pub fn muster(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("muster runs")
}

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
