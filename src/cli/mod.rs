//! What the command-line clients share: finding the config, talking to the
//! daemon, and printing tables or JSON. The binaries in `src/bin` only
//! parse arguments and call these.

pub mod admin;
pub mod args;
pub mod buffer;
pub mod docs;
pub mod library;
pub mod repacks;
pub mod stager;
pub mod tapeadmin;

use std::path::PathBuf;

use anyhow::Context;

use crate::config::{Config, client_config_path};

/// Loads the config a client uses (flag, then $TAPESERVER_CONFIG, then /etc).
pub fn client_config(flag: Option<PathBuf>) -> anyhow::Result<Config> {
    let path = client_config_path(flag);
    if crate::config::is_client_config(&path) {
        anyhow::bail!(
            "{} is a stager's client config ([client]); this command needs the daemon's config (--config /etc/tapeserver/tapeserver.toml, or TAPESERVER_CONFIG)",
            path.display()
        );
    }
    Config::load(&path).context(
        "cannot load the tapeserver configuration (use --config FILE or set TAPESERVER_CONFIG)",
    )
}

/// A client whose output goes to a pipe that closed (`tplib status | head
/// -1`) ends quietly, as Unix tools do, instead of panicking on the write.
pub fn quiet_on_closed_pipe() {
    // SAFETY: restoring the default action of SIGPIPE (which Rust's runtime
    // set to ignore) before any thread exists; no handler is installed.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Runs a client's main: errors become one line on stderr and exit code 1.
pub fn exit_with(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Error texts often already include their source: print each part once.
            let mut chain: Vec<String> = Vec::new();
            for part in e.chain().map(|c| c.to_string()) {
                if !chain.last().is_some_and(|prev| prev.contains(&part)) {
                    chain.push(part);
                }
            }
            eprintln!("error: {}", chain.join(": "));
            std::process::ExitCode::FAILURE
        }
    }
}

/// A size in a table: human on a terminal, the exact byte count when the
/// output goes to a script (which can also ask for --json).
pub fn table_size(n: u64) -> String {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        human_bytes(n)
    } else {
        n.to_string()
    }
}

/// A duration for people: "45s", "3m 12s", "2h 05m", "3d 4h".
pub fn human_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

/// Human-readable byte count.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Prints rows as aligned columns.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    print!("{}", render_table(header, rows));
}

/// Rows as aligned columns, one line each.
pub fn render_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut text = String::new();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.len());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    text.push_str(&line(header.to_vec()));
    for row in rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

#[cfg(test)]
mod human_tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human_duration(0.4), "0s");
        assert_eq!(human_duration(59.0), "59s");
        assert_eq!(human_duration(192.0), "3m 12s");
        assert_eq!(human_duration(7500.0), "2h 05m");
        assert_eq!(human_duration(3.0 * 86400.0 + 4.0 * 3600.0 + 59.0), "3d 4h");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
    }
}
