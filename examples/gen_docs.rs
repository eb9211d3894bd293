//! Writes the man pages and shell completions of every command:
//! `cargo run --example gen_docs -- DIR` (DIR/man, DIR/completions).

fn main() -> std::process::ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: gen_docs DIR");
        return std::process::ExitCode::FAILURE;
    };
    match tapeserver::cli::docs::write_all(std::path::Path::new(&dir)) {
        Ok(pages) => {
            for p in pages {
                println!("{}", p.display());
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
