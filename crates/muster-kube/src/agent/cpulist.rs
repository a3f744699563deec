//! Linux CPU list syntax (`0-3,8-11`), as sysfs writes it in `cpulist` and `online` files and
//! as the kubelet's `--reserved-cpus` takes it.
//!
//! Only the form the kernel prints is read: comma-separated CPU numbers and inclusive ranges,
//! surrounding whitespace ignored, the empty string the empty set. The kernel's input-only
//! stride form (`0-7:2/4`) is not.

use std::collections::BTreeSet;
use std::fmt;

/// The largest CPU number accepted: far above any kernel's `NR_CPUS` (8192 today), so that a
/// corrupt file cannot make the agent build a set of billions.
pub const MAX_CPU: u32 = 1 << 16;

/// A set of logical CPUs, by number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuSet(pub BTreeSet<u32>);

/// Why a text is not a CPU list.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CpuListError {
    /// An element is not a number or a range of numbers.
    #[error("cpu list {list:?}: {element:?} is not a cpu number or a range a-b")]
    NotANumber {
        /// The whole list.
        list: String,
        /// The element.
        element: String,
    },
    /// A range ends before it starts.
    #[error("cpu list {list:?}: range {element:?} ends before it starts")]
    Backwards {
        /// The whole list.
        list: String,
        /// The element.
        element: String,
    },
    /// A CPU number above [`MAX_CPU`].
    #[error("cpu list {list:?}: cpu {cpu} is above the largest supported ({MAX_CPU})")]
    TooLarge {
        /// The whole list.
        list: String,
        /// The number, as written.
        cpu: String,
    },
}

impl CpuSet {
    /// Reads a CPU list.
    pub fn parse(text: &str) -> Result<CpuSet, CpuListError> {
        let list = text.trim();
        let mut set = BTreeSet::new();
        if list.is_empty() {
            return Ok(CpuSet(set));
        }
        let number = |s: &str, element: &str| -> Result<u32, CpuListError> {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CpuListError::NotANumber {
                    list: list.to_string(),
                    element: element.to_string(),
                });
            }
            // All digits: only overflow can fail, and overflow is too large as well.
            match s.parse::<u32>() {
                Ok(n) if n <= MAX_CPU => Ok(n),
                _ => Err(CpuListError::TooLarge {
                    list: list.to_string(),
                    cpu: s.to_string(),
                }),
            }
        };
        for element in list.split(',') {
            let element = element.trim();
            match element.split_once('-') {
                None => {
                    set.insert(number(element, element)?);
                }
                Some((a, b)) => {
                    let (a, b) = (number(a, element)?, number(b, element)?);
                    if b < a {
                        return Err(CpuListError::Backwards {
                            list: list.to_string(),
                            element: element.to_string(),
                        });
                    }
                    set.extend(a..=b);
                }
            }
        }
        Ok(CpuSet(set))
    }

    /// How many CPUs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The CPUs in both sets.
    pub fn intersection(&self, other: &CpuSet) -> CpuSet {
        CpuSet(self.0.intersection(&other.0).copied().collect())
    }

    /// The CPUs of this set not in `other`.
    pub fn difference(&self, other: &CpuSet) -> CpuSet {
        CpuSet(self.0.difference(&other.0).copied().collect())
    }
}

/// The kernel's form: ranges of consecutive CPUs joined, `0-3,8-11`.
impl fmt::Display for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut iter = self.0.iter().copied().peekable();
        while let Some(start) = iter.next() {
            let mut end = start;
            while iter.peek() == Some(&(end + 1)) {
                end += 1;
                iter.next();
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if end == start {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_form_reads_and_prints() {
        let s = CpuSet::parse("0-3,8-11\n").unwrap();
        assert_eq!(s.len(), 8);
        assert_eq!(s.to_string(), "0-3,8-11");
        assert_eq!(CpuSet::parse("5").unwrap().to_string(), "5");
        assert_eq!(CpuSet::parse("1,2,3,7").unwrap().to_string(), "1-3,7");
        assert!(CpuSet::parse("\n").unwrap().is_empty());
        assert!(CpuSet::parse("").unwrap().is_empty());
        let a = CpuSet::parse("0-7").unwrap();
        let b = CpuSet::parse("6-9").unwrap();
        assert_eq!(a.intersection(&b).to_string(), "6-7");
        assert_eq!(a.difference(&b).to_string(), "0-5");
    }

    #[test]
    fn malformed_lists_are_errors_not_panics() {
        let e = |t: &str| CpuSet::parse(t).unwrap_err().to_string();
        assert_eq!(
            e("0-"),
            "cpu list \"0-\": \"0-\" is not a cpu number or a range a-b"
        );
        assert_eq!(
            e("a,1"),
            "cpu list \"a,1\": \"a\" is not a cpu number or a range a-b"
        );
        assert_eq!(
            e("1,,2"),
            "cpu list \"1,,2\": \"\" is not a cpu number or a range a-b"
        );
        assert_eq!(
            e("-1"),
            "cpu list \"-1\": \"-1\" is not a cpu number or a range a-b"
        );
        assert_eq!(
            e("7-3"),
            "cpu list \"7-3\": range \"7-3\" ends before it starts"
        );
        assert_eq!(
            e("0-99999999999999999999999"),
            "cpu list \"0-99999999999999999999999\": cpu 99999999999999999999999 is above the largest supported (65536)"
        );
        assert!(e("0-7:2/4").contains("is not a cpu number"));
    }
}
