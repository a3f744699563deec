//! The event records of `events.jsonl`, exactly as `spec/simulate.md` defines them.
//!
//! Field order is fixed by the struct (serde writes fields in declaration order), optional
//! fields are omitted when absent, and maps are `BTreeMap`s: the same run always writes the
//! same bytes.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum EventKind {
    /// The workload entered its queue.
    Submitted,
    /// The workload was admitted and its pods placed.
    Admitted,
    /// The workload was stopped to make room for another; it is pending again.
    Preempted,
    /// The workload ran to completion.
    Finished,
    /// The workload can never be admitted; it stays pending.
    Inadmissible,
}

/// Where one pod of an admitted workload runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodRecord<'a> {
    /// Pod set name.
    pub pod_set: &'a str,
    /// Index of the pod in its pod set.
    pub index: u32,
    /// Node name.
    pub node: &'a str,
    /// The NUMA zones its aligned resources come from, where the node has a
    /// NodeResourceTopology and the pod holds zone resources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numa_zones: Option<&'a [String]>,
    /// NUMA-blind placement only: the node's kubelet would reject this pod with a Topology
    /// Affinity Error.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub topology_affinity_error: bool,
}

/// Where the pods of an admitted workload run: a [`PodRecord`] each, serialized as their
/// list.
///
/// A replay of a large trace places millions of pods, so a pod is kept as numbers: its pod
/// set and node are positions in name lists that the pods share (the node names with every
/// event of the run).
#[derive(Clone, Debug, PartialEq)]
pub struct Placements {
    nodes: Arc<[String]>,
    pod_sets: Vec<String>,
    pods: Vec<PodPlacement>,
}

/// One pod of [`Placements`], by position in its name lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodPlacement {
    /// Position of its pod set's name.
    pub pod_set: u32,
    /// Index of the pod in its pod set.
    pub index: u32,
    /// Position of its node's name.
    pub node: u32,
    /// As [`PodRecord::numa_zones`].
    pub numa_zones: Option<Vec<String>>,
    /// As [`PodRecord::topology_affinity_error`].
    pub topology_affinity_error: bool,
}

impl Placements {
    /// No pods yet, of pod sets named `pod_sets`, on nodes named `nodes`.
    pub fn new(nodes: Arc<[String]>, pod_sets: Vec<String>, capacity: usize) -> Self {
        Placements {
            nodes,
            pod_sets,
            pods: Vec::with_capacity(capacity),
        }
    }

    /// Adds a pod; whether its pod set and node are in the name lists (if not, nothing is
    /// added).
    pub fn push(&mut self, pod: PodPlacement) -> bool {
        let known =
            (pod.pod_set as usize) < self.pod_sets.len() && (pod.node as usize) < self.nodes.len();
        if known {
            self.pods.push(pod);
        }
        known
    }

    /// Number of pods.
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    /// Whether there are no pods.
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    /// The pods, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = PodRecord<'_>> + '_ {
        // `push` admits only positions within the lists.
        self.pods.iter().map(|p| PodRecord {
            pod_set: &self.pod_sets[p.pod_set as usize],
            index: p.index,
            node: &self.nodes[p.node as usize],
            numa_zones: p.numa_zones.as_deref(),
            topology_affinity_error: p.topology_affinity_error,
        })
    }
}

impl Serialize for Placements {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// One line of `events.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    /// Seconds from the start.
    pub time: f64,
    /// What happened.
    pub event: EventKind,
    /// `namespace/name`.
    pub workload: Arc<str>,
    /// Its ClusterQueue.
    pub cluster_queue: Arc<str>,
    /// Admitted: resource → flavor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flavors: Option<BTreeMap<String, String>>,
    /// Admitted, when pod sets were given different flavors: pod set → resource → flavor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_set_flavors: Option<BTreeMap<String, BTreeMap<String, String>>>,
    /// Admitted: whether it borrows quota from its cohort.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub borrowing: Option<bool>,
    /// Admitted: the node of every pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pods: Option<Placements>,
    /// Preempted: the workload it made room for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<Arc<str>>,
    /// Preempted: why (Kueue's reason names); Inadmissible: why, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl EventRecord {
    /// A record with only the common fields.
    pub fn new(time: f64, event: EventKind, workload: Arc<str>, cluster_queue: Arc<str>) -> Self {
        EventRecord {
            time,
            event,
            workload,
            cluster_queue,
            flavors: None,
            pod_set_flavors: None,
            borrowing: None,
            pods: None,
            by: None,
            reason: None,
        }
    }
}

