//! mobius-rollback: see the library docs and `mobius-rollback --help`.
use clap::Parser;

fn main() {
    let args = mobius_rollback::Args::parse();
    let result = mobius_rollback::run(&args, &mut std::io::stdout().lock());
    mobius_core::exit::finish("mobius-rollback", result)
}
