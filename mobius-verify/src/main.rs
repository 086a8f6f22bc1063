use clap::Parser;

fn main() {
    let args = mobius_verify::Args::parse();
    let result = mobius_verify::run(&args, std::io::stdout().lock());
    mobius_core::exit::finish("mobius-verify", result)
}
