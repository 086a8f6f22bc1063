fn main() {
    let args: mobius_backup::Args = mobius_core::args::parse();
    let stdout = std::io::stdout();
    let result = mobius_backup::run(&args, &mut stdout.lock());
    mobius_core::exit::finish("mobius-backup", result)
}
