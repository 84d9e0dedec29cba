//! Regressions of the reliability review (a parser panic, quoting, error size, duplicated
//! columns, padded gzip, sample folders among logs, stale staging folders), through the real
//! binary; and property tests of the log reader on arbitrary and mutated input.

mod common;
use common::*;

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn log_of(rows: &[String]) -> String {
    let mut t = String::from(HEADER);
    t.push('\n');
    for r in rows {
        t.push_str(r);
        t.push('\n');
    }
    t
}

/// Two complete sessions of 10 rows each (lines 2-21 of the file).
fn rows() -> Vec<String> {
    let mut rows = Vec::new();
    for (id, len) in [("0_a", 10u32), ("0_b", 10)] {
        for p in 1..=len {
            rows.push(row(
                id,
                p,
                len,
                p as u64,
                3,
                "2018-07-15",
                ("true", "false"),
            ));
        }
    }
    rows
}

/// `row` with field `col` (0-based, in HEADER's order) set to `value`.
fn with_field(row: &str, col: usize, value: &str) -> String {
    let mut f: Vec<&str> = row.split(',').collect();
    f[col] = value;
    f.join(",")
}

/// `segue sample --logs LOGS --records N --out OUT` plus `extra`, which must succeed.
fn sample(logs: &Path, records: &str, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "sample",
        "--logs",
        logs.to_str().unwrap(),
        "--records",
        records,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = segue(&args);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// `text` as one gzip member.
fn gzipped(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap()
}

fn stats_json(path: &Path, skip: bool) -> Result<serde_json::Value, String> {
    let mut args = vec!["stats", path.to_str().unwrap(), "--json"];
    if skip {
        args.push("--skip-bad-rows");
    }
    let o = segue(&args);
    match o.status.code() {
        Some(0) => Ok(serde_json::from_str(&stdout(&o)).unwrap()),
        Some(1) => Err(stderr(&o)),
        code => panic!("exit {code:?}: {}", stderr(&o)),
    }
}

#[test]
fn multibyte_value_past_the_quoted_length_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = rows();
    // skip_1 (column 4) of line 5: "x" and 40 two-byte characters; byte 60 splits one.
    rows[3] = with_field(&rows[3], 4, &format!("x{}", "é".repeat(40)));
    let p = dir.path().join("log.csv");
    write_bytes(&p, log_of(&rows).as_bytes());
    let err = stats_json(&p, false).unwrap_err();
    assert!(
        err.contains("log.csv:5: column `skip_1`: not a boolean"),
        "{err}"
    );
    assert!(err.contains(&format!("x{}", "é".repeat(40))), "{err}");
    let v = stats_json(&p, true).unwrap();
    assert_eq!(v["bad_rows"]["skip_1: not a boolean"], 1);
    assert_eq!(v["records"], 19);
    // And through `segue sample`, which read the same way.
    sample(&p, "10", &dir.path().join("out"), &["--skip-bad-rows"]);
}

#[test]
fn skip_bad_rows_skips_a_stray_quote() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = rows();
    // context_type (column 18) of line 7.
    rows[5] = with_field(&rows[5], 18, "edi\"torial");
    let p = dir.path().join("log.csv");
    write_bytes(&p, log_of(&rows).as_bytes());
    let err = stats_json(&p, false).unwrap_err();
    assert!(
        err.contains("log.csv:7: malformed CSV: a quote inside an unquoted field"),
        "{err}"
    );
    let v = stats_json(&p, true).unwrap();
    assert_eq!(v["bad_rows"]["malformed CSV"], 1);
    // Only that row is lost: the lines after it are read.
    assert_eq!(v["records"], 19);
    // A quote opening a field that never closes loses its line only, too.
    let mut rows = self::rows();
    rows[5] = with_field(&rows[5], 18, "\"editorial");
    write_bytes(&p, log_of(&rows).as_bytes());
    let err = stats_json(&p, false).unwrap_err();
    assert!(
        err.contains("log.csv:7: malformed CSV: an unterminated quoted field"),
        "{err}"
    );
    let v = stats_json(&p, true).unwrap();
    assert_eq!(
        (
            v["records"].as_u64(),
            v["bad_rows"]["malformed CSV"].as_u64()
        ),
        (Some(19), Some(1))
    );
}

