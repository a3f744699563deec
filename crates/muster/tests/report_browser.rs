//! The reports in a real browser: `muster simulate` and `muster compare` write `report.html`,
//! headless Chromium (Debian's `chromium`, which `tools/browser/install.sh` installs) renders
//! each one to a screenshot and dumps its DOM, and the tests check that the page is not
//! blank and that its charts' titles are there.
//!
//! Without chromium the tests say they skipped and why; with `CI` set, that is a failure.
//! Chromium's stderr is noise (D-Bus, GPU) unless it fails: only its exit status and its
//! outputs count. Run alone with `cargo test -p muster --test report_browser`.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{muster, repo};

/// Where Debian's package puts the browser.
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long one chromium run may take before it is killed and the test fails.
const TIMEOUT: Duration = Duration::from_secs(60);
/// The screenshot's size: wide enough for the page, tall enough for several charts.
const WINDOW: &str = "1280,2400";

fn example(path: &str) -> String {
    repo().join("examples").join(path).display().to_string()
}

/// The browser, or `None` (after saying why) when it is not installed and CI is not set.
fn browser() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|p| p.is_file())
    });
    let found = Some(PathBuf::from(CHROMIUM))
        .filter(|p| p.is_file())
        .or(on_path);
    if found.is_none() {
        let why = format!(
            "{CHROMIUM} is not installed (tools/browser/install.sh installs Debian's chromium package)"
        );
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but the report's browser test cannot run: {why}"
        );
        eprintln!("skipped: {why}");
    }
    found
}

/// Runs chromium headless on `page` with `args`, its stdout into `stdout`; kills it after
/// [`TIMEOUT`]. Panics, with the end of its stderr, unless it exits with success.
fn chromium(browser: &Path, page: &Path, args: &[String], stdout: &Path, work: &Path) {
    let profile = tempfile::tempdir_in(work).expect("a profile directory");
    let stderr_path = work.join("chromium-stderr.txt");
    let page = std::fs::canonicalize(page).expect("the report exists");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={WINDOW}"))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(File::create(stdout).expect("chromium's stdout file"))
        .stderr(File::create(&stderr_path).expect("chromium's stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let started = Instant::now();
    let status = loop {
        match child.try_wait().expect("chromium's status") {
            Some(status) => break Some(status),
            None if started.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
    let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
    match status {
        None => panic!(
            "chromium {args:?} did not finish within {TIMEOUT:?} and was killed; stderr ends:\n{tail}"
        ),
        Some(s) => assert!(
            s.success(),
            "chromium {args:?} failed ({s}); stderr ends:\n{tail}"
        ),
    }
}

/// Asserts that the screenshot decodes and shows something: a good share of its pixels
/// differ from the background (its top-left pixel), in many colours (text, lines, fills).
fn assert_not_blank(png_path: &Path) {
    let file = File::open(png_path)
        .unwrap_or_else(|e| panic!("no screenshot {}: {e}", png_path.display()));
    let mut decoder = png::Decoder::new(BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("the screenshot is a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a sane size")];
    let info = reader.next_frame(&mut buf).expect("the screenshot decodes");
    let channels = info.color_type.samples();
    let pixels: Vec<[u8; 3]> = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|p| match p {
            [g] | [g, _] => [*g, *g, *g],
            [r, g, b, ..] => [*r, *g, *b],
            [] => [0, 0, 0],
        })
        .collect();
    assert!(!pixels.is_empty(), "an empty screenshot");
    let background = pixels[0];
    let drawn = pixels.iter().filter(|&&p| p != background).count();
    let colours: BTreeSet<[u8; 3]> = pixels.iter().copied().collect();
    let share = drawn as f64 / pixels.len() as f64;
    assert!(
        share > 0.01,
        "the page looks blank: {:.2}% of {}x{} pixels differ from the background {background:?}",
        share * 100.0,
        info.width,
        info.height
    );
    assert!(
        colours.len() > 16,
        "the page looks blank: only {} colours",
        colours.len()
    );
}

/// Renders `report` in chromium: checks the screenshot is not blank and the DOM (as the
/// browser built it) has each of `titles`.
fn check_in_browser(browser: &Path, report: &Path, titles: &[&str]) {
    let work = tempfile::tempdir().expect("a temporary directory");
    let shot = work.path().join("shot.png");
    chromium(
        browser,
        report,
        &[format!("--screenshot={}", shot.display())],
        &work.path().join("screenshot-stdout.txt"),
        work.path(),
    );
    assert_not_blank(&shot);
    let dom_path = work.path().join("dom.html");
    chromium(
        browser,
        report,
        &["--dump-dom".to_string()],
        &dom_path,
        work.path(),
    );
    let dom = std::fs::read_to_string(&dom_path).expect("the dumped DOM");
    assert!(
        dom.contains("</svg>"),
        "the dumped DOM has no chart:\n{dom}"
    );
    for title in titles {
        assert!(
            dom.contains(title),
            "the dumped DOM lacks {title:?}:\n{dom}"
        );
    }
}

#[test]
fn the_simulate_report_renders_in_chromium() {
    let Some(browser) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let o = muster(
        &[
            "simulate",
            &example("quickstart"),
            "--out",
            "out",
            "--quiet",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    check_in_browser(
        &browser,
        &dir.path().join("out/report.html"),
        &[
            "Allocated / allocatable over time",
            "Pending workloads per ClusterQueue",
            "Running workloads per ClusterQueue",
            "Wait-time CDF per ClusterQueue",
            "Wait times per ClusterQueue",
            "team-a",
        ],
    );
}

#[test]
fn the_compare_report_renders_in_chromium() {
    let Some(browser) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let o = muster(
        &[
            "compare",
            &example("backfill/queue-besteffort.yaml"),
            &example("backfill/queue-backfill.yaml"),
            "--out",
            "cmp",
            "--",
            &example("backfill/cluster.yaml"),
            &example("backfill/jobs.yaml"),
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cmp = dir.path().join("cmp");
    check_in_browser(
        &browser,
        &cmp.join("report.html"),
        &[
            "The whole cluster",
            "Allocated / allocatable over time: cpu",
            "Pending workloads per ClusterQueue",
            "Pending workloads: hpc",
            "Wait-time CDF per ClusterQueue",
            "Wait-time CDF: hpc",
            "Figures per ClusterQueue",
            "base (queue-besteffort.yaml)",
            "candidate (queue-backfill.yaml)",
        ],
    );
    // Each run's own report renders too.
    check_in_browser(
        &browser,
        &cmp.join("candidate/report.html"),
        &[
            "Allocated / allocatable over time",
            "Wait-time CDF per ClusterQueue",
        ],
    );
}
