//! Kubernetes conditions (`metav1.Condition`), set the way `meta.SetStatusCondition` does:
//! the transition time changes only when the status does.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The condition of `type_`, if present.
pub fn get<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of `type_` is present with status `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    get(conditions, type_).is_some_and(|c| c.status == "True")
}

/// Sets a condition; keeps its transition time when its status does not change.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: impl Into<String>,
    now: &Time,
) {
    let status = if status { "True" } else { "False" }.to_string();
    let message = truncate(message.into(), 32_768);
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = now.clone();
            }
            c.status = status;
            c.reason = reason.to_string();
            c.message = message;
        }
        None => conditions.push(Condition {
            type_: type_.to_string(),
            status,
            reason: reason.to_string(),
            message,
            last_transition_time: now.clone(),
            observed_generation: None,
        }),
    }
}

/// Removes the condition of `type_`.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) {
    conditions.retain(|c| c.type_ != type_);
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Time {
        Time(jiff::Timestamp::from_second(secs).unwrap())
    }

    #[test]
    fn transition_time_moves_only_with_the_status() {
        let mut c = Vec::new();
        set(&mut c, "Admitted", false, "Pending", "waits", &at(1));
        set(&mut c, "Admitted", false, "Pending", "still waits", &at(2));
        assert_eq!(c[0].last_transition_time, at(1));
        assert_eq!(c[0].message, "still waits");
        set(&mut c, "Admitted", true, "Admitted", "", &at(3));
        assert_eq!(c[0].last_transition_time, at(3));
        assert!(is_true(&c, "Admitted"));
        remove(&mut c, "Admitted");
        assert!(c.is_empty());
    }
}
