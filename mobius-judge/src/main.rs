//! mobius-judge: applies the rollback rules to a stream of samples. See `--help`.
use clap::Parser;

fn main() {
    let args = mobius_judge::Args::parse();
    let result = mobius_judge::run(&args, std::io::stdin().lock(), std::io::stdout().lock());
    mobius_core::exit::finish("mobius-judge", result)
}
