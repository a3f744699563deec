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
/// A replay of a long trace has hundreds of thousands of samples, so they are kept column by
/// column rather than as a list of rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    /// Resource names of `Sample::utilization`.
    pub resources: Vec<String>,
    /// ClusterQueue names of `Sample::pending`, `Sample::running` and `Sample::queue_share`.
    pub cluster_queues: Vec<String>,
    times: Vec<f64>,
    utilization: Vec<f64>,
    pending: Vec<u32>,
    running: Vec<u32>,
    queue_share: Vec<f64>,
}

impl Timeline {
    /// An empty timeline over these resources and ClusterQueues.
    pub fn new(resources: Vec<String>, cluster_queues: Vec<String>) -> Self {
        Timeline {
            resources,
            cluster_queues,
            ..Timeline::default()
        }
    }

    /// Adds a sample after the last one; a sample at the last one's time replaces it.
    ///
    /// Each column takes as many values as it has names: missing values are zero, extra
    /// ones are ignored.
    pub fn push(&mut self, sample: Sample<'_>) {
        if self.times.last() == Some(&sample.time) {
            self.truncate(self.times.len() - 1);
        }
        let (r, q) = (self.resources.len(), self.cluster_queues.len());
        self.times.push(sample.time);
        extend_exact(&mut self.utilization, sample.utilization, r);
        extend_exact(&mut self.pending, sample.pending, q);
        extend_exact(&mut self.running, sample.running, q);
        extend_exact(&mut self.queue_share, sample.queue_share, q);
    }

    fn truncate(&mut self, len: usize) {
        let (r, q) = (self.resources.len(), self.cluster_queues.len());
        self.times.truncate(len);
        self.utilization.truncate(len * r);
        self.pending.truncate(len * q);
        self.running.truncate(len * q);
        self.queue_share.truncate(len * q);
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// The `i`-th sample, if there are that many.
    pub fn get(&self, i: usize) -> Option<Sample<'_>> {
        (i < self.len()).then(|| self.row(i))
    }

    /// The samples in time order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Sample<'_>> + '_ {
        (0..self.len()).map(|i| self.row(i))
    }

    /// Sample `i < len()`: every column holds `len()` rows of its width (`push` keeps it so).
    fn row(&self, i: usize) -> Sample<'_> {
        let (r, q) = (self.resources.len(), self.cluster_queues.len());
        Sample {
            time: self.times[i],
            utilization: &self.utilization[i * r..(i + 1) * r],
            pending: &self.pending[i * q..(i + 1) * q],
            running: &self.running[i * q..(i + 1) * q],
            queue_share: &self.queue_share[i * q..(i + 1) * q],
        }
    }
}

/// Appends exactly `n` values: `values`, cut or padded with the default.
fn extend_exact<T: Copy + Default>(column: &mut Vec<T>, values: &[T], n: usize) {
    let take = values.len().min(n);
    column.extend_from_slice(&values[..take]);
    column.resize(column.len() + (n - take), T::default());
}

/// At most `max` items of `items`, in order: every k-th from the first, with the smallest k
/// that keeps the count within `max`, plus the last item. All of them when they fit.
pub fn thin<T: Clone>(items: &[T], max: usize) -> Vec<T> {
    thin_indices(items.len(), max)
        .map(|i| items[i].clone())
        .collect()
}

/// The indices, among `0..n`, that [`thin`] keeps.
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
        let v: Vec<u32> = (0..10).collect();
        assert_eq!(thin(&v, 10), v);
        assert_eq!(thin(&v, 20), v);
        assert_eq!(thin(&v, 4), vec![0, 3, 6, 9]);
        assert_eq!(thin(&v, 3), vec![0, 5, 9]);
        let long: Vec<u32> = (0..1000).collect();
        let t = thin(&long, 200);
        assert!(t.len() <= 200, "{}", t.len());
        assert_eq!((t[0], t[1], *t.last().unwrap()), (0, 6, 999));
        for n in 0..500 {
            let v: Vec<usize> = (0..n).collect();
            let t = thin(&v, 200);
            assert!(t.len() <= 200);
            assert_eq!(t.first(), v.first());
            assert_eq!(t.last(), v.last());
        }
        assert_eq!(thin(&v, 1), vec![9]);
        assert_eq!(thin(&v, 0), Vec::<u32>::new());
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
        let times: Vec<f64> = tl.iter().map(|s| s.time).collect();
        assert_eq!(times, vec![0.0, 1.0, 2.0]);
        assert_eq!(tl.get(1).map(|s| s.pending), Some(&[7, 8][..]));
        let last = tl.get(2).expect("three samples");
        assert_eq!(last.utilization, &[0.0]);
        assert_eq!(last.pending, &[9, 10]);
        assert_eq!(last.running, &[1, 0]);
        assert_eq!(tl.get(0).map(|s| s.queue_share), Some(&[0.25, 0.75][..]));
        assert_eq!(tl.get(3), None);
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
