//! Man pages and shell completions, generated from the commands' own clap
//! definitions (`args`), so they say what `--help` says. Daemons go in
//! section 8, client commands in section 1. `examples/gen_docs.rs` writes
//! them for packaging.

use std::path::{Path, PathBuf};

/// The man section of a command.
pub fn section(name: &str) -> &'static str {
    match name {
        "tapeserverd" | "tlcd" | "tapegw" => "8",
        _ => "1",
    }
}

/// Every page: each command, and each of its subcommands as
/// `COMMAND-SUBCOMMAND` (as git and cargo do), with the clap command it
/// documents.
pub fn pages() -> Vec<(String, &'static str, clap::Command)> {
    let mut out = Vec::new();
    for command in super::args::commands() {
        let name = command.get_name().to_string();
        let section = section(&name);
        let command = command.version(env!("CARGO_PKG_VERSION"));
        for sub in command.get_subcommands() {
            let full = format!("{name}-{}", sub.get_name());
            out.push((full.clone(), section, sub.clone().name(full)));
        }
        out.push((name, section, command));
    }
    out
}

/// Writes `DIR/man/NAME.SECTION` for every page and bash, zsh and fish
/// completions under `DIR/completions/`. Returns the man pages written.
pub fn write_all(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let man = dir.join("man");
    std::fs::create_dir_all(&man)?;
    let mut paths = Vec::new();
    for (name, section, command) in pages() {
        let mut page = Vec::new();
        clap_mangen::Man::new(command)
            .section(section)
            .manual("tapeserver")
            .source(format!("tapeserver {}", env!("CARGO_PKG_VERSION")))
            .render(&mut page)?;
        let path = man.join(format!("{name}.{section}"));
        std::fs::write(&path, page)?;
        paths.push(path);
    }
    for command in super::args::commands() {
        let name = command.get_name().to_string();
        for (shell, sub) in [
            (clap_complete::Shell::Bash, "bash"),
            (clap_complete::Shell::Zsh, "zsh"),
            (clap_complete::Shell::Fish, "fish"),
        ] {
            let out = dir.join("completions").join(sub);
            std::fs::create_dir_all(&out)?;
            let mut command = command.clone();
            clap_complete::generate_to(shell, &mut command, &name, &out)?;
        }
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command has a page; each renders (groff, warnings on) and
    /// names every long option the command's --help lists.
    #[test]
    fn every_man_page_renders_and_matches_the_help() {
        let tmp = tempfile::tempdir().unwrap();
        let written = write_all(tmp.path()).unwrap();
        let all = pages();
        assert_eq!(written.len(), all.len());
        assert!(all.len() > super::super::args::commands().len());
        for (page, (_, _, command)) in written.iter().zip(all) {
            let out = std::process::Command::new("groff")
                .args(["-man", "-Tutf8", "-ww", "-Wbreak", "-P-cbou"])
                .arg(page)
                .output()
                .expect("groff (scripts/test installs it)");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && stderr.trim().is_empty(),
                "{}: {stderr}",
                page.display()
            );
            let text = String::from_utf8_lossy(&out.stdout).replace(['\u{2010}', '\u{2212}'], "-");
            for arg in command.get_arguments().filter_map(|a| a.get_long()) {
                assert!(
                    text.contains(&format!("--{arg}")),
                    "{} does not mention --{arg}",
                    page.display()
                );
            }
        }
        for shell in ["bash", "zsh", "fish"] {
            assert!(
                std::fs::read_dir(tmp.path().join("completions").join(shell))
                    .unwrap()
                    .count()
                    >= super::super::args::commands().len()
            );
        }
    }
}
