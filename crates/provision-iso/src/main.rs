//! `provision-iso`: answer files, installer ISO, answer server and host-key capture.
fn main() {
    std::process::exit(provision_iso::cli::main());
}
