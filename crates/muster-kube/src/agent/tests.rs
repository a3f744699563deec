//! The agent on sysfs-shaped trees written to a temporary directory, and on this machine's own
//! `/sys`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;
use muster_core::numa::{TopologyPolicy, TopologyScope};
use serde_json::json;

use super::available::{self, Charged};
use super::inventory::Inventory;
use super::pci::{self, DeviceNames};
use super::reserved::Reserved;
use super::sysfs::{self, NumaNodes};
use super::*;

/// A sysfs tree (and a proc tree beside it) in a temporary directory, written the way the
/// kernel lays them out: PCI devices live under `devices/pci0000:00/` and
/// `bus/pci/devices/` holds symbolic links to them.
struct Tree {
    dir: tempfile::TempDir,
}

const GIB_KB: u64 = 1 << 20;

impl Tree {
    fn new() -> Tree {
        Tree {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn sys(&self) -> PathBuf {
        self.dir.path().join("sys")
    }

    fn proc(&self) -> PathBuf {
        self.dir.path().join("proc")
    }

    /// Writes `content` to `rel` below the sysfs root.
    fn file(&self, rel: &str, content: &str) -> &Tree {
        let path = self.sys().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        self
    }

    /// NUMA node `id` with these CPUs, `mem_kb` of memory, huge pages (size in kB, pages) and
    /// its row of the distance table.
    fn numa_node(
        &self,
        id: u32,
        cpus: &str,
        mem_kb: u64,
        hugepages: &[(u64, u64)],
        distance: &str,
    ) -> &Tree {
        let dir = format!("devices/system/node/node{id}");
        self.file(&format!("{dir}/cpulist"), &format!("{cpus}\n"));
        self.file(
            &format!("{dir}/meminfo"),
            &format!(
                "Node {id} MemTotal:       {mem_kb} kB\nNode {id} MemFree:        {} kB\nNode {id} MemUsed:        {} kB\n",
                mem_kb / 2,
                mem_kb / 2
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

    /// The node directory's other entries, which are not nodes.
    fn node_dir_extras(&self, online: &str) -> &Tree {
        self.file("devices/system/node/online", &format!("{online}\n"))
            .file("devices/system/node/possible", &format!("{online}\n"))
            .file("devices/system/node/has_cpu", "0-1\n")
    }

    /// A PCI function; `numa` is the content of `numa_node` (`None`: no such file).
    fn pci(
        &self,
        address: &str,
        vendor: &str,
        class: &str,
        numa: Option<&str>,
        infiniband: bool,
    ) -> &Tree {
        let real = format!("devices/pci0000:00/{address}");
        self.file(&format!("{real}/vendor"), &format!("{vendor}\n"));
        self.file(&format!("{real}/class"), &format!("{class}\n"));
        self.file(&format!("{real}/device"), "0x0000\n");
        if let Some(n) = numa {
            self.file(&format!("{real}/numa_node"), &format!("{n}\n"));
        }
        if infiniband {
            std::fs::create_dir_all(self.sys().join(&real).join("infiniband/mlx5_0")).unwrap();
        }
        let link_dir = self.sys().join("bus/pci/devices");
        std::fs::create_dir_all(&link_dir).unwrap();
        std::os::unix::fs::symlink(
            format!("../../../devices/pci0000:00/{address}"),
            link_dir.join(address),
        )
        .unwrap();
        self
    }

    fn config(&self, reserved: Reserved) -> Config {
        Config {
            node_name: "n1".into(),
            sysfs_root: self.sys(),
            proc_root: self.proc(),
            devices: DeviceNames::default(),
            reserved,
            policy: TopologyPolicy::SingleNumaNode,
            scope: TopologyScope::Pod,
            resync: Duration::from_secs(10),
            metrics_addr: "127.0.0.1:0".parse().unwrap(),
        }
    }

    fn nodes(&self) -> Result<NumaNodes, SysfsError> {
        sysfs::read_numa_nodes(&self.sys(), &self.proc())
    }

    fn inventory(&self, reserved: Reserved) -> Result<Inventory, AgentError> {
        read_inventory(&self.config(reserved))
    }
}

/// (a) A 2-socket GPU server: 2 NUMA nodes × 32 CPUs (hyper-threads interleaved as on real
/// machines), 256 GiB each, 2Mi and 1Gi huge pages, 4 NVIDIA GPUs (each with its HDMI audio
/// function) and one InfiniBand HCA per socket, a BMC's VGA, a bridge, and a RoCE NIC whose
/// firmware gives no NUMA node.
fn gpu_server() -> Tree {
    let t = Tree::new();
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

/// (b) A laptop: one NUMA node of 8 CPUs, an Intel iGPU and Wi-Fi (firmware says no node),
/// huge page sizes offered but none reserved.
fn laptop() -> Tree {
    let t = Tree::new();
    t.node_dir_extras("0")
        .numa_node(0, "0-7", 16107116, &[(2048, 0), (1048576, 0)], "10")
        .pci("0000:00:02.0", "0x8086", "0x030000", Some("-1"), false)
        .pci("0000:00:14.3", "0x8086", "0x028000", Some("-1"), false)
        .pci("0000:00:00.0", "0x8086", "0x060000", None, false);
    t
}

/// (c) Two sockets with CPUs and two memory-only NUMA nodes (CXL expanders).
fn cxl_server() -> Tree {
    let t = Tree::new();
    t.node_dir_extras("0-3")
        .numa_node(0, "0-23", 128 * GIB_KB, &[], "10 21 14 24")
        .numa_node(1, "24-47", 128 * GIB_KB, &[], "21 10 24 14")
        .numa_node(2, "", 256 * GIB_KB, &[], "14 24 10 26")
        .numa_node(3, "", 256 * GIB_KB, &[], "24 14 26 10");
    t
}

/// Zone → resource → "capacity/allocatable".
fn table(inv: &Inventory) -> BTreeMap<String, BTreeMap<String, String>> {
    inv.zones
        .iter()
        .map(|z| {
            let list = z
                .capacity
                .iter()
                .map(|(r, c)| (r.clone(), format!("{c}/{}", z.allocatable[r])))
                .collect();
            (z.name.clone(), list)
        })
        .collect()
}

fn expect(rows: &[(&str, &[(&str, &str)])]) -> BTreeMap<String, BTreeMap<String, String>> {
    rows.iter()
        .map(|(z, list)| {
            (
                z.to_string(),
                list.iter()
                    .map(|(r, v)| (r.to_string(), v.to_string()))
                    .collect(),
            )
        })
        .collect()
}

fn reserved(cpus: &str, memory: &[&str]) -> Reserved {
    let memory: Vec<String> = memory.iter().map(|s| s.to_string()).collect();
    Reserved::parse(cpus, &memory).unwrap()
}

#[test]
fn a_two_socket_gpu_server_has_two_zones_with_its_gpus_hcas_and_huge_pages() {
    let t = gpu_server();
    let inv = t.inventory(Reserved::default()).unwrap();
    let zone: &[(&str, &str)] = &[
        ("cpu", "32/32"),
        ("hugepages-1Gi", "8Gi/8Gi"),
        ("hugepages-2Mi", "2Gi/2Gi"),
        // Huge pages are part of MemTotal, and not allocatable as memory.
        ("memory", "256Gi/246Gi"),
        ("nvidia.com/gpu", "4/4"),
        ("rdma/hca", "1/1"),
    ];
    assert_eq!(table(&inv), expect(&[("node-0", zone), ("node-1", zone)]));
    assert_eq!(
        inv.zones[0].costs,
        [("node-0".to_string(), 10), ("node-1".to_string(), 21)]
    );
    // The RoCE NIC without a NUMA node is in no zone, but in the node's total.
    assert_eq!(inv.outside_zones.len(), 1);
    assert_eq!(inv.outside_zones[0].address, "0000:5e:00.0");
    assert_eq!(inv.outside_zones[0].numa_node, None);
    let total = inv.node_capacity(&DeviceNames::default());
    assert_eq!(total["rdma/hca"].to_string(), "3");
    assert_eq!(total["nvidia.com/gpu"].to_string(), "8");
    assert_eq!(total["cpu"].to_string(), "64");
    assert_eq!(total["memory"].to_string(), "512Gi");
}

#[test]
fn reservations_make_allocatable_less_than_capacity_in_the_zones_they_are_in() {
    let t = gpu_server();
    // CPUs 0 and 32 are both on node 0 (hyper-thread siblings).
    let inv = t
        .inventory(reserved(
            "0,32",
            &["0:memory=1Gi", "1:memory=2Gi,hugepages-1Gi=1Gi"],
        ))
        .unwrap();
    assert_eq!(
        table(&inv),
        expect(&[
            (
                "node-0",
                &[
                    ("cpu", "32/30"),
                    ("hugepages-1Gi", "8Gi/8Gi"),
                    ("hugepages-2Mi", "2Gi/2Gi"),
                    ("memory", "256Gi/245Gi"),
                    ("nvidia.com/gpu", "4/4"),
                    ("rdma/hca", "1/1"),
                ]
            ),
            (
                "node-1",
                &[
                    ("cpu", "32/32"),
                    ("hugepages-1Gi", "8Gi/7Gi"),
                    ("hugepages-2Mi", "2Gi/2Gi"),
                    ("memory", "256Gi/244Gi"),
                    ("nvidia.com/gpu", "4/4"),
                    ("rdma/hca", "1/1"),
                ]
            ),
        ])
    );
}

#[test]
fn device_resource_names_follow_the_flags() {
    let t = gpu_server();
    let mut config = t.config(Reserved::default());
    config.devices = DeviceNames {
        gpu: "nvidia.com/a100".into(),
        rdma: "rdma/ib".into(),
    };
    let inv = read_inventory(&config).unwrap();
    assert_eq!(inv.zones[1].capacity["nvidia.com/a100"].to_string(), "4");
    assert_eq!(inv.zones[1].capacity["rdma/ib"].to_string(), "1");
    assert!(!inv.zones[1].capacity.contains_key("nvidia.com/gpu"));
}

#[test]
fn a_laptop_is_one_zone_and_its_intel_igpu_is_not_a_gpu() {
    let t = laptop();
    let inv = t.inventory(Reserved::default()).unwrap();
    let mem = format!("{}", 16107116u64 * 1024);
    assert_eq!(
        table(&inv),
        expect(&[(
            "node-0",
            &[("cpu", "8/8"), ("memory", &format!("{mem}/{mem}"))]
        )])
    );
    assert!(
        inv.outside_zones.is_empty(),
        "the iGPU is not counted at all"
    );
    let inv = t.inventory(reserved("0-1", &["0:memory=1Gi"])).unwrap();
    let less = format!("{}", 16107116u64 * 1024 - (1 << 30));
    assert_eq!(
        table(&inv),
        expect(&[(
            "node-0",
            &[("cpu", "8/6"), ("memory", &format!("{mem}/{less}"))]
        )])
    );
}

#[test]
fn a_kernel_without_numa_is_one_zone_from_the_machine_totals() {
    let t = Tree::new();
    t.file("devices/system/cpu/online", "0-3\n")
        .file("kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "512\n");
    std::fs::create_dir_all(t.proc()).unwrap();
    std::fs::write(
        t.proc().join("meminfo"),
        "MemTotal:        8388608 kB\nMemFree:         4000000 kB\n",
    )
    .unwrap();
    let nodes = t.nodes().unwrap();
    assert!(!nodes.numa);
    let inv = t.inventory(Reserved::default()).unwrap();
    assert_eq!(
        table(&inv),
        expect(&[(
            "node-0",
            &[
                ("cpu", "4/4"),
                ("hugepages-2Mi", "1Gi/1Gi"),
                ("memory", "8Gi/7Gi")
            ]
        )])
    );
}

#[test]
fn memory_only_numa_nodes_are_zones_with_memory_and_no_cpu() {
    let t = cxl_server();
    let inv = t.inventory(reserved("", &["2:memory=16Gi"])).unwrap();
    assert_eq!(
        table(&inv),
        expect(&[
            ("node-0", &[("cpu", "24/24"), ("memory", "128Gi/128Gi")]),
            ("node-1", &[("cpu", "24/24"), ("memory", "128Gi/128Gi")]),
            ("node-2", &[("memory", "256Gi/240Gi")]),
            ("node-3", &[("memory", "256Gi/256Gi")]),
        ])
    );
    assert_eq!(
        inv.zones[2].costs,
        [
            ("node-0".to_string(), 14),
            ("node-1".to_string(), 24),
            ("node-2".to_string(), 10),
            ("node-3".to_string(), 26)
        ]
    );
}

fn error_of(t: &Tree, reserved: Reserved) -> String {
    t.inventory(reserved).unwrap_err().to_string()
}

#[test]
fn malformed_files_are_errors_that_name_the_file_and_the_field() {
    let sys = |t: &Tree, rel: &str| t.sys().join(rel).display().to_string();

    let t = gpu_server();
    t.file(
        "devices/system/node/node1/meminfo",
        "Node 1 MemTotal:       x kB\n",
    );
    assert_eq!(
        error_of(&t, Reserved::default()),
        format!(
            "{}: line 'Node 1 MemTotal: x kB': not a number",
            sys(&t, "devices/system/node/node1/meminfo")
        )
    );

    let t = gpu_server();
    t.file(
        "devices/system/node/node1/meminfo",
        "Node 1 MemFree: 3 kB\n",
    );
    assert_eq!(
        error_of(&t, Reserved::default()),
        format!(
            "{}: no MemTotal line",
            sys(&t, "devices/system/node/node1/meminfo")
        )
    );

    let t = gpu_server();
    t.file("devices/system/node/node0/cpulist", "0-\n");
    assert_eq!(
        error_of(&t, Reserved::default()),
        format!(
            "{}: cpu list \"0-\": \"0-\" is not a cpu number or a range a-b",
            sys(&t, "devices/system/node/node0/cpulist")
        )
    );

    let t = gpu_server();
    std::fs::remove_file(t.sys().join("devices/system/node/node0/cpulist")).unwrap();
    let e = error_of(&t, Reserved::default());
    assert!(
        e.starts_with(&format!(
            "{}: ",
            sys(&t, "devices/system/node/node0/cpulist")
        )) && e.contains("No such file"),
        "{e}"
    );

    let t = gpu_server();
    t.file(
        "devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages",
        "many\n",
    );
    assert_eq!(
        error_of(&t, Reserved::default()),
        format!(
            "{}: \"many\" is not a number of pages",
            sys(
                &t,
                "devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages"
            )
        )
    );

    let t = gpu_server();
    t.file(
        "devices/system/node/node0/hugepages/hugepages-big/nr_hugepages",
        "1\n",
    );
    assert_eq!(
        error_of(&t, Reserved::default()),
        format!(
            "{}: \"hugepages-big\" is not named hugepages-<size>kB",
            sys(&t, "devices/system/node/node0/hugepages")
        )
    );

    let t = gpu_server();
    t.file("devices/system/node/node0/distance", "10 21 30\n");
    assert_eq!(
        error_of(&t, Reserved::default()),
        format!(
            "{}: 3 distances for 2 nodes",
            sys(&t, "devices/system/node/node0/distance")
        )
    );

    let t = gpu_server();
    t.file("devices/system/node/node0/distance", "10 far\n");
    assert_eq!(
        error_of(&t, Reserved::default()),
        format!(
            "{}: \"far\" is not a distance",
            sys(&t, "devices/system/node/node0/distance")
        )
    );

    let t = gpu_server();
    t.file("devices/pci0000:00/0000:17:00.0/vendor", "nvidia\n");
    assert_eq!(
        error_of(&t, Reserved::default()),
        format!(
            "{}: \"nvidia\" is not a hexadecimal vendor id",
            sys(&t, "bus/pci/devices/0000:17:00.0/vendor")
        )
    );

    let t = gpu_server();
    t.file("devices/pci0000:00/0000:17:00.0/class", "\n");
    assert_eq!(
        error_of(&t, Reserved::default()),
        format!(
            "{}: \"\" is not a hexadecimal class code",
            sys(&t, "bus/pci/devices/0000:17:00.0/class")
        )
    );

    let t = gpu_server();
    t.file("devices/pci0000:00/0000:17:00.0/numa_node", "zero\n");
    assert_eq!(
        error_of(&t, Reserved::default()),
        format!(
            "{}: \"zero\" is not a NUMA node number",
            sys(&t, "bus/pci/devices/0000:17:00.0/numa_node")
        )
    );

    // A node directory with no node in it.
    let t = Tree::new();
    t.node_dir_extras("");
    assert_eq!(
        error_of(&t, Reserved::default()),
        format!("{}: no node<N> directory", sys(&t, "devices/system/node"))
    );

    // No NUMA and no meminfo.
    let t = Tree::new();
    t.file("devices/system/cpu/online", "0-3\n");
    let e = error_of(&t, Reserved::default());
    assert!(
        e.starts_with(&format!("{}: ", t.proc().join("meminfo").display())),
        "{e}"
    );
}

#[test]
fn reservations_that_do_not_fit_the_machine_are_refused() {
    let t = gpu_server();
    assert_eq!(
        error_of(&t, reserved("0,64", &[])),
        "--reserved-cpus: cpu 64 is not on this machine (its cpus: 0-63)"
    );
    assert_eq!(
        error_of(&t, reserved("", &["2:memory=1Gi"])),
        "--reserved-memory: NUMA node 2 is not on this machine (its zones: node-0, node-1)"
    );
    assert_eq!(
        error_of(&t, reserved("", &["0:memory=300Gi"])),
        "--reserved-memory: memory of NUMA node 0: 300Gi reserved, but only 246Gi can be"
    );
    assert_eq!(
        error_of(&laptop(), reserved("", &["0:hugepages-1Gi=1Gi"])),
        "--reserved-memory: hugepages-1Gi of NUMA node 0: 1Gi reserved, but only 0 can be"
    );
}

#[test]
fn this_machines_own_sys_reads_into_at_least_one_zone_with_every_online_cpu() {
    let root = Path::new("/sys");
    let nodes = sysfs::read_numa_nodes(root, Path::new("/proc")).expect("this machine's /sys");
    assert!(!nodes.nodes.is_empty());
    let online = cpulist::CpuSet::parse(
        &std::fs::read_to_string(root.join("devices/system/cpu/online")).expect("cpu/online"),
    )
    .expect("a cpu list");
    let mut all = cpulist::CpuSet::default();
    for n in &nodes.nodes {
        assert!(
            all.intersection(&n.cpus).is_empty(),
            "a cpu is in two NUMA nodes"
        );
        all.0.extend(n.cpus.0.iter().copied());
    }
    assert_eq!(all, online, "the NUMA nodes' cpus are the online cpus");
    let parallelism = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        all.len() >= parallelism,
        "{} cpus online, {parallelism} usable by this process",
        all.len()
    );
    assert!(nodes.nodes.iter().any(|n| n.memory_bytes > 0));
    let devices = pci::read_devices(root).expect("this machine's PCI devices");
    let inv = Inventory::build(
        &nodes,
        &devices,
        &DeviceNames::default(),
        &Reserved::default(),
    )
    .expect("an inventory");
    let total = inv.node_capacity(&DeviceNames::default());
    assert_eq!(total["cpu"].to_string(), all.len().to_string());
    assert!(total["memory"] > muster_core::Quantity::ZERO);
    for z in &inv.zones {
        assert!(z.name.starts_with("node-"), "{}", z.name);
        for (r, cap) in &z.capacity {
            assert!(z.allocatable[r] <= *cap, "{}: {r}", z.name);
        }
    }
}

fn pod(
    name: &str,
    node: &str,
    requests: serde_json::Value,
    zones: Option<&str>,
    phase: &str,
) -> Pod {
    let mut annotations = serde_json::Map::new();
    if let Some(z) = zones {
        annotations.insert(
            muster_api::numa_zones::NUMA_ZONES_ANNOTATION.into(),
            json!(z),
        );
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "ns", "annotations": annotations},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "main", "image": "x", "resources": {"requests": requests}}]
        },
        "status": {"phase": phase}
    }))
    .unwrap()
}

