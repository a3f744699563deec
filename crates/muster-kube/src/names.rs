//! Names Muster writes into the cluster: labels, condition types, reasons, field managers.

/// The label that submits a Job to a LocalQueue (the same label the simulator reads).
pub use muster_api::scenario::QUEUE_LABEL;

/// Label on a Workload that mirrors a Job: the Job's name.
pub const JOB_NAME_LABEL: &str = "muster.dev/job-name";

/// Label on a Workload that mirrors a Job: the Job's uid (a Job recreated under the same name
/// gets a new Workload).
pub const JOB_UID_LABEL: &str = "muster.dev/job-uid";

/// The name reported on Events and used as the field manager of Muster's writes.
pub const CONTROLLER_NAME: &str = "muster-controller";

/// Condition: the workload holds quota in its ClusterQueue (Kueue's name).
pub const QUOTA_RESERVED: &str = "QuotaReserved";
/// Condition: the workload is admitted and may run.
pub const ADMITTED: &str = "Admitted";
/// Condition: the workload was (or is being) stopped and requeued.
pub const EVICTED: &str = "Evicted";
/// Condition: the workload was preempted, with the preemption reason.
pub const PREEMPTED: &str = "Preempted";
/// Condition: the workload's job completed or failed.
pub const FINISHED: &str = "Finished";
/// Condition on queues: valid and admitting.
pub const ACTIVE: &str = "Active";

/// Reason of `QuotaReserved=False` for a workload that waits.
pub const REASON_PENDING: &str = "Pending";
/// Reason of `QuotaReserved=False` for a workload that can never be admitted as things stand.
pub const REASON_INADMISSIBLE: &str = "Inadmissible";
/// Reason of `QuotaReserved=False` for a workload that preempted others and waits for them.
pub const REASON_PREEMPTING: &str = "Preempting";
/// Reason of `Evicted=True` after a preemption.
pub const REASON_PREEMPTED: &str = "Preempted";
/// Reason of `Evicted=True` when a recorded admission no longer matches its ClusterQueue.
pub const REASON_ADMISSION_INVALID: &str = "AdmissionInvalid";
/// Reason of `QuotaReserved=True` and `Admitted=True`.
pub const REASON_ADMITTED: &str = "Admitted";
