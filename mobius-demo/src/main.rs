//! mobius-demo: see the library docs and `mobius-demo --help`.
use clap::Parser;

fn main() {
    let args = mobius_demo::Args::parse();
    let result = mobius_demo::run(args, &mut std::io::stdout().lock());
    mobius_core::exit::finish("mobius-demo", result)
}