/// Receives events as the simulation makes them.
pub trait EventSink {
    /// Called once per event, in time order. The sink owns the event from then on.
    fn record(&mut self, event: EventRecord) -> std::io::Result<()>;
}

/// Writes events as JSON lines.
pub struct JsonLines<W: std::io::Write>(pub W);

impl<W: std::io::Write> EventSink for JsonLines<W> {
    fn record(&mut self, event: EventRecord) -> std::io::Result<()> {
        write_line(&mut self.0, &event)
    }
}

/// Writes one event as a JSON line.
fn write_line(out: &mut impl std::io::Write, event: &EventRecord) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, event)?;
    out.write_all(b"\n")
}

/// Keeps events in memory (tests, small runs).
#[derive(Default, Debug)]
pub struct Collect(pub Vec<EventRecord>);

impl EventSink for Collect {
    fn record(&mut self, event: EventRecord) -> std::io::Result<()> {
        self.0.push(event);
        Ok(())
    }
}

/// Drops events (benchmarks of the scheduling alone).
#[derive(Default, Debug)]
pub struct Discard;

impl EventSink for Discard {
    fn record(&mut self, _: EventRecord) -> std::io::Result<()> {
        Ok(())
    }
}

/// Events passed on this many at a time to a [`Background`] sink's thread.
const BATCH: usize = 1024;

/// Batches in flight to a [`Background`] sink's thread before the simulation waits for it.
const BATCHES_IN_FLIGHT: usize = 16;

/// Writes events as JSON lines on a thread of its own, so that encoding them (for a whole
/// trace, hundreds of megabytes) runs beside the simulation instead of inside it. The
/// lines and their order are exactly what [`JsonLines`] writes.
///
/// Encoded batches come back to the simulation's thread to be dropped and reused there: an
/// event's strings were allocated on that thread, and freeing them on the writer's made
/// the two threads contend for the allocator's lock (a sixth of SDSC Blue's time).
pub struct Background<W: std::io::Write + Send + 'static> {
    batch: Vec<EventRecord>,
    tx: Option<std::sync::mpsc::SyncSender<Vec<EventRecord>>>,
    /// Batches the writer has encoded, to be emptied here.
    written: std::sync::mpsc::Receiver<Vec<EventRecord>>,
    writer: Option<std::thread::JoinHandle<std::io::Result<W>>>,
}

impl<W: std::io::Write + Send + 'static> Background<W> {
    /// Starts the thread that writes to `out`.
    pub fn spawn(out: W) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<EventRecord>>(BATCHES_IN_FLIGHT);
        let (written_tx, written) = std::sync::mpsc::channel::<Vec<EventRecord>>();
        let writer = std::thread::Builder::new()
            .name("events.jsonl".into())
            .spawn(move || {
                let mut out = out;
                for batch in rx {
                    for event in &batch {
                        write_line(&mut out, event)?;
                    }
                    // The simulation's thread may be gone (it failed): then drop it here.
                    let _ = written_tx.send(batch);
                }
                Ok(out)
            })?;
        Ok(Background {
            batch: Vec::with_capacity(BATCH),
            tx: Some(tx),
            written,
            writer: Some(writer),
        })
    }

    /// Writes what is left and gives back the writer once every event is in it.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.send()?;
        self.tx = None;
        self.join()
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        // An encoded batch, emptied, holds the next events; the others are freed here.
        let mut next = None;
        while let Ok(mut done) = self.written.try_recv() {
            done.clear();
            next.get_or_insert(done);
        }
        let next = next.unwrap_or_else(|| Vec::with_capacity(BATCH));
        let batch = std::mem::replace(&mut self.batch, next);
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(batch).is_ok());
        if sent {
            return Ok(());
        }
        // The thread stopped: a write failed. Say why.
        self.tx = None;
        match self.join() {
            Ok(_) => Err(std::io::Error::other("the events writer stopped early")),
            Err(e) => Err(e),
        }
    }

    fn join(&mut self) -> std::io::Result<W> {
        match self.writer.take().map(|w| w.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(std::io::Error::other("the events writer panicked")),
            None => Err(std::io::Error::other("the events writer stopped earlier")),
        }
    }
}

