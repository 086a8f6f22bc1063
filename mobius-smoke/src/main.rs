//! mobius-smoke: see the library docs and `mobius-smoke --help`.
use clap::Parser;

fn main() {
    let args = mobius_smoke::Args::parse();
    let result = mobius_smoke::run(args, &mut std::io::stdout().lock());
    mobius_core::exit::finish("mobius-smoke", result)
}
