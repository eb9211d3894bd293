//! tapegw, the WLCG Tape REST API, through curl over HTTPS on a real
//! installation: every endpoint, files archived, evicted and staged back
//! byte for byte, pins that hold, and every bad request answered with the
//! API's error and no change.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::gateway::{Answer, Gateway};
use common::{Install, pattern};
use serde_json::{Value, json};

const SIZE: usize = 200_000;
const LONG: Duration = Duration::from_secs(90);

/// Files archived (on tape) under the installation; all but the last evicted.
fn archived_then_evicted(install: &Install, n: u64) -> Vec<String> {
    let paths: Vec<_> = (0..n)
        .map(|i| install.make_file(&format!("f{i}"), SIZE, 100 + i))
        .collect();
    let mut args = vec!["archive".to_string(), "--wait".to_string()];
    args.extend(paths.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    install.ok("stager", &args);
    let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let mut evict = vec!["evict"];
    evict.extend(paths[..paths.len() - 1].iter().map(String::as_str));
    install.ok("stager", &evict);
    for p in &paths[..paths.len() - 1] {
        assert!(!std::path::Path::new(p).exists(), "{p} evicted");
    }
    paths
}

fn same_bytes(path: &str, seed: u64) -> bool {
    std::fs::read(path).is_ok_and(|b| b == pattern(SIZE, seed))
}

/// A token of the local issuer's key with any claims (expired, for
/// another audience), or of a key nobody trusts.
fn crafted(install: &Install, gw: &Gateway, claims: Value, forged: bool) -> String {
    let pem = if forged {
        rcgen::KeyPair::generate()
            .unwrap()
            .serialize_pem()
            .into_bytes()
    } else {
        std::fs::read(install.path().join("gateway/issuer.key.pem")).unwrap()
    };
    let table: toml::Table = std::fs::read_to_string(&gw.config)
        .unwrap()
        .parse()
        .unwrap();
    let iss = table["issuers"][0]["issuer"].as_str().unwrap().to_string();
    let mut claims = claims;
    claims["iss"] = json!(iss);
    let key = jsonwebtoken::EncodingKey::from_ec_pem(&pem).unwrap();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &claims,
        &key,
    )
    .unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn recalls(install: &Install) -> usize {
    let v: Value = serde_json::from_str(&install.ok("stager", &["recalls", "--json"])).unwrap();
    v["recalls"].as_array().unwrap().len()
}

#[test]
fn every_endpoint_through_curl_and_every_bad_request_gets_the_apis_error() {
    let install = Install::with_args(1, 2, &["--gateway"]);
    let metrics = format!("127.0.0.1:{}", common::free_port());
    let config = install.path().join("tapegw.toml");
    let mut table: toml::Table = std::fs::read_to_string(&config).unwrap().parse().unwrap();
    table["gateway"]
        .as_table_mut()
        .unwrap()
        .insert("metrics_listen".into(), metrics.clone().into());
    std::fs::write(&config, toml::to_string(&table).unwrap()).unwrap();
    let _daemon = install.start();
    let gw = Gateway::start(&install);
    let paths = archived_then_evicted(&install, 4);
    let alice = gw.token("storage.stage:/ storage.read:/", "alice");
    let bob = gw.token("storage.stage:/", "bob");

    // Discovery: no token needed.
    let wk = gw.curl("GET", "/.well-known/wlcg-tape-rest-api", None, None);
    assert_eq!(wk.status, 200);
    let wk = wk.json();
    assert!(wk["sitename"].as_str().unwrap().starts_with("tapeserver-"));
    assert_eq!(wk["endpoints"][0]["version"], "v1");
    assert_eq!(
        wk["endpoints"][0]["uri"],
        format!("{}/api/v1", gw.base),
        "{wk}"
    );

    // Archive info, in the order asked.
    let dotted = format!("{}/../f0", paths[3].rsplit_once('/').unwrap().0);
    let body = json!({ "paths": [paths[0], paths[3], "/no/such/file", dotted] }).to_string();
    let info = gw.curl("POST", "/api/v1/archiveinfo", Some(&alice), Some(&body));
    assert_eq!(info.status, 200, "{}", info.body);
    let info = info.json();
    assert_eq!(info[0]["locality"], "TAPE", "{info}");
    assert_eq!(info[1]["locality"], "DISK_AND_TAPE", "{info}");
    assert!(
        info[2]["error"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );
    assert!(
        info[2].get("locality").is_none(),
        "no locality for an unknown file"
    );
    assert!(info[3]["error"].as_str().unwrap().contains(".."), "{info}");

    // Stage: two evicted, one on disk, one unknown; site metadata ignored.
    let body = json!({ "files": [
        { "path": paths[0], "diskLifetime": "PT1H", "targetedMetadata": { "other-site": { "activity": "x" } } },
        { "path": format!("/{}", paths[1]) },
        { "path": paths[3] },
        { "path": "/no/such/file" },
    ]})
    .to_string();
    let created = gw.curl("POST", "/api/v1/stage", Some(&alice), Some(&body));
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["requestId"].as_str().unwrap().to_string();
    assert!(
        created
            .headers
            .to_lowercase()
            .contains(&format!("location: {}/api/v1/stage/{id}", gw.base)),
        "{}",
        created.headers
    );
    let url = format!("/api/v1/stage/{id}");
    let mut status = Value::Null;
    install.wait_for("the staged files", LONG, || {
        status = gw.curl("GET", &url, Some(&alice), None).json();
        status.get("completedAt").is_some()
    });
    let file = |p: &str| {
        status["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == p)
            .cloned()
            .unwrap_or_else(|| panic!("{p} not in {status}"))
    };
    for p in [&paths[0], &paths[1], &paths[3]] {
        assert_eq!(file(p)["state"], "COMPLETED", "{status}");
        assert!(
            file(p).get("onDisk").is_none(),
            "state or onDisk, never both"
        );
    }
    assert_eq!(file("/no/such/file")["state"], "FAILED");
    assert!(file("/no/such/file")["error"].is_string());
    assert!(status["createdAt"].as_u64().unwrap() <= status["startedAt"].as_u64().unwrap());
    for i in [0, 1, 3] {
        assert!(
            same_bytes(&paths[i], 100 + i as u64),
            "{} staged byte for byte",
            paths[i]
        );
    }
    assert!(!std::path::Path::new(&paths[2]).exists(), "not asked for");
    let info = gw.curl(
        "POST",
        "/api/v1/archiveinfo",
        Some(&alice),
        Some(&json!({ "paths": [paths[0]] }).to_string()),
    );
    assert_eq!(info.json()[0]["locality"], "DISK_AND_TAPE");

    // A pinned file is not evicted; a release naming a path outside the
    // request changes nothing; a good one drops the pin.
    let kept = install.run("stager", &["evict", &paths[0]]);
    assert!(!kept.status.success());
    assert!(
        String::from_utf8_lossy(&kept.stdout).contains("pinned"),
        "{kept:?}"
    );
    let bad = json!({ "paths": [paths[0], "/not/in/it"] }).to_string();
    let r = gw.curl(
        "POST",
        &format!("/api/v1/release/{id}"),
        Some(&alice),
        Some(&bad),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["title"], "File missing from stage request");
    assert!(
        !install
            .run("stager", &["evict", &paths[0]])
            .status
            .success(),
        "still pinned"
    );
    let good = json!({ "paths": [paths[0]] }).to_string();
    assert_eq!(
        gw.curl(
            "POST",
            &format!("/api/v1/release/{id}"),
            Some(&alice),
            Some(&good)
        )
        .status,
        200
    );
    install.ok("stager", &["evict", &paths[0]]);

    // Someone else's request is not there for them.
    for (method, path, body) in [
        ("GET", url.clone(), None),
        ("POST", format!("{url}/cancel"), Some(good.clone())),
        ("POST", format!("/api/v1/release/{id}"), Some(good.clone())),
        ("DELETE", url.clone(), None),
    ] {
        let r = gw.curl(method, &path, Some(&bob), body.as_deref());
        assert_eq!(r.status, 404, "{method} {path} by bob: {}", r.body);
        assert_eq!(r.json()["status"], 404);
    }
    assert_eq!(
        gw.curl("GET", "/api/v1/stage/no-such-id", Some(&alice), None)
            .status,
        404
    );

    // Cancel: with the drive down the recall waits; cancelled, it fails
    // and no mount will ever take it.
    install.ok("tpconfig", &["drive0", "down"]);
    install.wait_for("drive0 down and empty", LONG, || {
        install.drive("drive0")["state"] == "down" && !install.drive_loaded("drive0")
    });
    let body = json!({ "files": [{ "path": paths[2] }] }).to_string();
    let id2 = gw
        .curl("POST", "/api/v1/stage", Some(&alice), Some(&body))
        .json()["requestId"]
        .as_str()
        .unwrap()
        .to_string();
    let url2 = format!("/api/v1/stage/{id2}");
    assert_eq!(
        gw.curl("GET", &url2, Some(&alice), None).json()["files"][0]["state"],
        "SUBMITTED"
    );
    let cancel = json!({ "paths": [paths[2]] }).to_string();
    let r = gw.curl(
        "POST",
        &format!("{url2}/cancel"),
        Some(&alice),
        Some(&cancel),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        gw.curl("GET", &url2, Some(&alice), None).json()["files"][0]["state"],
        "CANCELLED"
    );
    let v: Value = serde_json::from_str(&install.ok("stager", &["recalls", "--json"])).unwrap();
    let last = v["recalls"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["state"], "failed", "{last}");
    install.ok("tpconfig", &["drive0", "up"]);
    assert_eq!(gw.curl("DELETE", &url2, Some(&alice), None).status, 200);
    assert_eq!(gw.curl("GET", &url2, Some(&alice), None).status, 404);

    // Bad requests: each gets the API's error, and nothing is queued.
    let before = recalls(&install);
    let stage =
        |token: Option<&str>, body: &str| gw.curl("POST", "/api/v1/stage", token, Some(body));
    let one = json!({ "files": [{ "path": paths[0] }] }).to_string();
    let cases: Vec<(&str, u16, Answer)> = vec![
        ("malformed JSON", 400, stage(Some(&alice), "{\"files\": [")),
        ("no files", 400, stage(Some(&alice), "{\"paths\": []}")),
        (
            "a path with ..",
            400,
            stage(
                Some(&alice),
                &json!({ "files": [{ "path": dotted }] }).to_string(),
            ),
        ),
        (
            "a bad lifetime",
            400,
            stage(
                Some(&alice),
                &json!({ "files": [{ "path": paths[0], "diskLifetime": "1 hour" }] }).to_string(),
            ),
        ),
        ("no token", 401, stage(None, &one)),
        (
            "a read-only token",
            403,
            stage(Some(&gw.token("storage.read:/", "carol")), &one),
        ),
        (
            "a token for elsewhere",
            403,
            stage(Some(&gw.token("storage.stage:/elsewhere", "carol")), &one),
        ),
        (
            "an expired token",
            401,
            stage(
                Some(&crafted(
                    &install,
                    &gw,
                    json!({ "sub": "x", "aud": "https://wlcg.cern.ch/jwt/v1/any", "exp": now() - 3600, "scope": "storage.stage:/" }),
                    false,
                )),
                &one,
            ),
        ),
        (
            "a forged token",
            401,
            stage(
                Some(&crafted(
                    &install,
                    &gw,
                    json!({ "sub": "x", "aud": "https://wlcg.cern.ch/jwt/v1/any", "exp": now() + 3600, "scope": "storage.stage:/" }),
                    true,
                )),
                &one,
            ),
        ),
        (
            "a token for another audience",
            401,
            stage(
                Some(&crafted(
                    &install,
                    &gw,
                    json!({ "sub": "x", "aud": "https://other.example.org", "exp": now() + 3600, "scope": "storage.stage:/" }),
                    false,
                )),
                &one,
            ),
        ),
        ("not a token", 401, stage(Some("abc.def.ghi"), &one)),
    ];
    for (what, code, answer) in &cases {
        assert_eq!(answer.status, *code, "{what}: {}", answer.body);
        let problem = answer.json();
        assert_eq!(problem["status"], *code, "{what}: {problem}");
        assert!(problem["title"].is_string(), "{what}: {problem}");
        assert!(
            answer.headers.contains("application/problem+json"),
            "{what}: {}",
            answer.headers
        );
    }
    // A million paths: refused for its size before it is read.
    let million: Vec<String> = (0..1_000_000)
        .map(|i| format!("/data/run/file-{i:09}"))
        .collect();
    let big = json!({ "files": million.iter().map(|p| json!({ "path": p })).collect::<Vec<_>>() })
        .to_string();
    let r = stage(Some(&alice), &big);
    assert_eq!(r.status, 413, "{}", r.body);
    let r = gw.curl(
        "POST",
        "/api/v1/archiveinfo",
        Some(&alice),
        Some(&json!({ "paths": million }).to_string()),
    );
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(recalls(&install), before, "no bad request queued anything");
    assert!(gw.log().contains("status=413"), "each request logged");
    // Requests by method, route and status, and the stage's time, once.
    let scraped = std::process::Command::new("curl")
        .args(["-sS", &format!("http://{metrics}/metrics")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&scraped.stdout);
    for series in [
        "tapegw_requests_total{method=\"POST\",endpoint=\"/api/v1/stage\",status=\"201\"}",
        "tapegw_requests_total{method=\"POST\",endpoint=\"/api/v1/stage\",status=\"401\"}",
        "tapegw_requests_total{method=\"GET\",endpoint=\"/api/v1/stage/{id}\",status=\"200\"}",
        "tapegw_stage_request_seconds_count",
        "tapegw_staged_files_total",
    ] {
        assert!(text.contains(series), "{series} in:\n{text}");
    }
}

/// Stage requests live in the catalogue: a gateway killed right after it
/// took one loses nothing, and another gateway of the site answers for it.
#[test]
fn a_gateway_killed_after_a_stage_loses_nothing_and_another_answers_for_it() {
    let install = Install::with_args(1, 2, &["--gateway"]);
    let _daemon = install.start();
    let first = Gateway::start(&install);
    let mut config: toml::Table = std::fs::read_to_string(&first.config)
        .unwrap()
        .parse()
        .unwrap();
    config["gateway"]["listen"] = toml::Value::String(format!("127.0.0.1:{}", common::free_port()));
    let other = install.path().join("tapegw2.toml");
    std::fs::write(&other, toml::to_string(&config).unwrap()).unwrap();
    let second = Gateway::start_with(&install, &other);

    let paths = archived_then_evicted(&install, 3);
    let token = first.token("storage.stage:/", "fts");
    let id = first.stage(&token, &paths);
    drop(first); // SIGKILL
    let url = format!("/api/v1/stage/{id}");
    let mut status = Value::Null;
    install.wait_for("the stage, through the other gateway", LONG, || {
        status = second.curl("GET", &url, Some(&token), None).json();
        status.get("completedAt").is_some()
    });
    assert!(
        status["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["state"] == "COMPLETED"),
        "{status}"
    );
    for (i, p) in paths.iter().enumerate() {
        assert!(same_bytes(p, 100 + i as u64), "{p}");
    }
    assert_eq!(second.curl("DELETE", &url, Some(&token), None).status, 200);
}
