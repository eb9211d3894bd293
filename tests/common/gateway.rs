//! A tapegw of an installation made with `tapeserverd init --gateway`,
//! started as a child process, and curl (a client no one here wrote) to
//! talk to it over HTTPS with the CA init made.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Install, bin};

pub struct Gateway {
    child: Option<Child>,
    pub config: PathBuf,
    pub ca: PathBuf,
    /// https://127.0.0.1:PORT
    pub base: String,
    log: PathBuf,
}

/// An HTTP answer as curl saw it.
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub headers: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Gateway {
    pub fn start(install: &Install) -> Self {
        Self::start_with(install, &install.path().join("tapegw.toml"))
    }

    /// A gateway of the installation with another config (another port).
    pub fn start_with(install: &Install, config: &std::path::Path) -> Self {
        Self::launch(&install.path().join("gateway/ca.pem"), config)
    }

    /// A gateway of `config`, whose certificate `ca` signed; once it
    /// answers.
    pub fn launch(ca: &std::path::Path, config: &std::path::Path) -> Self {
        let config = config.to_path_buf();
        let text = std::fs::read_to_string(&config).expect("tapegw.toml (init --gateway)");
        let table: toml::Table = text.parse().expect("tapegw.toml");
        let listen = table["gateway"]["listen"]
            .as_str()
            .expect("listen")
            .to_string();
        let log = config.with_extension("log");
        let out = std::fs::File::create(&log).expect("gateway log");
        let child = Command::new(bin("tapegw"))
            .args(["run", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("start tapegw");
        let gw = Self {
            child: Some(child),
            config,
            ca: ca.to_path_buf(),
            base: format!("https://{listen}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if gw
                .curl("GET", "/.well-known/wlcg-tape-rest-api", None, None)
                .status
                == 200
            {
                return gw;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("tapegw did not come up: {}", gw.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A token of the local issuer.
    pub fn token(&self, scope: &str, subject: &str) -> String {
        let out = Command::new(bin("tapegw"))
            .args(["token", "--config"])
            .arg(&self.config)
            .args(["--scope", scope, "--subject", subject])
            .output()
            .expect("tapegw token");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// One request through curl; a body is sent from a file (it may be
    /// large).
    pub fn curl(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Answer {
        self.curl_with(&[], method, path, token, body)
    }

    /// As `curl`, with a client certificate and its key (PEM files).
    pub fn curl_as(
        &self,
        cert: &std::path::Path,
        key: &std::path::Path,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Answer {
        let args = [
            "--cert".to_string(),
            cert.display().to_string(),
            "--key".to_string(),
            key.display().to_string(),
        ];
        self.curl_with(&args, method, path, None, body)
    }

    fn curl_with(
        &self,
        extra: &[String],
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Answer {
        let dir = tempfile::tempdir().expect("tempdir");
        let headers = dir.path().join("headers");
        let mut cmd = Command::new("curl");
        cmd.args(extra);
        cmd.args(["-sS", "-X", method, "--cacert"])
            .arg(&self.ca)
            .arg("-D")
            .arg(&headers)
            .args(["-w", "\n%{http_code}"]);
        if let Some(t) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        if let Some(b) = body {
            let file = dir.path().join("body");
            std::fs::write(&file, b).expect("body");
            cmd.args(["-H", "Content-Type: application/json", "--data-binary"])
                .arg(format!("@{}", file.display()));
        }
        let out = cmd
            .arg(format!("{}{path}", self.base))
            .output()
            .expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", text.as_str()));
        let status = code.trim().parse().unwrap_or(0);
        Answer {
            status,
            // No answer: what curl said instead.
            body: if status == 0 {
                String::from_utf8_lossy(&out.stderr).to_string()
            } else {
                body.to_string()
            },
            headers: std::fs::read_to_string(&headers).unwrap_or_default(),
        }
    }
}

impl Gateway {
    /// A stage of `paths` (201 asserted); the request's id.
    pub fn stage(&self, token: &str, paths: &[String]) -> String {
        let body = serde_json::json!({
            "files": paths.iter().map(|p| serde_json::json!({ "path": p })).collect::<Vec<_>>()
        });
        let created = self.curl(
            "POST",
            "/api/v1/stage",
            Some(token),
            Some(&body.to_string()),
        );
        assert_eq!(created.status, 201, "{}", created.body);
        created.json()["requestId"]
            .as_str()
            .expect("requestId")
            .to_string()
    }
}

impl Gateway {
    /// SIGKILL, as a crash; waits until it is gone.
    pub fn kill(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
