//! The `muster` command.
//!
//! Exit codes: 0 success; 2 invalid input (every problem printed as
//! `file:line: Kind "name": field.path: message`); 1 internal error.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use muster_api::{InputErrors, Scenario};
use muster_sim::engine::Options;

/// Muster: batch and HPC scheduling for Kubernetes, and a simulator that runs the same
/// scheduling code.
#[derive(Parser, Debug)]
#[command(name = "muster", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replay workloads on a cluster through Muster's scheduler and report what happens.
    ///
    /// Reads Kubernetes-style YAML (Nodes, PriorityClasses, ResourceFlavors, Cohorts,
    /// ClusterQueues, LocalQueues, Jobs, Workloads, ...). Every Job and Workload needs the
    /// annotation muster.dev/sim-duration (how long it runs once admitted) and may have
    /// muster.dev/sim-submit-after (when it is submitted). Writes events.jsonl, summary.json
    /// and report.html into --out and prints a summary.
    #[command(after_help = "Example:\n  muster simulate examples/quickstart --out muster-out")]
    Simulate {
        /// YAML files (multi-document allowed) or directories (every *.yaml/*.yml inside,
        /// recursively, in name order).
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Directory for events.jsonl, summary.json and report.html.
        #[arg(long, value_name = "DIR", default_value = "muster-out")]
        out: PathBuf,
        /// Seed for randomized choices. The scheduler makes none today, so every seed gives
        /// the same output; the flag is part of the simulate contract.
        #[arg(long, value_name = "N", default_value_t = 0)]
        seed: u64,
        /// Stop at this simulated time (Go duration such as 12h or 90m, or seconds).
        #[arg(long, value_name = "DURATION", value_parser = parse_until)]
        until: Option<muster_core::Duration>,
        /// Print nothing on success (no summary table, no progress bar).
        #[arg(long)]
        quiet: bool,
    },
    /// Check input files without simulating: the same parsing and the same errors.
    Validate {
        /// YAML files or directories.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
}

fn parse_until(s: &str) -> Result<muster_core::Duration, String> {
    muster_api::duration::parse_duration(s).map_err(|e| e.to_string())
}

/// Most input errors printed; the rest are counted.
const MAX_PRINTED_ERRORS: usize = 50;

fn print_input_errors(errors: &InputErrors) {
    for e in errors.0.iter().take(MAX_PRINTED_ERRORS) {
        eprintln!("error: {e}");
    }
    if errors.0.len() > MAX_PRINTED_ERRORS {
        eprintln!(
            "error: ... and {} more",
            errors.0.len() - MAX_PRINTED_ERRORS
        );
    }
}

fn load(paths: &[PathBuf]) -> Result<Scenario, ExitCode> {
    match muster_api::load_scenario(paths) {
        Ok(s) => {
            for w in &s.warnings {
                eprintln!("{w}");
            }
            Ok(s)
        }
        Err(errors) => {
            print_input_errors(&errors);
            Err(ExitCode::from(2))
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { paths } => match load(&paths) {
            Err(code) => code,
            Ok(s) => {
                let kinds: Vec<String> = s.counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
                println!(
                    "ok: {} objects ({}), {} workloads to simulate",
                    s.counts.values().sum::<usize>(),
                    kinds.join(", "),
                    s.workloads.len()
                );
                ExitCode::SUCCESS
            }
        },
        Command::Simulate {
            paths,
            out,
            seed: _,
            until,
            quiet,
        } => {
            let scenario = match load(&paths) {
                Ok(s) => s,
                Err(code) => return code,
            };
            match simulate(&scenario, &paths, &out, until, quiet) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// Runs long enough to deserve a progress bar.
const PROGRESS_MIN_WORKLOADS: usize = 5_000;

fn simulate(
    scenario: &Scenario,
    paths: &[PathBuf],
    out: &std::path::Path,
    until: Option<muster_core::Duration>,
    quiet: bool,
) -> anyhow::Result<()> {
    let options = Options {
        until,
        ..Options::default()
    };
    let title = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let bar = (!quiet
        && std::io::stderr().is_terminal()
        && scenario.workloads.len() >= PROGRESS_MIN_WORKLOADS)
        .then(|| {
            let bar = indicatif::ProgressBar::new(2 * scenario.workloads.len() as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} simulating [{bar:40}] {pos}/{len} events ({eta})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        });
    let mut progress = |p: muster_sim::Progress| {
        if let Some(bar) = &bar {
            bar.set_length(p.expected.max(p.events));
            bar.set_position(p.events);
        }
    };
    let outcome = muster_sim::output::run_to_dir(scenario, &options, out, &title, &mut progress)
        .with_context(|| format!("simulation into {} failed", out.display()))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if !quiet {
        print!("{}", muster_sim::output::summary_table(&outcome));
        println!(
            "\nwrote {}/events.jsonl, summary.json, report.html ({:.2}s)",
            out.display(),
            outcome.summary.wall_seconds
        );
    }
    Ok(())
}
