fn main() {
    let args: mobius_export::Args = mobius_core::args::parse();
    let stdout = std::io::stdout();
    let result = mobius_export::run(&args, &mut stdout.lock());
    mobius_core::exit::finish("mobius-export", result)
}
