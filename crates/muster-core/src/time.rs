//! Time as the core sees it: an input, in whole milliseconds.
//!
//! The core never reads a clock. Each cycle is handed `now`; the simulator's clock starts at
//! zero, the controller's is the wall clock. Milliseconds are fine enough for batch scheduling
//! and keep time arithmetic exact.

use std::fmt;
use std::ops::{Add, Sub};

/// An instant, in milliseconds from the start of the timeline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub i64);

/// A span of time, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub i64);

impl Time {
    /// The start of the timeline.
    pub const ZERO: Time = Time(0);

    /// The instant in milliseconds.
    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// The instant in seconds, for output.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration(0);

    /// A duration of whole seconds.
    pub const fn from_secs(secs: i64) -> Self {
        Duration(secs * 1000)
    }

    /// A duration of milliseconds.
    pub const fn from_millis(ms: i64) -> Self {
        Duration(ms)
    }

    /// The duration in milliseconds.
    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// The duration in seconds, for output.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, rhs: Duration) -> Time {
        Time(self.0.saturating_add(rhs.0))
    }
}

impl Sub for Time {
    type Output = Duration;
    fn sub(self, rhs: Time) -> Duration {
        Duration(self.0 - rhs.0)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.as_secs_f64())
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.as_secs_f64())
    }
}
