//! mobius-probe: see the library docs and `mobius-probe --help`.
fn main() {
    let args: mobius_probe::Args = mobius_core::args::parse();
    let result = mobius_probe::run(args, std::io::stdin().lock(), &mut std::io::stdout().lock());
    mobius_core::exit::finish("mobius-probe", result)
}
