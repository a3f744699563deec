//! Real cluster traces as workloads: `muster simulate --trace FORMAT:FILE`.
//!
//! A trace loader reads a public job log as a stream (one record at a time, never the whole
//! text at once), turns each usable record into a [`ScenarioWorkload`] and the queues the
//! log names into ClusterQueues, and reports how many records it read and how many it
//! skipped, and why. Records it cannot parse are errors naming the file and line.
//!
//! Formats: `swf` (the Parallel Workloads Archive's Standard Workload Format, plain or
//! gzip; see [`swf`]), `itp` (Microsoft ITP GPU training jobs; see [`itp`]) and
//! `alibaba-openb` (Alibaba's 2023 GPU cluster, nodes and pods; see [`alibaba`]).

pub mod alibaba;
pub mod itp;
pub mod swf;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use muster_core::Quantity;
use muster_core::spec::NodeSpec;

use crate::error::InputError;
use crate::scenario::Scenario;

/// A trace format `--trace` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TraceFormat {
    /// Standard Workload Format (Parallel Workloads Archive), plain or gzip.
    Swf,
    /// Microsoft ITP GPU training jobs (the ElasticFlow traces' CSVs).
    Itp,
    /// Alibaba's 2023 GPU cluster pod list (with its node list beside it).
    AlibabaOpenb,
}

impl TraceFormat {
    /// The name `--trace` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceFormat::Swf => "swf",
            TraceFormat::Itp => "itp",
            TraceFormat::AlibabaOpenb => "alibaba-openb",
        }
    }
}

/// A trace to replay: `FORMAT:FILE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceSource {
    /// Its format.
    pub format: TraceFormat,
    /// Its file.
    pub path: PathBuf,
}

impl std::str::FromStr for TraceSource {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let Some((format, path)) = s.split_once(':') else {
            return Err(format!(
                "{s:?}: expected FORMAT:FILE, e.g. swf:KTH-SP2.swf.gz"
            ));
        };
        let format = match format {
            "swf" => TraceFormat::Swf,
            "itp" => TraceFormat::Itp,
            "alibaba-openb" => TraceFormat::AlibabaOpenb,
            other => {
                return Err(format!(
                    "unknown trace format {other:?} (use swf, itp, alibaba-openb)"
                ));
            }
        };
        if path.is_empty() {
            return Err(format!(
                "{s:?}: no file after {format:?}:",
                format = format.as_str()
            ));
        }
        Ok(TraceSource {
            format,
            path: PathBuf::from(path),
        })
    }
}

/// Identical nodes built from flags (`--nodes N --node-cpu C …`), for traces that describe
/// no cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeShape {
    /// Number of nodes.
    pub count: usize,
    /// Cpu of each.
    pub cpu: Quantity,
    /// Memory of each, if any.
    pub memory: Option<Quantity>,
    /// GPUs (`nvidia.com/gpu`) of each, if any.
    pub gpu: Option<Quantity>,
}

impl NodeShape {
    /// Adds the nodes to the scenario: `node-00000`, `node-00001`, …
    pub fn add_to(&self, scenario: &mut Scenario) {
        let width = self.count.saturating_sub(1).to_string().len().max(5);
        for i in 0..self.count {
            let mut allocatable = BTreeMap::from([("cpu".to_string(), self.cpu)]);
            if let Some(m) = self.memory {
                allocatable.insert("memory".into(), m);
            }
            if let Some(g) = self.gpu {
                allocatable.insert("nvidia.com/gpu".into(), g);
            }
            scenario.cluster.nodes.push(NodeSpec {
                name: format!("node-{i:0width$}"),
                allocatable,
                ..NodeSpec::default()
            });
        }
    }
}

/// What a loader did with a trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceReport {
    /// `FORMAT:FILE` as given.
    pub source: String,
    /// Records read.
    pub read: u64,
    /// Records turned into workloads.
    pub loaded: u64,
    /// Records skipped, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Notes on how the trace was mapped (the cluster it assumed, its queues).
    pub notes: Vec<String>,
}

impl TraceReport {
    fn skip(&mut self, why: &'static str) {
        *self.skipped.entry(why).or_default() += 1;
    }
}

/// Opens a trace file for streaming, unpacking gzip (by its magic bytes) on the fly.
pub fn open(path: &Path) -> Result<Box<dyn BufRead>, InputError> {
    let file =
        std::fs::File::open(path).map_err(|e| error(path, None, format!("cannot read: {e}")))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let gzip = reader
        .fill_buf()
        .map(|b| b.starts_with(&[0x1f, 0x8b]))
        .map_err(|e| error(path, None, format!("cannot read: {e}")))?;
    Ok(if gzip {
        Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::bufread::MultiGzDecoder::new(reader),
        ))
    } else {
        Box::new(reader)
    })
}

