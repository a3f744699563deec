//! PCI devices that device plugins offer as resources, read from `bus/pci/devices/*/` below
//! the sysfs root: each device's `vendor`, `class` and `numa_node` files.
//!
//! Two kinds are counted:
//!
//! - **NVIDIA GPUs**: vendor `0x10de`, class `0x03xxxx` (display controller: VGA or 3D).
//!   NVIDIA's audio functions and NVSwitches are other classes and do not count; nor does any
//!   other vendor's display controller (an Intel iGPU is `0x8086`, `0x0300xx`).
//! - **RDMA adapters**: class `0x0207xx` (InfiniBand controller) of any vendor, or a Mellanox
//!   (`0x15b3`) Ethernet controller (`0x0200xx`) with an `infiniband` directory, i.e. a
//!   ConnectX port in Ethernet mode that does RoCE. Each PCI function counts once, as RDMA
//!   device plugins count them.
//!
//! A device's zone is its `numa_node`; `-1` (or no such file) means the firmware does not say,
//! and such a device belongs to no zone. A machine without `bus/pci/devices` has no devices.

use std::path::Path;

use super::sysfs::{SysfsError, list_dir, read_optional, read_text};

/// PCI vendor id of NVIDIA.
pub const VENDOR_NVIDIA: u16 = 0x10de;
/// PCI vendor id of Mellanox (NVIDIA Networking).
pub const VENDOR_MELLANOX: u16 = 0x15b3;

/// A kind of device counted as a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeviceKind {
    /// An NVIDIA GPU.
    NvidiaGpu,
    /// An RDMA-capable adapter (InfiniBand HCA or RoCE NIC).
    Rdma,
}

/// The resource names devices are published under, matching the cluster's device plugins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceNames {
    /// Resource of an NVIDIA GPU (NVIDIA's device plugin: `nvidia.com/gpu`).
    pub gpu: String,
    /// Resource of an RDMA adapter (default `rdma/hca`; the shared-device plugin's names are
    /// configurable, so this is too).
    pub rdma: String,
}

impl Default for DeviceNames {
    fn default() -> Self {
        DeviceNames {
            gpu: "nvidia.com/gpu".into(),
            rdma: "rdma/hca".into(),
        }
    }
}

impl DeviceNames {
    /// The resource name of a kind of device.
    pub fn of(&self, kind: DeviceKind) -> &str {
        match kind {
            DeviceKind::NvidiaGpu => &self.gpu,
            DeviceKind::Rdma => &self.rdma,
        }
    }
}

/// A counted PCI device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciDevice {
    /// Its PCI address (`0000:3b:00.0`).
    pub address: String,
    /// What it is.
    pub kind: DeviceKind,
    /// Its NUMA node, when the firmware says.
    pub numa_node: Option<u32>,
}

/// The kind of a PCI function from its vendor id, class code and whether it has an
/// `infiniband` directory; `None` for devices not counted.
pub fn classify(vendor: u16, class: u32, infiniband: bool) -> Option<DeviceKind> {
    let base_and_sub = class >> 8;
    if vendor == VENDOR_NVIDIA && class >> 16 == 0x03 {
        Some(DeviceKind::NvidiaGpu)
    } else if base_and_sub == 0x0207
        || (vendor == VENDOR_MELLANOX && base_and_sub == 0x0200 && infiniband)
    {
        Some(DeviceKind::Rdma)
    } else {
        None
    }
}

fn hex(path: &Path, what: &str) -> Result<u32, SysfsError> {
    let text = read_text(path)?;
    let t = text.trim();
    let digits = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    u32::from_str_radix(digits, 16)
        .map_err(|_| SysfsError::malformed(path, format!("{t:?} is not a hexadecimal {what}")))
}

/// The counted devices below `sysfs_root`, in PCI address order.
pub fn read_devices(sysfs_root: &Path) -> Result<Vec<PciDevice>, SysfsError> {
    let dir = sysfs_root.join("bus/pci/devices");
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (address, path) in list_dir(&dir)? {
        let vendor_file = path.join("vendor");
        let vendor = hex(&vendor_file, "vendor id")?;
        let vendor = u16::try_from(vendor).map_err(|_| {
            SysfsError::malformed(
                &vendor_file,
                format!("{vendor:#x} is not a 16-bit vendor id"),
            )
        })?;
        let class = hex(&path.join("class"), "class code")?;
        let infiniband = path.join("infiniband").is_dir();
        let Some(kind) = classify(vendor, class, infiniband) else {
            continue;
        };
        let numa_file = path.join("numa_node");
        let numa_node = match read_optional(&numa_file)? {
            None => None,
            Some(text) => match text.trim().parse::<i64>() {
                Ok(n) if n < 0 => None,
                Ok(n) => Some(u32::try_from(n).map_err(|_| {
                    SysfsError::malformed(&numa_file, format!("node {n} out of range"))
                })?),
                Err(_) => {
                    return Err(SysfsError::malformed(
                        &numa_file,
                        format!("{:?} is not a NUMA node number", text.trim()),
                    ));
                }
            },
        };
        out.push(PciDevice {
            address,
            kind,
            numa_node,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_nvidia_display_controllers_and_rdma_adapters_count() {
        assert_eq!(
            classify(0x10de, 0x030200, false),
            Some(DeviceKind::NvidiaGpu)
        );
        assert_eq!(
            classify(0x10de, 0x030000, false),
            Some(DeviceKind::NvidiaGpu)
        );
        assert_eq!(classify(0x10de, 0x040300, false), None, "HDMI audio");
        assert_eq!(classify(0x10de, 0x068000, false), None, "NVSwitch");
        assert_eq!(classify(0x8086, 0x030000, false), None, "Intel iGPU");
        assert_eq!(classify(0x15b3, 0x020700, false), Some(DeviceKind::Rdma));
        assert_eq!(classify(0x1077, 0x020700, false), Some(DeviceKind::Rdma));
        assert_eq!(classify(0x15b3, 0x020000, true), Some(DeviceKind::Rdma));
        assert_eq!(
            classify(0x15b3, 0x020000, false),
            None,
            "a Mellanox Ethernet port without RDMA"
        );
        assert_eq!(
            classify(0x8086, 0x020000, true),
            None,
            "only Mellanox Ethernet with an infiniband directory"
        );
    }
}