#[test]
fn huge_invalid_field_gives_a_short_error() {
    let dir = tempfile::tempdir().unwrap();
    let rows = rows();
    let mut text = log_of(&rows[..3]).into_bytes();
    // Line 5: context_type holds 8 MiB of invalid UTF-8.
    let mut bad = with_field(&rows[3], 18, "@").into_bytes();
    let at = bad.iter().position(|&b| b == b'@').unwrap();
    bad.splice(at..at + 1, std::iter::repeat_n(0xFFu8, 8 << 20));
    text.extend_from_slice(&bad);
    text.push(b'\n');
    let p = dir.path().join("log.csv");
    write_bytes(&p, &text);
    let err = stats_json(&p, false).unwrap_err();
    assert!(err.len() < 1000, "{} bytes of error", err.len());
    assert!(
        err.contains("log.csv:5: column `context_type`: not UTF-8 text"),
        "{err}"
    );
    assert!(err.contains("(8388608 bytes in all)"), "{err}");
}

#[test]
fn duplicated_column_is_refused_naming_both_positions() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!("{HEADER},skip_1\n");
    for r in rows() {
        text.push_str(&r);
        text.push_str(",false\n");
    }
    let p = dir.path().join("log.csv");
    write_bytes(&p, text.as_bytes());
    let err = stats_json(&p, true).unwrap_err();
    assert!(
        err.contains("log.csv: not a CSV file: the header names column \"skip_1\" twice, at positions 5 and 22"),
        "{err}"
    );
}

#[test]
fn gzip_zero_padding_is_accepted_and_garbage_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("log.csv");
    write_bytes(&plain, log_of(&rows()).as_bytes());
    let gz = dir.path().join("log.csv.gz");
    let member = gzipped(&log_of(&rows()));
    let want = stats_json(&plain, false).unwrap()["records"].clone();

    let mut padded = member.clone();
    padded.extend_from_slice(&[0u8; 16]);
    std::fs::write(&gz, &padded).unwrap();
    assert_eq!(stats_json(&gz, false).unwrap()["records"], want);

    // Two members with zero padding between them, as gzip and Python read them.
    let half = log_of(&rows()[..10]);
    let rest: String = rows()[10..].iter().map(|r| format!("{r}\n")).collect();
    let mut two = gzipped(&half);
    two.extend_from_slice(&[0u8; 7]);
    two.extend_from_slice(&gzipped(&rest));
    std::fs::write(&gz, &two).unwrap();
    assert_eq!(stats_json(&gz, false).unwrap()["records"], want);

    for tail in [&b"garbage!"[..], &[0, 0, 0, 7][..], &[0x1f, 0x8b, 0, 0][..]] {
        let mut bad = member.clone();
        bad.extend_from_slice(tail);
        std::fs::write(&gz, &bad).unwrap();
        let err = stats_json(&gz, true).unwrap_err();
        assert!(
            err.contains("log.csv.gz: gzip stream is truncated or corrupt"),
            "{tail:?}: {err}"
        );
    }
}

#[test]
fn stats_over_a_folder_skips_sample_folders() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    write_log(&logs.join("log_0.csv"), 30, 7, 0, &["2018-07-15"]);
    let alone = stats_json(&logs, false).unwrap();
    sample(&logs, "100", &logs.join("sample"), &[]);
    let o = segue(&["stats", logs.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("a sample folder written by segue"),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["records"], alone["records"]);
    // Named with the logs, a sample folder gives its sampled rows.
    let o = segue(&[
        "stats",
        logs.join("sample").to_str().unwrap(),
        logs.join("log_0.csv").to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let n = v["records"].as_u64().unwrap() - alone["records"].as_u64().unwrap();
    assert!(n >= 100 && n < alone["records"].as_u64().unwrap(), "{n}");
}

#[test]
fn rerun_removes_staging_folders_of_killed_runs() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.csv");
    write_log(&log, 30, 7, 0, &["2018-07-15"]);
    // What a `segue sample` killed mid-run leaves: a staging folder of a process now gone.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = dir.path().join(format!(".out.partial-{dead}"));
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("log_sample.csv.gz"), b"half").unwrap();
    let out = dir.path().join("out");
    sample(&log, "50", &out, &[]);
    assert!(!stale.exists(), "stale staging folder left");
    assert!(out.is_dir());
}

