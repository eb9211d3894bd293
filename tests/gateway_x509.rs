//! X.509 client certificates at tapegw, made by openssl: a certificate of
//! a configured client stages and reads beneath its roots and nowhere
//! else; a verified certificate no client is configured for is refused;
//! one from a CA the gateway does not trust never gets through the
//! handshake; a connection without certificate or token is unauthorised.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::gateway::Gateway;
use common::{Install, pattern};
use serde_json::{Value, json};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (NAME.pem, NAME.key) made by openssl.
fn ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/O=Test/CN={name}"),
        ],
    );
}

/// A client certificate of subject /O=Test/CN=CN signed by CA, in
/// FILE.pem and FILE.key; their paths.
fn client(dir: &Path, ca: &str, cn: &str, file: &str) -> (PathBuf, PathBuf) {
    let ext = dir.join("client.ext");
    std::fs::write(
        &ext,
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{file}.key"),
            "-out",
            &format!("{file}.csr"),
            "-subj",
            &format!("/O=Test/CN={cn}"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{file}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &format!("{file}.pem"),
            "-days",
            "2",
            "-extfile",
            "client.ext",
        ],
    );
    (
        dir.join(format!("{file}.pem")),
        dir.join(format!("{file}.key")),
    )
}

#[test]
fn client_certificates_map_to_configured_clients_limited_to_their_roots() {
    let install = Install::with_args(1, 1, &["--gateway"]);
    let pki = install.path().join("clients");
    std::fs::create_dir_all(&pki).unwrap();
    ca(&pki, "clients-ca");
    ca(&pki, "rogue-ca");
    let (fts, fts_key) = client(&pki, "clients-ca", "fts", "fts");
    let (stranger, stranger_key) = client(&pki, "clients-ca", "stranger", "stranger");
    let (rogue, rogue_key) = client(&pki, "rogue-ca", "fts", "rogue");
    let data = install.path().join("data");
    let other = install.path().join("other");
    for d in [&data, &other] {
        std::fs::create_dir_all(d).unwrap();
    }
    let config = install.path().join("tapegw.toml");
    let mut table: toml::Table = std::fs::read_to_string(&config).unwrap().parse().unwrap();
    table.insert(
        "x509".into(),
        toml::Value::try_from(json!({
            "ca": pki.join("clients-ca.pem"),
            // As `openssl x509 -noout -subject` prints it.
            "clients": [{ "name": "fts", "subject": "O = Test, CN = fts", "roots": [data] }],
        }))
        .unwrap(),
    );
    std::fs::write(&config, toml::to_string(&table).unwrap()).unwrap();
    let _daemon = install.start();
    let gw = Gateway::start(&install);

    let inside = data.join("f0");
    let outside = other.join("f1");
    for (i, p) in [&inside, &outside].into_iter().enumerate() {
        std::fs::write(p, pattern(300_000, i as u64)).unwrap();
    }
    let both = [inside.display().to_string(), outside.display().to_string()];
    install.ok("stager", &["archive", "--wait", &both[0], &both[1]]);
    install.ok("stager", &["evict", &both[0], &both[1]]);

    // Its client reads and stages beneath its root...
    let info = gw.curl_as(
        &fts,
        &fts_key,
        "POST",
        "/api/v1/archiveinfo",
        Some(&json!({ "paths": both }).to_string()),
    );
    assert_eq!(info.status, 200, "{}", info.body);
    let answers = info.json();
    assert_eq!(answers[0]["locality"], "TAPE", "{answers}");
    assert!(
        answers[1]["error"].is_string(),
        "outside its roots: {answers}"
    );
    let staged = gw.curl_as(
        &fts,
        &fts_key,
        "POST",
        "/api/v1/stage",
        Some(&json!({ "files": [{ "path": both[0] }] }).to_string()),
    );
    assert_eq!(staged.status, 201, "{}", staged.body);
    let id = staged.json()["requestId"].as_str().unwrap().to_string();
    install.wait_for("the file staged", Duration::from_secs(60), || {
        let s = gw.curl_as(&fts, &fts_key, "GET", &format!("/api/v1/stage/{id}"), None);
        s.json()["files"][0]["state"] == "COMPLETED"
    });
    assert_eq!(std::fs::read(&inside).unwrap(), pattern(300_000, 0));
    // ...and nothing outside it.
    let refused = gw.curl_as(
        &fts,
        &fts_key,
        "POST",
        "/api/v1/stage",
        Some(&json!({ "files": [{ "path": both[1] }] }).to_string()),
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    // The request is the certificate's client's: a token holder's view of
    // it is not.
    let token = gw.token("storage.stage:/", "fts");
    let theirs = gw.curl("GET", &format!("/api/v1/stage/{id}"), Some(&token), None);
    assert_eq!(theirs.status, 404, "{}", theirs.body);

    // A verified certificate of no configured client.
    let unknown = gw.curl_as(
        &stranger,
        &stranger_key,
        "POST",
        "/api/v1/archiveinfo",
        Some(&json!({ "paths": [both[0]] }).to_string()),
    );
    assert_eq!(unknown.status, 403, "{}", unknown.body);
    let problem: Value = unknown.json();
    assert!(
        problem["detail"].as_str().unwrap().contains("stranger"),
        "{problem}"
    );
    // A certificate of the right subject from a CA not trusted here.
    let rogue_answer = gw.curl_as(
        &rogue,
        &rogue_key,
        "POST",
        "/api/v1/archiveinfo",
        Some(&json!({ "paths": [both[0]] }).to_string()),
    );
    assert_eq!(
        rogue_answer.status, 0,
        "the handshake fails: {}",
        rogue_answer.body
    );
    // Neither certificate nor token.
    let anonymous = gw.curl(
        "POST",
        "/api/v1/archiveinfo",
        None,
        Some(&json!({ "paths": [both[0]] }).to_string()),
    );
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
}
