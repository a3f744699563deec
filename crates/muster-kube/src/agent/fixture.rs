//! Sysfs-shaped trees for tests: a builder that writes the files the kernel writes, laid out
//! as the kernel lays them out, and three machines built with it.
//!
//! Test support, used by the agent's unit tests and by the tests against a real API server.
//! Its functions panic when a file cannot be written: a test should fail loudly there.

use std::path::{Path, PathBuf};

/// One GiB in kB (the unit of `meminfo`).
pub const GIB_KB: u64 = 1 << 20;

/// A sysfs tree at `<dir>/sys`, and a procfs tree at `<dir>/proc`.
///
/// PCI devices are written under `devices/pci0000:00/<address>/`, and
/// `bus/pci/devices/<address>` is a symbolic link to them, as on a real machine.
#[derive(Clone, Debug)]
pub struct SysfsTree {
    dir: PathBuf,
}

impl SysfsTree {
    /// An empty tree in `dir` (which must exist).
    pub fn new(dir: &Path) -> SysfsTree {
        SysfsTree {
            dir: dir.to_path_buf(),
        }
    }

    /// The sysfs root.
    pub fn sys(&self) -> PathBuf {
        self.dir.join("sys")
    }

    /// The procfs root.
    pub fn proc(&self) -> PathBuf {
        self.dir.join("proc")
    }

    /// Writes `content` to `rel` below the sysfs root.
    pub fn file(&self, rel: &str, content: &str) -> &SysfsTree {
        write(&self.sys().join(rel), content);
        self
    }

    /// Writes `content` to `rel` below the procfs root.
    pub fn proc_file(&self, rel: &str, content: &str) -> &SysfsTree {
        write(&self.proc().join(rel), content);
        self
    }

    /// NUMA node `id` with these CPUs (a CPU list, empty for a memory-only node), `mem_kb`
    /// of memory, huge pages (page size in kB, pages) and its row of the distance table
    /// (empty: no `distance` file).
    pub fn numa_node(
        &self,
        id: u32,
        cpus: &str,
        mem_kb: u64,
        hugepages: &[(u64, u64)],
        distance: &str,
    ) -> &SysfsTree {
        let dir = format!("devices/system/node/node{id}");
        self.file(&format!("{dir}/cpulist"), &format!("{cpus}\n"));
        self.file(
            &format!("{dir}/meminfo"),
            &format!(
                "Node {id} MemTotal:       {mem_kb} kB\nNode {id} MemFree:        {} kB\nNode {id} MemUsed:        {} kB\n",
                mem_kb / 2,
                mem_kb - mem_kb / 2
            ),
        );
        for (size_kb, pages) in hugepages {
            let h = format!("{dir}/hugepages/hugepages-{size_kb}kB");
            self.file(&format!("{h}/nr_hugepages"), &format!("{pages}\n"));
            self.file(&format!("{h}/free_hugepages"), &format!("{pages}\n"));
        }
        if !distance.is_empty() {
            self.file(&format!("{dir}/distance"), &format!("{distance}\n"));
        }
        self
    }

    /// The files of `devices/system/node` that are not nodes (`online`, `possible`,
    /// `has_cpu`), which a reader must skip.
    pub fn node_dir_extras(&self, online: &str) -> &SysfsTree {
        self.file("devices/system/node/online", &format!("{online}\n"))
            .file("devices/system/node/possible", &format!("{online}\n"))
            .file("devices/system/node/has_cpu", &format!("{online}\n"))
    }

    /// A PCI function at `address`; `numa` is the content of its `numa_node` file (`None`:
    /// no such file); `infiniband` gives it an `infiniband` directory.
    pub fn pci(
        &self,
        address: &str,
        vendor: &str,
        class: &str,
        numa: Option<&str>,
        infiniband: bool,
    ) -> &SysfsTree {
        let real = format!("devices/pci0000:00/{address}");
        self.file(&format!("{real}/vendor"), &format!("{vendor}\n"));
        self.file(&format!("{real}/class"), &format!("{class}\n"));
        self.file(&format!("{real}/device"), "0x0000\n");
        if let Some(n) = numa {
            self.file(&format!("{real}/numa_node"), &format!("{n}\n"));
        }
        if infiniband {
            let ib = self.sys().join(&real).join("infiniband/mlx5_0");
            std::fs::create_dir_all(&ib).unwrap_or_else(|e| panic!("{}: {e}", ib.display()));
        }
        let links = self.sys().join("bus/pci/devices");
        std::fs::create_dir_all(&links).unwrap_or_else(|e| panic!("{}: {e}", links.display()));
        let link = links.join(address);
        std::os::unix::fs::symlink(format!("../../../devices/pci0000:00/{address}"), &link)
            .unwrap_or_else(|e| panic!("{}: {e}", link.display()));
        self
    }
}

