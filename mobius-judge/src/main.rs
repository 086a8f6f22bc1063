//! mobius-judge: applies the rollback rules to a stream of samples. See `--help`.
fn main() {
    let args: mobius_judge::Args = mobius_core::args::parse();
    let result = mobius_judge::run(&args, std::io::stdin().lock(), std::io::stdout().lock());
    mobius_core::exit::finish("mobius-judge", result)
}
