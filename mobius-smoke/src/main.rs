//! mobius-smoke: see the library docs and `mobius-smoke --help`.
fn main() {
    let args: mobius_smoke::Args = mobius_core::args::parse();
    let result = mobius_smoke::run(args, std::io::stdin().lock(), &mut std::io::stdout().lock());
    mobius_core::exit::finish("mobius-smoke", result)
}
