//! mobius-report: draws a monitoring log as an HTML page or SVG. See `--help`.
use clap::Parser;

fn main() {
    let args = mobius_report::Args::parse();
    let result = mobius_report::run(&args, std::io::stdin().lock(), std::io::stdout().lock());
    mobius_core::exit::finish("mobius-report", result)
}