/// Reads one trace into the scenario (after its YAML objects were read and validated).
pub fn load(
    source: &TraceSource,
    nodes: Option<&NodeShape>,
    scenario: &mut Scenario,
) -> Result<TraceReport, InputError> {
    let reader = open(&source.path)?;
    match source.format {
        TraceFormat::Swf => swf::load(&source.path, reader, nodes, scenario),
        TraceFormat::Itp => itp::load(&source.path, reader, nodes, scenario),
        TraceFormat::AlibabaOpenb => alibaba::load(&source.path, reader, nodes, scenario),
    }
}

/// An error at a line of a trace file.
pub(crate) fn error(path: &Path, line: Option<usize>, message: String) -> InputError {
    InputError {
        file: path.display().to_string(),
        line,
        object: None,
        path: None,
        message,
    }
}

/// Reads a stream line by line into one reused buffer, so that a large trace is never held
/// in memory; yields (1-based line number, line without its end).
pub(crate) struct Lines<R> {
    reader: R,
    buf: String,
    line: usize,
}

impl<R: Read + BufRead> Lines<R> {
    pub(crate) fn new(reader: R) -> Self {
        Lines {
            reader,
            buf: String::new(),
            line: 0,
        }
    }

    /// The next line, or `None` at the end.
    pub(crate) fn next_line(&mut self) -> std::io::Result<Option<(usize, &str)>> {
        self.buf.clear();
        if self.reader.read_line(&mut self.buf)? == 0 {
            return Ok(None);
        }
        self.line += 1;
        Ok(Some((self.line, self.buf.trim_end_matches(['\n', '\r']))))
    }
}

/// The cohort (and flavor) of the ClusterQueues made for a trace's queues.
pub const TRACE_COHORT: &str = "trace";

/// Gives every queue of `queues` a ClusterQueue and returns, per queue, the ClusterQueue
/// its jobs go to, with notes on what was made. A queue `q` goes to the ClusterQueue that
/// the YAML's LocalQueue `q/q` (namespace `q`, name `q`) points to; else to the YAML's
/// ClusterQueue named `q`; else to one of ours of that name in cohort [`TRACE_COHORT`],
/// owning an even share of `total` of `resource` and free to borrow the rest.
pub(crate) fn ensure_queues(
    scenario: &mut Scenario,
    queues: &std::collections::BTreeSet<String>,
    resource: &str,
    total: Quantity,
) -> (BTreeMap<String, String>, Vec<String>) {
    use muster_core::spec::{
        ClusterQueueSpec, FlavorQuotaSpec, FlavorSpec, ResourceGroupSpec, ResourceQuotaSpec,
    };
    let mut mapping = BTreeMap::new();
    let mut mapped = Vec::new();
    let queues: std::collections::BTreeSet<&String> = queues
        .iter()
        .filter(
            |q| match scenario.local_queues.get(&((*q).clone(), (*q).clone())) {
                Some(cq) => {
                    mapped.push(format!("{q} → {cq}"));
                    mapping.insert((*q).clone(), cq.clone());
                    false
                }
                None => {
                    mapping.insert((*q).clone(), (*q).clone());
                    true
                }
            },
        )
        .collect();
    let mut notes = Vec::new();
    let (theirs, ours): (Vec<&String>, Vec<&String>) = queues.iter().copied().partition(|q| {
        scenario
            .cluster
            .cluster_queues
            .iter()
            .any(|c| c.name == **q)
    });
    if !ours.is_empty() {
        if !scenario
            .cluster
            .flavors
            .iter()
            .any(|f| f.name == TRACE_COHORT)
        {
            scenario.cluster.flavors.push(FlavorSpec {
                name: TRACE_COHORT.into(),
                ..FlavorSpec::default()
            });
        }
        // Whole units, rounded up, so that the shares cover the total.
        let ceil = |a: i128, b: i128| (a + b - 1) / b;
        let units = ceil(total.milli().max(0), 1000);
        let share = Quantity::from_milli(ceil(units, ours.len() as i128) * 1000);
        for q in &ours {
            scenario.cluster.cluster_queues.push(ClusterQueueSpec {
                name: q.to_string(),
                cohort: Some(TRACE_COHORT.into()),
                resource_groups: vec![ResourceGroupSpec {
                    covered_resources: vec![resource.into()],
                    flavors: vec![FlavorQuotaSpec {
                        name: TRACE_COHORT.into(),
                        resources: vec![ResourceQuotaSpec {
                            name: resource.into(),
                            nominal: share,
                            ..ResourceQuotaSpec::default()
                        }],
                    }],
                }],
                ..ClusterQueueSpec::default()
            });
        }
        let names: Vec<&str> = ours.iter().map(|q| q.as_str()).collect();
        notes.push(format!(
            "queues: {} in cohort {TRACE_COHORT}, {share} {resource} nominal each",
            names.join(", ")
        ));
    }
    if !theirs.is_empty() {
        let names: Vec<&str> = theirs.iter().map(|q| q.as_str()).collect();
        notes.push(format!("queues given in YAML: {}", names.join(", ")));
    }
    if !mapped.is_empty() {
        notes.push(format!(
            "queues mapped by LocalQueues: {}",
            mapped.join(", ")
        ));
    }
    (mapping, notes)
}