/// Zone → resource → available, for the resources named.
fn available_of(c: &Charged, resources: &[&str]) -> Vec<(String, Vec<String>)> {
    c.available
        .iter()
        .map(|(z, list)| {
            (
                z.clone(),
                resources
                    .iter()
                    .map(|r| list.get(*r).map_or("-".into(), |q| q.to_string()))
                    .collect(),
            )
        })
        .collect()
}

fn charge(inv: &Inventory, pods: &[Pod]) -> Charged {
    let mut notes = Vec::new();
    let holders = available::holders(pods, "n1", &mut notes);
    let mut c = available::available(inv, &holders);
    notes.append(&mut c.notes);
    c.notes = notes;
    c
}

#[test]
fn annotated_pods_are_charged_to_their_zones_and_the_others_to_the_roomiest() {
    let inv = gpu_server().inventory(reserved("0,32", &[])).unwrap(); // cpu: node-0 30, node-1 32; memory 246Gi each.
    let pods = vec![
        // Pinned by the controller: 8 cpu, 32Gi and 2 GPUs on node-1.
        pod(
            "trainer",
            "n1",
            json!({"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "2"}),
            Some(r#"{"node-1":{"cpu":"8","memory":"32Gi","nvidia.com/gpu":"2"}}"#),
            "Running",
        ),
        // Unannotated: after the trainer, node-0 has more of everything free.
        pod(
            "etl",
            "n1",
            json!({"cpu": "4", "memory": "8Gi"}),
            None,
            "Running",
        ),
        // Unannotated and wider than either zone's free cpu: spills over.
        pod(
            "wide",
            "n1",
            json!({"cpu": "40", "nvidia.com/gpu": "3"}),
            None,
            "Pending",
        ),
        // Held nothing: finished, or on another node.
        pod("done", "n1", json!({"cpu": "16"}), None, "Succeeded"),
        pod("failed", "n1", json!({"cpu": "16"}), None, "Failed"),
        pod("elsewhere", "n2", json!({"cpu": "16"}), None, "Running"),
    ];
    let c = charge(&inv, &pods);
    assert_eq!(c.notes, Vec::<String>::new());
    // trainer: node-1 cpu 32-8=24, memory 214Gi, gpu 2.
    // etl: cpu to node-0 (30 > 24): 26; memory to node-0 (246Gi > 214Gi): 238Gi.
    // wide: cpu 40: node-0 (26 > 24) gives 26, then node-1 gives 14 of its 24 → 10;
    //       gpu 3: node-0 (4 > 2) gives 3 → 1.
    assert_eq!(
        available_of(&c, &["cpu", "memory", "nvidia.com/gpu", "rdma/hca"]),
        [
            (
                "node-0".to_string(),
                vec!["0".into(), "238Gi".into(), "1".into(), "1".to_string()]
            ),
            (
                "node-1".to_string(),
                vec!["10".into(), "214Gi".into(), "2".into(), "1".to_string()]
            ),
        ]
    );
    // The same pods in another order are charged the same.
    let mut reversed = pods.clone();
    reversed.reverse();
    assert_eq!(charge(&inv, &reversed), c);
}

#[test]
fn what_cannot_be_charged_as_annotated_is_reported_and_charged_by_the_rule() {
    let inv = gpu_server().inventory(Reserved::default()).unwrap();
    let pods = vec![
        // Names a zone the node does not have: its amounts are spread.
        pod(
            "a",
            "n1",
            json!({"cpu": "4"}),
            Some(r#"{"node-7":{"cpu":"4"}}"#),
            "Running",
        ),
        // Unreadable: charged as if unannotated.
        pod("b", "n1", json!({"cpu": "2"}), Some("node-0"), "Running"),
        // Names cpu only: its GPU request is spread.
        pod(
            "c",
            "n1",
            json!({"cpu": "1", "nvidia.com/gpu": "1"}),
            Some(r#"{"node-1":{"cpu":"1"}}"#),
            "Running",
        ),
        // Holds more of node-0 than it has.
        pod(
            "d",
            "n1",
            json!({"cpu": "40"}),
            Some(r#"{"node-0":{"cpu":"40"}}"#),
            "Running",
        ),
    ];
    let c = charge(&inv, &pods);
    assert_eq!(
        c.notes,
        [
            "pod ns/b: annotation muster.dev/numa-zones: not a JSON object of zones to resource lists: expected ident at line 1 column 2; charged as if it had none",
            "pod ns/a: annotation muster.dev/numa-zones names zone node-7, which this node does not have; its amounts there are charged as for a pod without it",
            "zone node-0: pods hold 8 of cpu more than it can give; available is 0",
        ]
    );
    // Annotations first: c takes 1 of node-1's 32 cpu (31), d 40 of node-0's 32 (-8).
    // Then the guesses in name order: a's 4 cpu and b's 2 to node-1, the roomiest (31 → 25);
    // c's GPU to node-0 (4 = 4: the lower zone).
    assert_eq!(
        available_of(&c, &["cpu", "nvidia.com/gpu"]),
        [
            ("node-0".to_string(), vec!["0".into(), "3".to_string()]),
            ("node-1".to_string(), vec!["25".into(), "4".to_string()]),
        ]
    );
}

#[test]
fn the_published_object_has_the_community_shape() {
    let t = cxl_server();
    let config = t.config(reserved("0", &[]));
    let inv = read_inventory(&config).unwrap();
    let pods = [pod(
        "p",
        "n1",
        json!({"cpu": "2", "memory": "1Gi"}),
        Some(r#"{"node-2":{"memory":"1Gi"},"node-1":{"cpu":"2"}}"#),
        "Running",
    )];
    let mut notes = Vec::new();
    let object = desired(&config, &inv, &pods, &mut notes);
    assert!(notes.is_empty(), "{notes:?}");
    let res = |name: &str, cap: &str, alloc: &str, avail: &str| json!({"name": name, "capacity": cap, "allocatable": alloc, "available": avail});
    let costs = |row: [i64; 4]| {
        json!([
            {"name": "node-0", "value": row[0]},
            {"name": "node-1", "value": row[1]},
            {"name": "node-2", "value": row[2]},
            {"name": "node-3", "value": row[3]},
        ])
    };
    assert_eq!(
        serde_json::to_value(&object).unwrap(),
        json!({
            "metadata": {"name": "n1"},
            "topologyPolicies": ["SingleNUMANodePodLevel"],
            "attributes": [
                {"name": "topologyManagerPolicy", "value": "single-numa-node"},
                {"name": "topologyManagerScope", "value": "pod"},
            ],
            "zones": [
                {"name": "node-0", "type": "Node", "costs": costs([10, 21, 14, 24]),
                 "resources": [res("cpu", "24", "23", "23"), res("memory", "128Gi", "128Gi", "128Gi")]},
                {"name": "node-1", "type": "Node", "costs": costs([21, 10, 24, 14]),
                 "resources": [res("cpu", "24", "24", "22"), res("memory", "128Gi", "128Gi", "128Gi")]},
                {"name": "node-2", "type": "Node", "costs": costs([14, 24, 10, 26]),
                 "resources": [res("memory", "256Gi", "256Gi", "255Gi")]},
                {"name": "node-3", "type": "Node", "costs": costs([24, 14, 26, 10]),
                 "resources": [res("memory", "256Gi", "256Gi", "256Gi")]},
            ]
        })
    );
    // Muster's own reader takes it as the node's topology.
    let read: muster_api::objects::NodeResourceTopology =
        serde_json::from_value(serde_json::to_value(&object).unwrap()).unwrap();
    assert!(publish::same_content(&read, &object));
}