// ---- Property tests of the reader ----

/// Lines of a log file's text (a last line without a line break counts).
fn lines_in(bytes: &[u8]) -> u64 {
    let n = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    n + (!bytes.is_empty() && !bytes.ends_with(b"\n")) as u64
}

/// Scans `bytes` as a log file both ways and checks what every input must give: no panic; an
/// error names the file; a file read with --skip-bad-rows accounts for every line.
fn check_scan(dir: &Path, bytes: &[u8], gzip: bool) -> Result<(), TestCaseError> {
    let path = dir.join(if gzip { "log.csv.gz" } else { "log.csv" });
    if gzip {
        write_bytes(&path, bytes);
    } else {
        std::fs::write(&path, bytes).unwrap();
    }
    for skip in [false, true] {
        let opts = segue::data::ingest::ScanOptions {
            skip_bad_rows: skip,
            seed: 1,
            share: Some(5),
        };
        match segue::data::ingest::scan_file(&path, &opts, None) {
            Ok(scan) => {
                let c = &scan.counts;
                let bad: u64 = c.bad_rows.values().sum();
                prop_assert!(skip || bad == 0);
                // Every line is a header, a record, a counted bad row or a blank line, unless
                // quotes made a record span lines.
                if !bytes.contains(&b'"') {
                    prop_assert_eq!(1 + c.records + bad + c.blank_lines, lines_in(bytes));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.starts_with(path.to_str().unwrap()), "{}", msg);
                prop_assert!(msg.len() < 2000, "{} bytes of error", msg.len());
            }
        }
    }
    Ok(())
}

