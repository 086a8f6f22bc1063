fn main() {
    let args: mobius_notify::Args = mobius_core::args::parse();
    let result = mobius_notify::run(
        &args,
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
    );
    mobius_core::exit::finish("mobius-notify", result)
}
