//! mobius-report: draws a monitoring log as an HTML page or SVG. See `--help`.
fn main() {
    let args: mobius_report::Args = mobius_core::args::parse();
    let result = mobius_report::run(&args, std::io::stdin().lock(), std::io::stdout().lock());
    mobius_core::exit::finish("mobius-report", result)
}