/// One structured mutation of a log's text.
#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Field(usize, usize, String),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let noise = prop_oneof![
        Just(b"\"".to_vec()),
        Just(b",".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(vec![0u8]),
        Just(vec![0xFF, 0xFE]),
        Just("é".as_bytes().to_vec()),
        proptest::collection::vec(any::<u8>(), 1..8),
    ];
    prop_oneof![
        (any::<usize>(), noise).prop_map(|(at, b)| Mutation::Insert(at, b)),
        (any::<usize>(), 1usize..40).prop_map(|(at, n)| Mutation::Delete(at, n)),
        (
            0usize..20,
            0usize..21,
            prop_oneof![
                Just(String::new()),
                Just("-1".to_string()),
                Just("99999999999999999999".to_string()),
                Just("2018-02-30".to_string()),
                "\\PC{0,80}",
                Just(format!("x{}", "é".repeat(40))),
            ]
        )
            .prop_map(|(r, c, v)| Mutation::Field(r, c, v)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(text: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let mut t = text.to_vec();
    for m in muts {
        match m {
            Mutation::Insert(at, b) => {
                let at = at % (t.len() + 1);
                t.splice(at..at, b.iter().copied());
            }
            Mutation::Delete(at, n) => {
                if !t.is_empty() {
                    let at = at % t.len();
                    let end = (at + n).min(t.len());
                    t.drain(at..end);
                }
            }
            Mutation::Field(r, c, v) => {
                let s = String::from_utf8_lossy(&t).into_owned();
                let mut lines: Vec<String> = s.split('\n').map(str::to_owned).collect();
                let r = 1 + r % lines.len().max(1);
                if r < lines.len() {
                    let mut f: Vec<String> = lines[r].split(',').map(str::to_owned).collect();
                    let c = c % f.len();
                    f[c] = v.clone();
                    lines[r] = f.join(",");
                    t = lines.join("\n").into_bytes();
                }
            }
            Mutation::Truncate(at) => t.truncate(at % (t.len() + 1)),
        }
    }
    t
}

/// Fixed seeds: the same cases every run (a failure prints its input, and reruns).
fn config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

/// The header and first 40 rows of the real MSSD sample (../shared), when it is there.
fn real_rows() -> Option<String> {
    use std::io::{BufRead, BufReader};
    let path = real_sample()?;
    let gz = flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap());
    let lines: Vec<String> = BufReader::new(gz)
        .lines()
        .take(41)
        .map(Result::unwrap)
        .collect();
    Some(lines.join("\n") + "\n")
}

proptest! {
    #![proptest_config(config(600, 27))]
    #[test]
    fn mutated_rows_never_panic_and_account_for_every_line(
        muts in proptest::collection::vec(mutation(), 1..4),
        gzip in any::<bool>(),
        real in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let text = real.then(real_rows).flatten().unwrap_or_else(|| log_of(&rows()));
        check_scan(dir.path(), &apply(text.as_bytes(), &muts), gzip)?;
    }
}

proptest! {
    #![proptest_config(config(500, 30))]
    #[test]
    fn request_histories_never_panic(
        muts in proptest::collection::vec(mutation(), 0..3),
        csv in any::<bool>(),
    ) {
        // A history as `segue recommend` and the service read it: JSON or log CSV, mutated.
        let base = if csv {
            log_of(&rows()[..5])
        } else {
            serde_json::json!({"history": [
                {"track_id": "t_1", "response": "skip_2"},
                {"track_id": "t_2", "response": 3},
            ]})
            .to_string()
        };
        let text = String::from_utf8_lossy(&apply(base.as_bytes(), &muts)).into_owned();
        if let Err(e) = segue::serve::read_history(&text, "history.json") {
            prop_assert!(e.starts_with("history.json"), "{}", e);
        }
    }
}

/// Arbitrary and mutated request bytes against the service's connection loop and body guard:
/// never a 5xx, never a hang past the timeouts, and a good request is served afterwards.
#[test]
fn raw_http_requests_never_get_a_5xx() {
    use proptest::test_runner::TestRunner;
    use segue::serve::http::{Limits, guarded, serve_on};
    use std::io::{Read, Write};
    use std::time::Duration;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let limits = Limits {
        body_limit: 1024,
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let (addr, stop) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = guarded(
            axum::Router::new().route(
                "/echo",
                axum::routing::post(|b: axum::body::Bytes| async move { b }),
            ),
            &limits,
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve_on(listener, app, limits, async {
            let _ = rx.await;
        }));
        (addr, tx)
    });
    let exchange = |bytes: &[u8]| -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    };
    let good =
        "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello";
    let request = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        proptest::collection::vec(mutation(), 1..4).prop_map(move |m| apply(good.as_bytes(), &m)),
    ];
    let mut runner = TestRunner::new(config(300, 31));
    runner
        .run(&request, |bytes| {
            let got = exchange(&bytes);
            prop_assert!(
                !got.starts_with("HTTP/1.1 5"),
                "{:?} -> {}",
                String::from_utf8_lossy(&bytes),
                got
            );
            Ok(())
        })
        .unwrap();
    // A client that shuts its write side after the request is still answered, every time.
    for i in 0..200 {
        let got = exchange(good.as_bytes());
        assert!(
            got.ends_with("hello"),
            "good request {i} after the fuzzing got {got:?}"
        );
    }
    let _ = stop.send(());
}

proptest! {
    #![proptest_config(config(400, 28))]
    #[test]
    fn arbitrary_bytes_never_panic(
        head in any::<bool>(),
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let dir = tempfile::tempdir().unwrap();
        // With the real header in front, the bytes reach the row parser too.
        let mut t = if head { format!("{HEADER}\n").into_bytes() } else { Vec::new() };
        t.extend_from_slice(&bytes);
        check_scan(dir.path(), &t, false)?;
    }
}

proptest! {
    #![proptest_config(config(40, 29))]
    #[test]
    fn a_failed_sample_leaves_no_output(muts in proptest::collection::vec(mutation(), 1..3)) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.csv");
        std::fs::write(&p, apply(log_of(&rows()).as_bytes(), &muts)).unwrap();
        let out = dir.path().join("out");
        let cfg = segue::data::SampleConfig {
            logs: vec![p.clone()],
            records: 10,
            ..Default::default()
        };
        match segue::data::run_sample(&cfg, &out, false, false) {
            Ok(_) => prop_assert!(out.is_dir()),
            Err(e) => {
                prop_assert!(e.to_string().contains("log.csv"), "{}", e);
                let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten()
                    .map(|e| e.file_name()).filter(|n| n != "log.csv").collect();
                prop_assert!(left.is_empty(), "{:?}", left);
            }
        }
    }
}
