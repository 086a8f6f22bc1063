fn main() {
    let args: mobius_history::Args = mobius_core::args::parse();
    let result = mobius_history::run(&args, &mut std::io::stdout().lock());
    mobius_core::exit::finish("mobius-history", result)
}
