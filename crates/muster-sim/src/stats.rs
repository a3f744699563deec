//! What the simulator measures as it runs: waits, exact resource-time integrals, and a
//! timeline of utilization and queue lengths for the report.
//!
//! Resource-time is integrated exactly (milli-units × milliseconds, in `i128`) and only turned
//! into fractions at the end, so summaries are reproducible to the last digit.

use muster_core::Time;

/// Running integral of a vector of amounts over time.
#[derive(Clone, Debug)]
pub struct Integral {
    last: Time,
    /// Current amounts (milli-units).
    pub current: Vec<i128>,
    /// Accumulated amount × time (milli-units × ms).
    pub area: Vec<i128>,
}

impl Integral {
    /// An integral of `n` amounts, all zero, from time zero.
    pub fn new(n: usize) -> Self {
        Integral {
            last: Time::ZERO,
            current: vec![0; n],
            area: vec![0; n],
        }
    }

    /// Accumulates up to `t`.
    pub fn advance(&mut self, t: Time) {
        let dt = i128::from((t.as_millis() - self.last.as_millis()).max(0));
        if dt > 0 {
            for (a, c) in self.area.iter_mut().zip(&self.current) {
                *a += c * dt;
            }
        }
        self.last = self.last.max(t);
    }
}

/// One point of the timeline: cluster-wide allocation and per-queue counts after an instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample<'a> {
    /// Seconds from the start.
    pub time: f64,
    /// Allocated / allocatable per reported resource.
    pub utilization: &'a [f64],
    /// Pending workloads per ClusterQueue.
    pub pending: &'a [u32],
    /// Admitted (running) workloads per ClusterQueue.
    pub running: &'a [u32],
    /// Dominant share of the cluster per ClusterQueue: the largest, over the reported
    /// resources any node has, of the queue's allocated / the cluster's allocatable.
    pub queue_share: &'a [f64],
}

/// The timeline and the names its columns refer to: one sample per instant at which
/// something changed, in time order.
///
/// A replay of a long trace has hundreds of thousands of samples, and at each of them only a
/// queue or two change. So the per-queue columns are kept as changes: a sample stores the
/// queues whose counts or share differ from the sample before it. Read the samples with
/// [`Timeline::for_each`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    /// Resource names of `Sample::utilization`.
    pub resources: Vec<String>,
    /// ClusterQueue names of `Sample::pending`, `Sample::running` and `Sample::queue_share`.
    pub cluster_queues: Vec<String>,
    times: Vec<f64>,
    /// `resources.len()` values per sample.
    utilization: Vec<f64>,
    /// Per sample, the end of its changes in `changes` (each starts where the last ended).
    changes_end: Vec<usize>,
    changes: Vec<QueueChange>,
    /// Per ClusterQueue, its state after the last sample.
    last: Vec<QueueState>,
    /// Per ClusterQueue, its state before the last sample (so it can be replaced).
    before_last: Vec<QueueState>,
}

/// A ClusterQueue's columns in one sample.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct QueueState {
    pending: u32,
    running: u32,
    share: f64,
}

impl QueueState {
    /// Whether the two are the same to the bit (a share is never NaN).
    fn same(&self, other: &QueueState) -> bool {
        (self.pending, self.running, self.share.to_bits())
            == (other.pending, other.running, other.share.to_bits())
    }
}

/// A ClusterQueue whose state in a sample differs from the sample before.
#[derive(Clone, Copy, Debug, PartialEq)]
struct QueueChange {
    queue: u32,
    state: QueueState,
}

impl Timeline {
    /// An empty timeline over these resources and ClusterQueues.
    pub fn new(resources: Vec<String>, cluster_queues: Vec<String>) -> Self {
        let start = vec![QueueState::default(); cluster_queues.len()];
        Timeline {
            resources,
            cluster_queues,
            last: start.clone(),
            before_last: start,
            ..Timeline::default()
        }
    }

    /// Adds a sample after the last one; a sample at the last one's time replaces it.
    ///
    /// Each column takes as many values as it has names: missing values are zero, extra
    /// ones are ignored.
    pub fn push(&mut self, sample: Sample<'_>) {
        let (r, q) = (self.resources.len(), self.cluster_queues.len());
        let last_start = self.changes_start(self.times.len().wrapping_sub(1));
        if self.times.last() == Some(&sample.time) {
            // Undo the last sample: its queues go back to their state before it.
            for c in &self.changes[last_start..] {
                let k = c.queue as usize;
                self.last[k] = self.before_last[k];
            }
            self.changes.truncate(last_start);
            self.changes_end.pop();
            self.times.pop();
            self.utilization.truncate(self.times.len() * r);
        } else {
            // The last sample becomes the one before.
            for c in &self.changes[last_start..] {
                self.before_last[c.queue as usize] = c.state;
            }
        }
        self.times.push(sample.time);
        extend_exact(&mut self.utilization, sample.utilization, r);
        let column = |values: &[u32], k: usize| values.get(k).copied().unwrap_or(0);
        for k in 0..q {
            let state = QueueState {
                pending: column(sample.pending, k),
                running: column(sample.running, k),
                share: sample.queue_share.get(k).copied().unwrap_or(0.0),
            };
            if !state.same(&self.last[k]) {
                self.changes.push(QueueChange {
                    queue: k as u32,
                    state,
                });
                self.last[k] = state;
            }
        }
        self.changes_end.push(self.changes.len());
    }

