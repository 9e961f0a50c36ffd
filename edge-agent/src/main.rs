//! `paceline-edge`: the edge agent's command line. See `paceline-edge --help`.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reports on the terminal"
)]

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use paceline_edge::gatt;

/// The Paceline edge agent: reads heart-rate straps, power meters, footpods and smart
/// trainers (or simulated athletes), sends their samples to a Paceline gateway, and speaks
/// the coaching cues that come back.
#[derive(Debug, Parser)]
#[command(name = "paceline-edge", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print what one sensor notification means, as JSON (debug a sensor with it).
    ///
    /// Example: paceline-edge decode --char 2a37 --hex 16483c01
    Decode {
        /// The characteristic, as a 16-bit UUID in hex (2a37 heart rate, 2a63 cycling
        /// power, 2a53 running speed & cadence, 2a5b cycling speed & cadence, 2ad2 FTMS
        /// indoor bike, 2acd FTMS treadmill) or a name (hr, power, rsc, csc, bike,
        /// treadmill).
        #[arg(long = "char", value_name = "UUID")]
        characteristic: String,
        /// The notification's bytes in hex (spaces and colons allowed).
        #[arg(long, value_name = "HEX")]
        hex: String,
    },
}

/// Exit status for input that cannot be decoded.
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("paceline-edge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Decode {
            characteristic,
            hex,
        } => decode(&characteristic, &hex),
    }
}

fn decode(characteristic: &str, hex_text: &str) -> anyhow::Result<ExitCode> {
    let uuid = match gatt::parse_characteristic(characteristic) {
        Ok(uuid) => uuid,
        Err(_) => {
            eprintln!(
                "paceline-edge: --char {characteristic:?} is not a characteristic this agent \
                 decodes (2a37, 2a63, 2a53, 2a5b, 2ad2, 2acd)"
            );
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    let cleaned: String = hex_text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':' && *c != '-')
        .collect();
    let cleaned = cleaned.strip_prefix("0x").unwrap_or(&cleaned);
    let payload = match hex::decode(cleaned) {
        Ok(payload) => payload,
        Err(e) => {
            eprintln!("paceline-edge: --hex {hex_text:?} is not hex: {e}");
            return Ok(ExitCode::from(EXIT_BAD_INPUT));
        }
    };
    match gatt::decode(uuid, &payload) {
        Ok(value) => {
            let json = paceline_schemas::codec::to_json(&value).context("encoding the sample")?;
            println!("{json}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("paceline-edge: {e}");
            Ok(ExitCode::from(EXIT_BAD_INPUT))
        }
    }
}