impl<W: std::io::Write + Send + 'static> EventSink for Background<W> {
    fn record(&mut self, event: EventRecord) -> std::io::Result<()> {
        self.batch.push(event);
        if self.batch.len() >= BATCH {
            self.send()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_in_spec_order_omitting_absent_fields() {
        let mut e = EventRecord::new(
            0.0,
            EventKind::Submitted,
            "team-a/train-1".into(),
            "team-a".into(),
        );
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"time":0.0,"event":"Submitted","workload":"team-a/train-1","clusterQueue":"team-a"}"#
        );
        e.event = EventKind::Preempted;
        e.time = 30.0;
        e.by = Some("team-a/train-2".into());
        e.reason = Some("InClusterQueue".into());
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"time":30.0,"event":"Preempted","workload":"team-a/train-1","clusterQueue":"team-a","by":"team-a/train-2","reason":"InClusterQueue"}"#
        );
    }

    #[test]
    fn pods_serialize_as_a_list_of_records_by_name() {
        let nodes: Arc<[String]> = vec!["n0".to_string(), "n1".to_string()].into();
        let mut pods = Placements::new(nodes, vec!["main".into(), "rest".into()], 3);
        assert!(pods.push(PodPlacement {
            pod_set: 0,
            index: 0,
            node: 1,
            ..PodPlacement::default()
        }));
        assert!(pods.push(PodPlacement {
            pod_set: 1,
            index: 0,
            node: 0,
            numa_zones: Some(vec!["node-0".into()]),
            topology_affinity_error: true,
        }));
        // Positions outside the name lists are refused, not written as some other name.
        assert!(!pods.push(PodPlacement {
            node: 2,
            ..PodPlacement::default()
        }));
        assert!(!pods.push(PodPlacement {
            pod_set: 2,
            ..PodPlacement::default()
        }));
        assert_eq!(pods.len(), 2);
        let mut e = EventRecord::new(5.0, EventKind::Admitted, "ns/a".into(), "q".into());
        e.pods = Some(pods);
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"time":5.0,"event":"Admitted","workload":"ns/a","clusterQueue":"q","pods":[{"podSet":"main","index":0,"node":"n1"},{"podSet":"rest","index":0,"node":"n0","numaZones":["node-0"],"topologyAffinityError":true}]}"#
        );
    }

    fn event(i: usize) -> EventRecord {
        EventRecord::new(
            i as f64,
            EventKind::Submitted,
            format!("ns/job-{i}").into(),
            "cq".into(),
        )
    }

    #[test]
    fn the_background_writer_writes_what_json_lines_writes_in_order() {
        let events: Vec<EventRecord> = (0..3 * BATCH + 7).map(event).collect();
        let mut direct = JsonLines(Vec::new());
        let mut background = Background::spawn(Vec::new()).unwrap();
        for e in &events {
            direct.record(e.clone()).unwrap();
            background.record(e.clone()).unwrap();
        }
        let written = background.finish().unwrap();
        assert_eq!(
            String::from_utf8(written).unwrap(),
            String::from_utf8(direct.0).unwrap()
        );
    }

    /// Fails every write after the first `ok` bytes.
    struct FailsAfter {
        ok: usize,
    }

    impl std::io::Write for FailsAfter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.ok < buf.len() {
                return Err(std::io::Error::other("disk full"));
            }
            self.ok -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_is_reported_not_lost() {
        let mut background = Background::spawn(FailsAfter { ok: 1000 }).unwrap();
        let mut failed = None;
        for i in 0..100 * BATCH {
            if let Err(e) = background.record(event(i)) {
                failed = Some(e);
                break;
            }
        }
        let error = match failed {
            Some(e) => e,
            None => background.finish().err().expect("the write error"),
        };
        assert_eq!(error.to_string(), "disk full");
    }
}
