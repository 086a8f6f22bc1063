//! mobius-demo: see the library docs and `mobius-demo --help`.
fn main() {
    let args: mobius_demo::Args = mobius_core::args::parse();
    let result = mobius_demo::run(args, &mut std::io::stdout().lock());
    mobius_core::exit::finish("mobius-demo", result)
}
