//! mobius-rollback: see the library docs and `mobius-rollback --help`.
fn main() {
    let args: mobius_rollback::Args = mobius_core::args::parse();
    let result = mobius_rollback::run(&args, &mut std::io::stdout().lock());
    mobius_core::exit::finish("mobius-rollback", result)
}
