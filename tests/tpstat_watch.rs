//! `tpstat --watch` in a real terminal (tmux): the table is redrawn in
//! place while a session runs, and Ctrl-C ends it; in a pipe it prints
//! plain timestamped tables without escape codes.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Install, bin};
use tapeserver::config::{FaultsConfig, Interval};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "watch"]).stdout)
            .into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

#[test]
fn tpstat_watch_redraws_in_place_on_a_terminal_and_prints_plain_tables_in_a_pipe() {
    let install = Install::new(1, 1);
    install.configure(|c| {
        // A slow drive: the session is seen running.
        c.drives[0].faults = Some(FaultsConfig {
            block_delay: Some(Interval(Duration::from_millis(40))),
            ..Default::default()
        });
    });
    let _daemon = install.start();
    let tmux = Tmux {
        socket: format!("tpstat-{}", std::process::id()),
    };
    let command = format!(
        "{} --config {} --watch --interval 200ms",
        bin("tpstat").display(),
        install.config.display()
    );
    let out = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "watch",
        "-x",
        "160",
        "-y",
        "30",
        &command,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    install.wait_for("the table on the screen", Duration::from_secs(60), || {
        let s = tmux.screen();
        s.contains("DRIVE") && s.contains("drive0") && s.contains(" up ")
    });
    let file = install.make_file("big", 8 << 20, 1);
    let ids = install.archive(std::slice::from_ref(&file));
    install.wait_for("the session on the screen", Duration::from_secs(60), || {
        tmux.screen().contains("running")
    });
    install.wait_for("the file on tape", Duration::from_secs(120), || {
        install.state_of(ids[0]).state == "on_tape"
    });
    install.wait_for(
        "the drive up again on the screen",
        Duration::from_secs(60),
        || tmux.screen().contains(" up "),
    );
    let screen = tmux.screen();
    assert_eq!(
        screen.matches("DRIVE").count(),
        1,
        "redrawn in place:\n{screen}"
    );
    assert!(screen.contains("Ctrl-C to quit"), "{screen}");
    // Ctrl-C ends it, and with it the tmux session.
    tmux.run(&["send-keys", "-t", "watch", "C-c"]);
    install.wait_for("tpstat --watch to end", Duration::from_secs(60), || {
        !tmux.run(&["has-session", "-t", "watch"]).status.success()
    });

    // Not a terminal: plain tables, each after a timestamp.
    let out = install.run(
        "tpstat",
        &["--watch", "--count", "2", "--interval", "100ms"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.matches("DRIVE").count(), 2, "{text}");
    assert!(
        !text.contains('\x1b'),
        "no escape codes in a pipe: {text:?}"
    );
}
