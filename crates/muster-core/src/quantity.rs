//! Exact resource quantities with Kubernetes syntax.
//!
//! A [`Quantity`] is an integer count of milli-units (`1` cpu is `1000`, `4Gi` of memory is
//! `4 * 2^30 * 1000`). It is never a float: two schedulers reading the same input must reach
//! the same decision, so all quota and fit arithmetic is exact. The value is an `i128` so that
//! sums over a whole cluster (tens of thousands of nodes, each with terabytes of memory
//! counted in milli-bytes) cannot overflow.
//!
//! Parsing follows `k8s.io/apimachinery/pkg/api/resource`: a signed decimal number followed by
//! a binary suffix (`Ki`…`Ei`), a decimal suffix (`n`, `u`, `m`, ``, `k`, `M`…`E`) or an
//! exponent (`1e3`, `5E-1`). Precision finer than a milli-unit is rounded up, as Kubernetes
//! does when it reads a quantity's milli-value.

use std::fmt;
use std::ops::{Add, AddAssign, Mul, Neg, Sub, SubAssign};

/// An exact amount of a resource, in milli-units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(i128);

/// Why a string is not a Kubernetes quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The text is empty.
    #[error("empty quantity")]
    Empty,
    /// The number part is missing or malformed.
    #[error("quantity {0:?} must start with a number (e.g. 500m, 4Gi, 1.5, 1e3)")]
    BadNumber(String),
    /// The suffix is not one Kubernetes knows.
    #[error(
        "quantity {0:?} has an unknown suffix (use n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent)"
    )]
    BadSuffix(String),
    /// The value does not fit the range Muster can count exactly.
    #[error("quantity {0:?} is too large")]
    TooLarge(String),
}

const MAX_DIGITS: usize = 30;
const MAX_EXPONENT: i32 = 24;

impl Quantity {
    /// Nothing.
    pub const ZERO: Quantity = Quantity(0);

    /// A quantity of `milli` milli-units.
    pub const fn from_milli(milli: i128) -> Self {
        Quantity(milli)
    }

    /// A quantity of `units` whole units (cores, bytes, devices, pods).
    pub const fn from_units(units: i64) -> Self {
        Quantity(units as i128 * 1000)
    }

    /// The amount in milli-units.
    pub const fn milli(self) -> i128 {
        self.0
    }

    /// Whether the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Whether the amount is below zero.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// The larger of `self` and zero.
    pub fn clamp_non_negative(self) -> Self {
        Quantity(self.0.max(0))
    }

    /// `self * n`, for a count of pods.
    pub fn times(self, n: u32) -> Self {
        Quantity(self.0 * i128::from(n))
    }