    /// Where sample `i`'s changes start (the end, for no such sample).
    fn changes_start(&self, i: usize) -> usize {
        match i.checked_sub(1) {
            Some(before) => self.changes_end.get(before).copied(),
            None => Some(0),
        }
        .unwrap_or(self.changes.len())
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// The samples' times, in order.
    pub fn times(&self) -> &[f64] {
        &self.times
    }

    /// Calls `f` with each sample, in time order.
    pub fn for_each(&self, mut f: impl FnMut(Sample<'_>)) {
        let (r, q) = (self.resources.len(), self.cluster_queues.len());
        let (mut pending, mut running, mut share) = (vec![0; q], vec![0; q], vec![0.0; q]);
        let mut start = 0;
        for (i, (&time, &end)) in self.times.iter().zip(&self.changes_end).enumerate() {
            for c in &self.changes[start..end] {
                let k = c.queue as usize;
                (pending[k], running[k], share[k]) =
                    (c.state.pending, c.state.running, c.state.share);
            }
            start = end;
            f(Sample {
                time,
                utilization: &self.utilization[i * r..(i + 1) * r],
                pending: &pending,
                running: &running,
                queue_share: &share,
            });
        }
    }
}

/// Appends exactly `n` values: `values`, cut or padded with the default.
fn extend_exact<T: Copy + Default>(column: &mut Vec<T>, values: &[T], n: usize) {
    let take = values.len().min(n);
    column.extend_from_slice(&values[..take]);
    column.resize(column.len() + (n - take), T::default());
}

/// At most `max` of the indices `0..n`, in order: every k-th from the first, with the
/// smallest k that keeps the count within `max`, plus the last. All of them when they fit.
pub fn thin_indices(n: usize, max: usize) -> impl Iterator<Item = usize> {
    let (step, tail) = if n <= max {
        (1, n)
    } else if max < 2 {
        // Only the last item, if any is wanted.
        (1, 0)
    } else {
        // Indices 0, k, 2k, … below n - 1, then n - 1: ceil((n - 1) / k) + 1 ≤ max.
        ((n - 1).div_ceil(max - 1), n - 1)
    };
    let last = (n > max && max > 0).then(|| n - 1);
    (0..tail).step_by(step).chain(last)
}

/// Rounds to 6 decimals, so that fractions print short and the same everywhere.
pub fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Mean, nearest-rank percentiles and max of a sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Distribution {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Distribution {
    /// The distribution of `values` (milliseconds), reported in seconds.
    pub fn of_millis(values: &[i64]) -> Self {
        if values.is_empty() {
            return Distribution::default();
        }
        let mut v = values.to_vec();
        v.sort_unstable();
        let n = v.len();
        let rank = |p: usize| -> f64 {
            // Nearest rank: the smallest value with at least p% of the sample at or below it.
            let idx = (p * n).div_ceil(100).max(1) - 1;
            v[idx.min(n - 1)] as f64 / 1000.0
        };
        let sum: i128 = v.iter().map(|&x| i128::from(x)).sum();
        Distribution {
            mean: round6(sum as f64 / n as f64 / 1000.0),
            p50: rank(50),
            p95: rank(95),
            p99: rank(99),
            max: v[n - 1] as f64 / 1000.0,
        }
    }
}

/// Jain's fairness index of `x`: 1 when all are equal, 1/n when one has everything.
pub fn jain(x: &[f64]) -> f64 {
    let sum: f64 = x.iter().sum();
    let sq: f64 = x.iter().map(|v| v * v).sum();
    if x.is_empty() || sq == 0.0 {
        return 1.0;
    }
    round6(sum * sum / (x.len() as f64 * sq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let d = Distribution::of_millis(&(1..=100).map(|s| s * 1000).collect::<Vec<_>>());
        assert_eq!((d.p50, d.p95, d.p99, d.max), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(d.mean, 50.5);
        let one = Distribution::of_millis(&[7000]);
        assert_eq!((one.p50, one.p99, one.max, one.mean), (7.0, 7.0, 7.0, 7.0));
        assert_eq!(Distribution::of_millis(&[]), Distribution::default());
    }

    #[test]
    fn jain_index() {
        assert_eq!(jain(&[0.5, 0.5]), 1.0);
        assert_eq!(jain(&[1.0, 0.0]), 0.5);
        assert_eq!(jain(&[]), 1.0);
    }

    #[test]
    fn thin_keeps_every_kth_and_the_last() {
        let thin = |n: usize, max: usize| thin_indices(n, max).collect::<Vec<usize>>();
        let v: Vec<usize> = (0..10).collect();
        assert_eq!(thin(10, 10), v);
        assert_eq!(thin(10, 20), v);
        assert_eq!(thin(10, 4), vec![0, 3, 6, 9]);
        assert_eq!(thin(10, 3), vec![0, 5, 9]);
        let t = thin(1000, 200);
        assert!(t.len() <= 200, "{}", t.len());
        assert_eq!((t[0], t[1], *t.last().unwrap()), (0, 6, 999));
        for n in 0..500 {
            let v: Vec<usize> = (0..n).collect();
            let t = thin(n, 200);
            assert!(t.len() <= 200);
            assert_eq!(t.first(), v.first());
            assert_eq!(t.last(), v.last());
        }
        assert_eq!(thin(10, 1), vec![9]);
        assert_eq!(thin(10, 0), Vec::<usize>::new());
    }

    #[test]
    fn timeline_keeps_one_sample_per_instant_and_its_columns_apart() {
        let mut tl = Timeline::new(vec!["cpu".into()], vec!["a".into(), "b".into()]);
        let sample = |time, pending: &'static [u32]| Sample {
            time,
            utilization: &[0.5],
            pending,
            running: &[1, 2],
            queue_share: &[0.25, 0.75],
        };
        tl.push(sample(0.0, &[3, 4]));
        tl.push(sample(1.0, &[5, 6]));
        // The same instant again: the later state wins.
        tl.push(sample(1.0, &[7, 8]));
        // Columns of the wrong width are cut or padded, never shifted into the next row.
        tl.push(Sample {
            time: 2.0,
            utilization: &[],
            pending: &[9, 10, 11],
            running: &[1],
            queue_share: &[0.5, 0.5],
        });
        assert_eq!(tl.len(), 3);
        assert_eq!(tl.times(), &[0.0, 1.0, 2.0]);
        let mut seen = Vec::new();
        tl.for_each(|s| {
            seen.push((
                s.utilization.to_vec(),
                s.pending.to_vec(),
                s.running.to_vec(),
                s.queue_share.to_vec(),
            ))
        });
        assert_eq!(
            seen,
            vec![
                (vec![0.5], vec![3, 4], vec![1, 2], vec![0.25, 0.75]),
                (vec![0.5], vec![7, 8], vec![1, 2], vec![0.25, 0.75]),
                (vec![0.0], vec![9, 10], vec![1, 0], vec![0.5, 0.5]),
            ]
        );
    }

    /// A sample as plain rows: (time, utilization, pending, running, share).
    type Row = (f64, Vec<f64>, Vec<u32>, Vec<u32>, Vec<f64>);

    proptest::proptest! {
        /// Whatever the pushes (new instants, the same instant again, values that come back
        /// to what they were), the timeline reads back as a plain list of rows would.
        #[test]
        fn timeline_reads_back_what_was_pushed(
            pushes in proptest::collection::vec(
                (
                    proptest::bool::ANY,
                    proptest::collection::vec(0u32..3, 3),
                    proptest::collection::vec(0u32..3, 3),
                    proptest::collection::vec(0u8..3, 3),
                    0u8..4,
                ),
                0..40,
            )
        ) {
            let mut tl = Timeline::new(
                vec!["cpu".into()],
                vec!["a".into(), "b".into(), "c".into()],
            );
            let mut rows: Vec<Row> = Vec::new();
            let mut time = 0.0;
            for (same_instant, pending, running, share, used) in pushes {
                if !same_instant || rows.is_empty() {
                    time += 1.0;
                }
                let share: Vec<f64> = share.iter().map(|&x| f64::from(x) / 4.0).collect();
                let utilization = vec![f64::from(used) / 4.0];
                tl.push(Sample {
                    time,
                    utilization: &utilization,
                    pending: &pending,
                    running: &running,
                    queue_share: &share,
                });
                let row = (time, utilization, pending, running, share);
                match rows.last_mut() {
                    Some(last) if last.0 == time => *last = row,
                    _ => rows.push(row),
                }
            }
            let mut read: Vec<Row> = Vec::new();
            tl.for_each(|s| {
                read.push((
                    s.time,
                    s.utilization.to_vec(),
                    s.pending.to_vec(),
                    s.running.to_vec(),
                    s.queue_share.to_vec(),
                ))
            });
            proptest::prop_assert_eq!(tl.len(), rows.len());
            proptest::prop_assert_eq!(read, rows);
        }
    }

    #[test]
    fn integral_is_exact() {
        let mut i = Integral::new(1);
        i.current[0] = 2000;
        i.advance(Time(1500));
        i.current[0] = 0;
        i.advance(Time(4000));
        assert_eq!(i.area[0], 3_000_000);
    }
}
