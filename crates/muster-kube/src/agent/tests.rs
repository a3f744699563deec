//! The agent on sysfs-shaped trees written to a temporary directory, and on this machine's own
//! `/sys`.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::Pod;
use muster_core::numa::{TopologyPolicy, TopologyScope};
use serde_json::json;

use super::available::{self, Charged};
use super::fixture::{self, SysfsTree};
use super::inventory::Inventory;
use super::pci::{self, DeviceNames};
use super::reserved::Reserved;
use super::sysfs::{self, NumaNodes};
use super::*;

/// A fixture tree in a temporary directory of its own.
struct Tree {
    _dir: tempfile::TempDir,
    tree: SysfsTree,
}

impl std::ops::Deref for Tree {
    type Target = SysfsTree;
    fn deref(&self) -> &SysfsTree {
        &self.tree
    }
}

impl Tree {
    fn with(build: fn(&Path) -> SysfsTree) -> Tree {
        let dir = tempfile::tempdir().expect("temp dir");
        let tree = build(dir.path());
        Tree { _dir: dir, tree }
    }

    fn new() -> Tree {
        Tree::with(SysfsTree::new)
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
            scheduler_name: "muster".into(),
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

/// (a) [`fixture::gpu_server`].
fn gpu_server() -> Tree {
    Tree::with(fixture::gpu_server)
}

/// (b) [`fixture::laptop`].
fn laptop() -> Tree {
    Tree::with(fixture::laptop)
}

/// (c) [`fixture::cxl_server`].
fn cxl_server() -> Tree {
    Tree::with(fixture::cxl_server)
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
        .file("kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "512\n")
        .proc_file(
            "meminfo",
            "MemTotal:        8388608 kB\nMemFree:         4000000 kB\n",
        );
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
                // The fingerprint's own rules are tested where it is defined.
                {"name": "musterPodsFingerprint",
                 "value": muster_api::numa_zones::pods_fingerprint(&pods, "n1", "muster")},
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
    let read: muster_api::objects::NodeResourceTopology =
        serde_json::from_value(serde_json::to_value(&object).unwrap()).unwrap();
    assert!(publish::same_content(&read, &object));

    // Muster's own reader (the simulator's and the controller's) takes it as the node's
    // topology: policy, scope, and the zones' allocatable.
    let mut doc = serde_json::to_value(&object).unwrap();
    doc["apiVersion"] = json!(muster_api::load::NRT_API_VERSION);
    doc["kind"] = json!("NodeResourceTopology");
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
                      "status": {"allocatable": {"cpu": "47", "memory": "768Gi"}}});
    let scenario = muster_api::scenario_from_str("agent.yaml", &format!("{node}\n---\n{doc}\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    let topology = scenario.cluster.nodes[0].topology.as_ref().expect("zones");
    assert_eq!(topology.policy, TopologyPolicy::SingleNumaNode);
    assert_eq!(topology.scope, TopologyScope::Pod);
    let zones: Vec<(&str, String)> = topology
        .zones
        .iter()
        .map(|z| (z.name.as_str(), z.allocatable["memory"].to_string()))
        .collect();
    assert_eq!(
        zones,
        [
            ("node-0", "128Gi".to_string()),
            ("node-1", "128Gi".to_string()),
            ("node-2", "256Gi".to_string()),
            ("node-3", "256Gi".to_string())
        ]
    );
}
