//! Serving: the HTTP handlers without a socket (every error shape), `segue recommend` on JSON
//! and CSV histories, and `segue serve` on loopback through the real binary.

mod common;
use common::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use segue::serve::Recommender;
use tower::ServiceExt;

/// A tiny world, encoder and DDPG run; returns (run folder, sample folder).
fn trained(d: &Path) -> (PathBuf, PathBuf) {
    let (_, s, _) = synthetic_sample(
        d,
        &[
            "--sessions",
            "400",
            "--tracks",
            "300",
            "--files",
            "1",
            "--seed",
            "4",
            "--reference-users",
            "0",
        ],
    );
    let enc = small_encoder(d, &s, 1);
    let cfg = d.join("agent.toml");
    std::fs::write(
        &cfg,
        "[agent]\nhidden = 16\nbatch = 32\nenvs = 8\nrounds = 2\nupdates_per_step = 1\nwarmup = 50\ncandidates = 4\neval_every = 0\neval_episodes = 10\n[simulator]\nepisodes = 10\n",
    )
    .unwrap();
    let run = d.join("run");
    let o = segue(&[
        "train",
        "--sample",
        s.to_str().unwrap(),
        "--encoder",
        enc.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    (run, s)
}

/// The first `n` plays of the sample's log, as a JSON history.
fn history(sample: &Path, n: usize) -> (serde_json::Value, String) {
    let log = std::fs::read(sample.join("log_sample.csv.gz")).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&log[..])
        .read_to_string(&mut text)
        .unwrap();
    let csv: String = text.lines().take(n + 1).map(|l| format!("{l}\n")).collect();
    let plays = segue::serve::read_history(&csv, "log").unwrap();
    (serde_json::to_value(plays).unwrap(), csv)
}

fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    // The router's body guard needs tokio's timer.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("{path}: not JSON: {}", String::from_utf8_lossy(&bytes)));
        (status, v)
    })
}

#[test]
fn handlers_recommend_and_cli_and_loopback_server() {
    let dir = tempfile::tempdir().unwrap();
    let (run, sample) = trained(dir.path());
    let (hist, csv) = history(&sample, 5);
    let rec = Arc::new(Recommender::load(&run, None, 20).unwrap());
    let limits = segue::serve::http::Limits {
        body_limit: 4096,
        ..Default::default()
    };
    let app = segue::serve::http::router(rec.clone(), &limits);

    // A good request: k tracks, best first, none of the history.
    let body = serde_json::json!({"history": hist, "k": 5}).to_string();
    let (st, v) = call(&app, "POST", "/v1/recommend", &body);
    assert_eq!(st, StatusCode::OK, "{v}");
    let recs = v["recommendations"].as_array().unwrap();
    assert_eq!(recs.len(), 5);
    let played: Vec<&str> = hist
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["track_id"].as_str().unwrap())
        .collect();
    let scores: Vec<f64> = recs.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(
        recs.iter()
            .all(|r| !played.contains(&r["track_id"].as_str().unwrap()))
    );
    let (st, v) = call(&app, "GET", "/healthz", "");
    assert_eq!((st, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (st, v) = call(&app, "GET", "/v1/model", "");
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["catalogue"].as_u64().unwrap() as usize, rec.catalogue());
    assert_eq!(v["algo"], "ddpg");

    // Every error: the status, the code, and the same JSON shape.
    let first = hist[0]["track_id"].as_str().unwrap();
    let cases: Vec<(String, StatusCode, &str)> = vec![
        ("{not json".into(), StatusCode::BAD_REQUEST, "bad_json"),
        (r#"{"history": "x"}"#.into(), StatusCode::BAD_REQUEST, "bad_json"),
        (r#"{"history": [], "k": 3}"#.into(), StatusCode::BAD_REQUEST, "empty_history"),
        (format!(r#"{{"history": [{{"track_id": "{first}", "response": "later"}}]}}"#), StatusCode::BAD_REQUEST, "bad_response"),
        (format!(r#"{{"history": [{{"track_id": "{first}", "response": 3}}], "k": 21}}"#), StatusCode::BAD_REQUEST, "bad_k"),
        (format!(r#"{{"history": [{{"track_id": "{first}", "response": 3}}], "k": -1}}"#), StatusCode::BAD_REQUEST, "bad_json"),
        (r#"{"history": [{"track_id": "nope", "response": 3}, {"track_id": "nada", "response": 0}]}"#.into(), StatusCode::UNPROCESSABLE_ENTITY, "unknown_tracks"),
        (format!(r#"{{"history": [{{"track_id": "{}", "response": 3}}]}}"#, "x".repeat(5000)), StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
    ];
    for (body, status, code) in cases {
        let (st, v) = call(&app, "POST", "/v1/recommend", &body);
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (status, Some(code)),
            "{v}"
        );
        assert_eq!(v["error"]["status"].as_u64(), Some(status.as_u16() as u64));
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert!(v["error"]["details"].is_array());
    }
    let (_, v) = call(
        &app,
        "POST",
        "/v1/recommend",
        r#"{"history": [{"track_id": "nope", "response": 3}, {"track_id": "nada", "response": 0}]}"#,
    );
    assert_eq!(v["error"]["details"], serde_json::json!(["nope", "nada"]));
    let (st, v) = call(&app, "GET", "/v2/else", "");
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (st, v) = call(&app, "GET", "/v1/recommend", "");
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );

    // segue recommend: the same answer from a JSON file and from log CSV on standard input.
    let hfile = dir.path().join("h.json");
    std::fs::write(&hfile, hist.to_string()).unwrap();
    let o = segue(&[
        "recommend",
        "--run",
        run.to_str().unwrap(),
        "--history",
        hfile.to_str().unwrap(),
        "--k",
        "5",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let from_json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(&from_json, &v_recs(&app, &body));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_segue"))
        .args([
            "--quiet",
            "recommend",
            "--run",
            run.to_str().unwrap(),
            "--history",
            "-",
            "--k",
            "5",
            "--json",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(csv.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let from_csv: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(from_json, from_csv);

    // segue serve on loopback: the real binary answers over TCP.
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_segue"))
        .args([
            "--quiet",
            "serve",
            "--run",
            run.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
            "--max-k",
            "20",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    let (status, text) = http_post(&addr, "/v1/recommend", &body);
    let (bad_status, bad) = http_post(&addr, "/v1/recommend", "[1, 2");
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["recommendations"], from_json);
    assert_eq!(bad_status, 400, "{bad}");
}

fn v_recs(app: &axum::Router, body: &str) -> serde_json::Value {
    call(app, "POST", "/v1/recommend", body).1["recommendations"].clone()
}

/// A minimal HTTP/1.1 POST over a fresh connection: (status, body).
fn http_post(addr: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp[9..12].parse().unwrap();
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}
