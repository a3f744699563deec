//! Reading a machine's NUMA nodes from a sysfs tree.
//!
//! Everything is read below a root directory (`/sys` on a host, `/host/sys` in the agent's
//! pod, a temporary directory in tests), from the files the kernel writes:
//!
//! | what | file (below the root) |
//! |---|---|
//! | NUMA nodes | `devices/system/node/node<N>/` directories |
//! | a node's CPUs | `node<N>/cpulist` (empty for a memory-only node: CXL, HBM) |
//! | a node's memory | `node<N>/meminfo`, the line `Node N MemTotal: <kB> kB` |
//! | a node's huge pages | `node<N>/hugepages/hugepages-<size>kB/nr_hugepages` |
//! | distances to the other nodes | `node<N>/distance` (optional) |
//!
//! A kernel built without NUMA support has no `devices/system/node`. The machine is then one
//! node, numbered 0, with the CPUs of `devices/system/cpu/online`, the memory of the
//! `MemTotal` line of `meminfo` in the *proc* root (`/proc` by default: sysfs has no
//! machine-wide memory total; in a container `/proc/meminfo` is still the host's), and the
//! huge pages of `kernel/mm/hugepages/hugepages-<size>kB/nr_hugepages`.
//!
//! Every error names the file and what in it is wrong; nothing here panics on bad input.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use super::cpulist::CpuSet;

/// A NUMA node as the kernel describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NumaNode {
    /// The kernel's number for it (`N` of `node<N>`).
    pub id: u32,
    /// Its CPUs (empty for a memory-only node).
    pub cpus: CpuSet,
    /// Its memory (`MemTotal`), huge pages included, in bytes.
    pub memory_bytes: u64,
    /// Its huge pages: page size in bytes → number of pages reserved.
    pub hugepages: BTreeMap<u64, u64>,
    /// Its distance to each node, in the order of the machine's nodes (itself included; 10
    /// is local). Empty when the kernel gives none.
    pub distances: Vec<u32>,
}

/// The NUMA nodes of a machine, in the order of their numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NumaNodes {
    /// The nodes.
    pub nodes: Vec<NumaNode>,
    /// Whether the kernel has NUMA support (`false`: one node made up from machine totals).
    pub numa: bool,
}

/// A sysfs (or procfs) file that could not be read or does not say what the kernel writes.
#[derive(Debug, thiserror::Error)]
pub enum SysfsError {
    /// The file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file's content is malformed.
    #[error("{}: {what}", path.display())]
    Malformed {
        /// The file (or directory, for a malformed name in it).
        path: PathBuf,
        /// What is wrong, naming the line or field.
        what: String,
    },
}

impl SysfsError {
    /// A malformed-content error.
    pub fn malformed(path: &Path, what: impl Into<String>) -> SysfsError {
        SysfsError::Malformed {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }
}

/// The content of a file.
pub fn read_text(path: &Path) -> Result<String, SysfsError> {
    std::fs::read_to_string(path).map_err(|source| SysfsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The content of a file, or `None` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<String>, SysfsError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SysfsError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The entries of a directory (name and path), in name order.
pub fn list_dir(path: &Path) -> Result<Vec<(String, PathBuf)>, SysfsError> {
    let read = |source| SysfsError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(path).map_err(read)? {
        let entry = entry.map_err(read)?;
        out.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.path(),
        ));
    }
    out.sort();
    Ok(out)
}

/// Reads the NUMA nodes below `sysfs_root` (and, on a kernel without NUMA, the memory total
/// from `proc_root/meminfo`).
pub fn read_numa_nodes(sysfs_root: &Path, proc_root: &Path) -> Result<NumaNodes, SysfsError> {
    let dir = sysfs_root.join("devices/system/node");
    if !dir.exists() {
        return numa_less(sysfs_root, proc_root);
    }
    let mut nodes = Vec::new();
    for (name, path) in list_dir(&dir)? {
        let Some(id) = name.strip_prefix("node") else {
            continue;
        };
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) || !path.is_dir() {
            continue;
        }
        let id: u32 = id
            .parse()
            .map_err(|_| SysfsError::malformed(&path, "node number out of range"))?;
        nodes.push(read_node(id, &path)?);
    }
    if nodes.is_empty() {
        return Err(SysfsError::malformed(&dir, "no node<N> directory"));
    }
    nodes.sort_by_key(|n| n.id);
    for n in &nodes {
        if !n.distances.is_empty() && n.distances.len() != nodes.len() {
            return Err(SysfsError::malformed(
                &dir.join(format!("node{}/distance", n.id)),
                format!("{} distances for {} nodes", n.distances.len(), nodes.len()),
            ));
        }
    }
    Ok(NumaNodes { nodes, numa: true })
}