    /// Parses Kubernetes quantity syntax: `500m`, `4Gi`, `1e3`, `1.5`, `-2`.
    pub fn parse(text: &str) -> Result<Self, QuantityError> {
        let s = text.trim();
        if s.is_empty() {
            return Err(QuantityError::Empty);
        }
        let bytes = s.as_bytes();
        let mut i = 0;
        let negative = match bytes[0] {
            b'-' => {
                i = 1;
                true
            }
            b'+' => {
                i = 1;
                false
            }
            _ => false,
        };
        // Mantissa: digits with an optional fraction, accumulated as an integer with a scale.
        let mut mantissa: i128 = 0;
        let mut scale: i32 = 0; // number of fraction digits
        let mut digits = 0usize;
        let mut seen_point = false;
        while i < bytes.len() {
            let c = bytes[i];
            if c.is_ascii_digit() {
                digits += 1;
                if digits > MAX_DIGITS {
                    return Err(QuantityError::TooLarge(text.to_string()));
                }
                mantissa = mantissa * 10 + i128::from(c - b'0');
                if seen_point {
                    scale += 1;
                }
            } else if c == b'.' && !seen_point {
                seen_point = true;
            } else {
                break;
            }
            i += 1;
        }
        if digits == 0 {
            return Err(QuantityError::BadNumber(text.to_string()));
        }
        let suffix = &s[i..];
        // value = mantissa * 10^-scale * base^exp, as a rational num/den.
        let (num_mult, den_mult): (i128, i128) = match suffix {
            "" => (1, 1),
            "n" => (1, 1_000_000_000),
            "u" => (1, 1_000_000),
            "m" => (1, 1_000),
            "k" => (1_000, 1),
            "M" => (1_000_000, 1),
            "G" => (1_000_000_000, 1),
            "T" => (1_000_000_000_000, 1),
            "P" => (1_000_000_000_000_000, 1),
            "E" => (1_000_000_000_000_000_000, 1),
            "Ki" => (1 << 10, 1),
            "Mi" => (1 << 20, 1),
            "Gi" => (1 << 30, 1),
            "Ti" => (1 << 40, 1),
            "Pi" => (1 << 50, 1),
            "Ei" => (1 << 60, 1),
            _ => {
                let exp_text = suffix
                    .strip_prefix('e')
                    .or_else(|| suffix.strip_prefix('E'))
                    .ok_or_else(|| QuantityError::BadSuffix(text.to_string()))?;
                let exp: i32 = exp_text
                    .parse()
                    .map_err(|_| QuantityError::BadSuffix(text.to_string()))?;
                if !(-MAX_EXPONENT..=MAX_EXPONENT).contains(&exp) {
                    return Err(QuantityError::TooLarge(text.to_string()));
                }
                if exp >= 0 {
                    (10i128.pow(exp as u32), 1)
                } else {
                    (1, 10i128.pow((-exp) as u32))
                }
            }
        };
        let too_large = || QuantityError::TooLarge(text.to_string());
        let num = mantissa
            .checked_mul(num_mult)
            .and_then(|v| v.checked_mul(1000))
            .ok_or_else(too_large)?;
        let den = den_mult
            .checked_mul(10i128.pow(scale as u32))
            .ok_or_else(too_large)?;
        // Round up to a whole milli-unit, as Kubernetes' MilliValue does.
        let magnitude = num / den + i128::from(num % den != 0);
        // Keep headroom so that sums over many nodes cannot overflow.
        if magnitude > i128::from(i64::MAX) * 1000 {
            return Err(too_large());
        }
        Ok(Quantity(if negative { -magnitude } else { magnitude }))
    }
}

impl Add for Quantity {
    type Output = Quantity;
    fn add(self, rhs: Quantity) -> Quantity {
        Quantity(self.0 + rhs.0)
    }
}

impl AddAssign for Quantity {
    fn add_assign(&mut self, rhs: Quantity) {
        self.0 += rhs.0;
    }
}

impl Sub for Quantity {
    type Output = Quantity;
    fn sub(self, rhs: Quantity) -> Quantity {
        Quantity(self.0 - rhs.0)
    }
}

impl SubAssign for Quantity {
    fn sub_assign(&mut self, rhs: Quantity) {
        self.0 -= rhs.0;
    }
}

impl Neg for Quantity {
    type Output = Quantity;
    fn neg(self) -> Quantity {
        Quantity(-self.0)
    }
}

impl Mul<u32> for Quantity {
    type Output = Quantity;
    fn mul(self, rhs: u32) -> Quantity {
        self.times(rhs)
    }
}

impl std::iter::Sum for Quantity {
    fn sum<I: Iterator<Item = Quantity>>(iter: I) -> Quantity {
        iter.fold(Quantity::ZERO, Add::add)
    }
}

impl std::str::FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quantity::parse(s)
    }
}

