//! radcluster command line: no argument or a folder opens the window; subcommands run the
//! same pipeline headless.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use radcluster::cli;

#[derive(Parser, Debug)]
#[command(
    name = "radcluster",
    version,
    about = "Cluster, review and label a DICOM archive, locally.",
    long_about = "Cluster, review and label a DICOM archive, locally.\n\n\
                  With no arguments the review window opens on its start screen; with a \
                  folder it opens that folder. The subcommands run the same pipeline \
                  without a window.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// DICOM folder to open in the window.
    dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Walk a folder, read every DICOM header, decode every image, and write a report.
    Scan(cli::ScanArgs),
    /// Scan and embed a folder: image, metadata, text and fused embeddings as .npy.
    Embed(cli::EmbedArgs),
    /// Join the caches of `embed --shard` runs into one cache for `run --cache`.
    Merge(cli::MergeArgs),
    /// The whole pipeline headless: scan, embed, cluster, project, export labels.
    Run(cli::RunArgs),
    /// Write a synthetic phantom archive with ground truth.
    Synth(cli::SynthArgs),
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,jpeg2k=off"))
        .init();
    let cli = Cli::parse();
    let result = match cli.cmd {
        Some(Cmd::Scan(a)) => cli::scan(a),
        Some(Cmd::Embed(a)) => cli::embed(a),
        Some(Cmd::Merge(a)) => cli::merge(a),
        Some(Cmd::Run(a)) => cli::run(a),
        Some(Cmd::Synth(a)) => cli::synth(a),
        None => radcluster::ui::run_app(cli.dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("radcluster: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_window_and_subcommands() {
        let c = Cli::try_parse_from(["radcluster", "/data"]).unwrap();
        assert_eq!(c.dir, Some(PathBuf::from("/data")));
        assert!(c.cmd.is_none());
        let c = Cli::try_parse_from(["radcluster", "scan", "/data", "--report", "r.json"]).unwrap();
        assert!(matches!(c.cmd, Some(Cmd::Scan(_))));
        assert!(
            Cli::try_parse_from(["radcluster", "run", "/d", "--k", "abc", "--out", "o"]).is_err()
        );
    }
}