/// A job of `total` units of `resource` as a gang packed by node: `total / per_node` pods
/// of `per_node` (pod set `ranks`) and one of the remainder (pod set `rest`).
pub(crate) fn gang(
    resource: &str,
    total: i64,
    per_node: i64,
) -> Vec<muster_core::spec::PodSetSpec> {
    let pods = |name: &str, count: i64, amount: i64| muster_core::spec::PodSetSpec {
        name: name.into(),
        count: count as u32,
        request: BTreeMap::from([(resource.to_string(), Quantity::from_units(amount))]),
        ..muster_core::spec::PodSetSpec::default()
    };
    let (full, rest) = (total / per_node, total % per_node);
    let mut sets = Vec::with_capacity(2);
    if full > 0 {
        sets.push(pods("ranks", full, per_node));
    }
    if rest > 0 {
        sets.push(pods("rest", 1, rest));
    }
    sets
}

/// A CSV table read a row at a time: the header's column positions, then rows.
pub(crate) struct Table<R> {
    lines: Lines<R>,
    at: Vec<usize>,
    width: usize,
}

impl<R: BufRead> Table<R> {
    /// Reads the header row and finds `columns` in it.
    pub(crate) fn new(path: &Path, reader: R, columns: &[&str]) -> Result<Self, InputError> {
        let mut lines = Lines::new(reader);
        let header = match lines.next_line() {
            Ok(Some((_, h))) => h.to_string(),
            Ok(None) => {
                return Err(error(
                    path,
                    Some(1),
                    format!("empty: expected the header {}", columns.join(",")),
                ));
            }
            Err(e) => return Err(error(path, None, format!("cannot read: {e}"))),
        };
        let names: Vec<&str> = header.split(',').map(str::trim).collect();
        let mut at = Vec::with_capacity(columns.len());
        for c in columns {
            at.push(names.iter().position(|n| n == c).ok_or_else(|| {
                error(
                    path,
                    Some(1),
                    format!(
                        "no column {c:?} in the header (expected {})",
                        columns.join(",")
                    ),
                )
            })?);
        }
        Ok(Table {
            lines,
            at,
            width: names.len(),
        })
    }

    /// The next row's cells in the order of `columns`, with its line number.
    pub(crate) fn row(&mut self, path: &Path) -> Result<Option<(usize, Vec<String>)>, InputError> {
        loop {
            let (line_no, line) = match self.lines.next_line() {
                Ok(Some(l)) => l,
                Ok(None) => return Ok(None),
                Err(e) => return Err(error(path, None, format!("cannot read: {e}"))),
            };
            if line.trim().is_empty() {
                continue;
            }
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            if cells.len() != self.width {
                return Err(error(
                    path,
                    Some(line_no),
                    format!("{} columns, the header has {}", cells.len(), self.width),
                ));
            }
            return Ok(Some((
                line_no,
                self.at.iter().map(|&i| cells[i].to_string()).collect(),
            )));
        }
    }
}

/// The whole units of `resource` on the node that has the most of it, and the total over
/// all nodes (a trace job's gang is packed by the largest node; its queues share the total).
pub(crate) fn largest_and_total(scenario: &Scenario, resource: &str) -> (i64, Quantity) {
    let amounts = || {
        scenario
            .cluster
            .nodes
            .iter()
            .filter_map(|n| n.allocatable.get(resource).copied())
    };
    let largest = amounts().max().unwrap_or(Quantity::ZERO);
    ((largest.milli() / 1000) as i64, amounts().sum())
}

/// A name safe as a ClusterQueue or namespace name: lower-case letters, digits and `-`.
pub(crate) fn dns_name(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.trim().chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() {
        "unnamed".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_sources_parse_format_and_file() {
        let t: TraceSource = "swf:logs/KTH.swf.gz".parse().unwrap();
        assert_eq!(t.format, TraceFormat::Swf);
        assert_eq!(t.path, PathBuf::from("logs/KTH.swf.gz"));
        assert!(
            "KTH.swf"
                .parse::<TraceSource>()
                .unwrap_err()
                .contains("FORMAT:FILE")
        );
        assert!(
            "csv:x"
                .parse::<TraceSource>()
                .unwrap_err()
                .contains("unknown trace format")
        );
        assert!("swf:".parse::<TraceSource>().is_err());
    }

    #[test]
    fn names_are_made_dns_safe() {
        assert_eq!(dns_name(" Express "), "express");
        assert_eq!(dns_name("TestIB_2/x"), "testib-2-x");
        assert_eq!(dns_name("__"), "unnamed");
    }
}