/// Canonical text: milli-units keep an `m` suffix, whole values of at least one Mi that are
/// multiples of a binary unit use the largest such suffix, and other whole values are plain.
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 % 1000 != 0 {
            return write!(f, "{}m", self.0);
        }
        let units = self.0 / 1000;
        const SUFFIXES: [(u32, &str); 5] =
            [(60, "Ei"), (50, "Pi"), (40, "Ti"), (30, "Gi"), (20, "Mi")];
        if units != 0 {
            for (shift, suffix) in SUFFIXES {
                let unit = 1i128 << shift;
                if units % unit == 0 {
                    return write!(f, "{}{}", units / unit, suffix);
                }
            }
        }
        write!(f, "{units}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> i128 {
        Quantity::parse(s).unwrap().milli()
    }

    #[test]
    fn parses_kubernetes_syntax_exactly() {
        assert_eq!(q("500m"), 500);
        assert_eq!(q("1"), 1000);
        assert_eq!(q("1.5"), 1500);
        assert_eq!(q("0.1"), 100);
        assert_eq!(q("1e3"), 1_000_000);
        assert_eq!(q("1E3"), 1_000_000);
        assert_eq!(q("5e-1"), 500);
        assert_eq!(q("4Gi"), 4 * (1i128 << 30) * 1000);
        assert_eq!(q("1Ki"), 1024 * 1000);
        assert_eq!(q("2k"), 2_000_000);
        assert_eq!(q("1M"), 1_000_000_000);
        assert_eq!(q("1.5Gi"), 3 * (1i128 << 29) * 1000);
        assert_eq!(q("-2"), -2000);
        assert_eq!(q("+3"), 3000);
        assert_eq!(q("100u"), 1, "sub-milli precision rounds up");
        assert_eq!(q("1n"), 1, "sub-milli precision rounds up");
        assert_eq!(q("0"), 0);
        assert_eq!(q(".5"), 500);
        assert_eq!(q("8."), 8000);
    }

    #[test]
    fn rejects_malformed_quantities() {
        assert_eq!(Quantity::parse(""), Err(QuantityError::Empty));
        assert!(matches!(
            Quantity::parse("Gi"),
            Err(QuantityError::BadNumber(_))
        ));
        assert!(matches!(
            Quantity::parse("-"),
            Err(QuantityError::BadNumber(_))
        ));
        assert!(matches!(
            Quantity::parse("4GB"),
            Err(QuantityError::BadSuffix(_))
        ));
        assert!(matches!(
            Quantity::parse("4 Gi"),
            Err(QuantityError::BadSuffix(_))
        ));
        assert!(matches!(
            Quantity::parse("1.2.3"),
            Err(QuantityError::BadSuffix(_))
        ));
        assert!(matches!(
            Quantity::parse("1e"),
            Err(QuantityError::BadSuffix(_))
        ));
        assert!(matches!(
            Quantity::parse("1e99"),
            Err(QuantityError::TooLarge(_))
        ));
        assert!(matches!(
            Quantity::parse("999999999999999999999999999999999"),
            Err(QuantityError::TooLarge(_))
        ));
        assert!(matches!(
            Quantity::parse("100Ei"),
            Err(QuantityError::TooLarge(_))
        ));
    }

    #[test]
    fn displays_canonically() {
        assert_eq!(Quantity::parse("500m").unwrap().to_string(), "500m");
        assert_eq!(Quantity::parse("4Gi").unwrap().to_string(), "4Gi");
        assert_eq!(Quantity::parse("8").unwrap().to_string(), "8");
        assert_eq!(Quantity::parse("1024").unwrap().to_string(), "1024");
        assert_eq!(Quantity::parse("1536Mi").unwrap().to_string(), "1536Mi");
        assert_eq!(Quantity::ZERO.to_string(), "0");
    }

    #[test]
    fn display_round_trips() {
        for s in ["500m", "4Gi", "3", "1.5", "1e3", "7Ki", "12345m", "2Ti"] {
            let v = Quantity::parse(s).unwrap();
            assert_eq!(Quantity::parse(&v.to_string()).unwrap(), v, "{s}");
        }
    }
}
