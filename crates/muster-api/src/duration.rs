//! Durations in Go syntax (`90s`, `10m`, `1h30m`, `1.5h`, `250ms`) or plain seconds (`90`,
//! `1.5`), at millisecond resolution (finer parts round up, so a positive duration never
//! becomes zero).

use muster_core::Duration;

/// Why a string is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a duration (use Go syntax such as 90s, 10m, 1h30m, or plain seconds)")]
pub struct DurationError(pub String);

/// Parses a non-negative duration.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let err = || DurationError(text.to_string());
    let s = text.trim();
    if s.is_empty() || s.starts_with('-') {
        return Err(err());
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    // Plain seconds.
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return number_times(s, 1_000_000_000)
            .map(to_millis)
            .ok_or_else(err);
    }
    let mut total_ns: i128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        if num_end == 0 {
            return Err(err());
        }
        let (num, tail) = rest.split_at(num_end);
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_end);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(err()),
        };
        total_ns = total_ns
            .checked_add(number_times(num, scale).ok_or_else(err)?)
            .ok_or_else(err)?;
        rest = next;
    }
    Ok(to_millis(total_ns))
}

/// `num * scale`, exactly, for a decimal `num`; rounds a fraction of one unit of `scale` up.
fn number_times(num: &str, scale: i128) -> Option<i128> {
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if frac.contains('.') || int.len() > 18 || frac.len() > 18 {
        return None;
    }
    let int_v: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut value = int_v.checked_mul(scale)?;
    if !frac.is_empty() {
        let f: i128 = frac.parse().ok()?;
        let den = 10i128.pow(frac.len() as u32);
        let num = f.checked_mul(scale)?;
        value += num / den + i128::from(num % den != 0);
    }
    Some(value)
}

fn to_millis(ns: i128) -> Duration {
    let ms = ns / 1_000_000 + i128::from(ns % 1_000_000 != 0);
    Duration::from_millis(ms.min(i128::from(i64::MAX)) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        parse_duration(s).unwrap().as_millis()
    }

    #[test]
    fn go_syntax_and_plain_seconds() {
        assert_eq!(ms("0s"), 0);
        assert_eq!(ms("0"), 0);
        assert_eq!(ms("90s"), 90_000);
        assert_eq!(ms("10m"), 600_000);
        assert_eq!(ms("1h30m"), 5_400_000);
        assert_eq!(ms("1.5h"), 5_400_000);
        assert_eq!(ms("250ms"), 250);
        assert_eq!(ms("2h45m0.5s"), 9_900_500);
        assert_eq!(ms("90"), 90_000);
        assert_eq!(ms("1.5"), 1_500);
        assert_eq!(ms("1us"), 1, "sub-millisecond rounds up");
        assert_eq!(ms("1µs"), 1);
    }

    #[test]
    fn rejects_what_go_rejects() {
        for bad in [
            "", "-1s", "1d", "h", "1.2.3s", "s10", "10 s", "1h-5m", "abc",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