fn write(path: &Path, content: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
    }
    std::fs::write(path, content).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// A 2-socket GPU server in `dir`: 2 NUMA nodes × 32 CPUs (hyper-threads interleaved as on
/// real machines: node 0 has 0-15 and 32-47), 256 GiB each with 1024 2Mi and 8 1Gi huge
/// pages, 4 NVIDIA GPUs (each with its HDMI audio function) and one Mellanox InfiniBand HCA
/// per socket, a BMC's VGA and a host bridge (not counted), and a Mellanox RoCE NIC whose
/// firmware gives no NUMA node (`numa_node` -1).
pub fn gpu_server(dir: &Path) -> SysfsTree {
    let t = SysfsTree::new(dir);
    t.node_dir_extras("0-1")
        .numa_node(
            0,
            "0-15,32-47",
            256 * GIB_KB,
            &[(2048, 1024), (1048576, 8)],
            "10 21",
        )
        .numa_node(
            1,
            "16-31,48-63",
            256 * GIB_KB,
            &[(2048, 1024), (1048576, 8)],
            "21 10",
        );
    for bus in ["17", "31", "4b", "65"] {
        t.pci(
            &format!("0000:{bus}:00.0"),
            "0x10de",
            "0x030200",
            Some("0"),
            false,
        );
        t.pci(
            &format!("0000:{bus}:00.1"),
            "0x10de",
            "0x040300",
            Some("0"),
            false,
        );
    }
    for bus in ["98", "b1", "ca", "e3"] {
        t.pci(
            &format!("0000:{bus}:00.0"),
            "0x10de",
            "0x030200",
            Some("1"),
            false,
        );
    }
    t.pci("0000:18:00.0", "0x15b3", "0x020700", Some("0"), true)
        .pci("0000:99:00.0", "0x15b3", "0x020700", Some("1"), true)
        .pci("0000:03:00.0", "0x1a03", "0x030000", Some("0"), false)
        .pci("0000:00:00.0", "0x8086", "0x060000", Some("0"), false)
        .pci("0000:5e:00.0", "0x15b3", "0x020000", Some("-1"), true);
    t
}

/// A laptop in `dir`: one NUMA node of 8 CPUs and 16107116 kB, huge page sizes offered but
/// none reserved, an Intel iGPU and Wi-Fi whose firmware gives no NUMA node, and a host
/// bridge without a `numa_node` file.
pub fn laptop(dir: &Path) -> SysfsTree {
    let t = SysfsTree::new(dir);
    t.node_dir_extras("0")
        .numa_node(0, "0-7", 16107116, &[(2048, 0), (1048576, 0)], "10")
        .pci("0000:00:02.0", "0x8086", "0x030000", Some("-1"), false)
        .pci("0000:00:14.3", "0x8086", "0x028000", Some("-1"), false)
        .pci("0000:00:00.0", "0x8086", "0x060000", None, false);
    t
}

/// A server in `dir` with two sockets of 24 CPUs and 128 GiB, and two memory-only NUMA nodes
/// of 256 GiB (CXL memory expanders), with the distance table between all four.
pub fn cxl_server(dir: &Path) -> SysfsTree {
    let t = SysfsTree::new(dir);
    t.node_dir_extras("0-3")
        .numa_node(0, "0-23", 128 * GIB_KB, &[], "10 21 14 24")
        .numa_node(1, "24-47", 128 * GIB_KB, &[], "21 10 24 14")
        .numa_node(2, "", 256 * GIB_KB, &[], "14 24 10 26")
        .numa_node(3, "", 256 * GIB_KB, &[], "24 14 26 10");
    t
}
