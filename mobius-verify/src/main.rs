fn main() {
    let args: mobius_verify::Args = mobius_core::args::parse();
    let result = mobius_verify::run(&args, std::io::stdout().lock());
    mobius_core::exit::finish("mobius-verify", result)
}