fn read_node(id: u32, dir: &Path) -> Result<NumaNode, SysfsError> {
    let cpulist = dir.join("cpulist");
    let cpus = CpuSet::parse(&read_text(&cpulist)?)
        .map_err(|e| SysfsError::malformed(&cpulist, e.to_string()))?;
    let meminfo = dir.join("meminfo");
    let memory_bytes = mem_total(&meminfo, &read_text(&meminfo)?)?;
    let hugepages = read_hugepages(&dir.join("hugepages"))?;
    let distance = dir.join("distance");
    let distances = match read_optional(&distance)? {
        None => Vec::new(),
        Some(text) => text
            .split_whitespace()
            .map(|d| {
                d.parse::<u32>().map_err(|_| {
                    SysfsError::malformed(&distance, format!("{d:?} is not a distance"))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(NumaNode {
        id,
        cpus,
        memory_bytes,
        hugepages,
        distances,
    })
}

/// One node made up from the machine's totals, for a kernel without NUMA support.
fn numa_less(sysfs_root: &Path, proc_root: &Path) -> Result<NumaNodes, SysfsError> {
    let online = sysfs_root.join("devices/system/cpu/online");
    let cpus = CpuSet::parse(&read_text(&online)?)
        .map_err(|e| SysfsError::malformed(&online, e.to_string()))?;
    let meminfo = proc_root.join("meminfo");
    let memory_bytes = mem_total(&meminfo, &read_text(&meminfo)?)?;
    let hugepages = read_hugepages(&sysfs_root.join("kernel/mm/hugepages"))?;
    Ok(NumaNodes {
        nodes: vec![NumaNode {
            id: 0,
            cpus,
            memory_bytes,
            hugepages,
            distances: Vec::new(),
        }],
        numa: false,
    })
}

/// The `MemTotal` of a meminfo file (a node's `Node N MemTotal: X kB`, or `/proc/meminfo`'s
/// `MemTotal: X kB`), in bytes.
fn mem_total(path: &Path, text: &str) -> Result<u64, SysfsError> {
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(i) = words.iter().position(|w| *w == "MemTotal:") else {
            continue;
        };
        let bad =
            |why: &str| SysfsError::malformed(path, format!("line '{}': {why}", words.join(" ")));
        let value = words.get(i + 1).ok_or_else(|| bad("no value"))?;
        let kib: u64 = value.parse().map_err(|_| bad("not a number"))?;
        match words.get(i + 2) {
            Some(&"kB") if words.len() == i + 3 => {}
            _ => return Err(bad("expected a value in kB")),
        }
        return kib.checked_mul(1024).ok_or_else(|| bad("too large"));
    }
    Err(SysfsError::malformed(path, "no MemTotal line"))
}

/// Huge pages of a `hugepages` directory (`hugepages-<size>kB/nr_hugepages`): page size in
/// bytes → pages. A missing directory has none.
fn read_hugepages(dir: &Path) -> Result<BTreeMap<u64, u64>, SysfsError> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return Ok(out);
    }
    for (name, path) in list_dir(dir)? {
        let size_kib = name
            .strip_prefix("hugepages-")
            .and_then(|s| s.strip_suffix("kB"))
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|&s| s > 0)
            .ok_or_else(|| {
                SysfsError::malformed(dir, format!("{name:?} is not named hugepages-<size>kB"))
            })?;
        let nr = path.join("nr_hugepages");
        let text = read_text(&nr)?;
        let pages: u64 = text.trim().parse().map_err(|_| {
            SysfsError::malformed(&nr, format!("{:?} is not a number of pages", text.trim()))
        })?;
        let size = size_kib
            .checked_mul(1024)
            .ok_or_else(|| SysfsError::malformed(dir, format!("{name}: page size too large")))?;
        out.insert(size, pages);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total_reads_either_meminfo_shape() {
        let p = Path::new("/m");
        assert_eq!(
            mem_total(
                p,
                "Node 0 MemTotal:       65843860 kB\nNode 0 MemFree: 1 kB\n"
            )
            .unwrap(),
            65843860 * 1024
        );
        assert_eq!(
            mem_total(p, "MemTotal:       16315300 kB\nMemFree: 3 kB\n").unwrap(),
            16315300 * 1024
        );
        let e = |t: &str| mem_total(p, t).unwrap_err().to_string();
        assert_eq!(
            e("Node 1 MemTotal:   x kB"),
            "/m: line 'Node 1 MemTotal: x kB': not a number"
        );
        assert_eq!(
            e("Node 1 MemTotal: 5 MB"),
            "/m: line 'Node 1 MemTotal: 5 MB': expected a value in kB"
        );
        assert_eq!(
            e("Node 1 MemTotal:"),
            "/m: line 'Node 1 MemTotal:': no value"
        );
        assert_eq!(e("Node 1 MemFree: 3 kB"), "/m: no MemTotal line");
        assert!(e("MemTotal: 18446744073709551615 kB").ends_with("too large"));
    }
}
