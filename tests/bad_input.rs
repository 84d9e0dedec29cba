//! Bad input through the real binary: clear errors naming file, line and column, counted skips,
//! incomplete sessions, and no half-written output.

mod common;
use common::*;

fn log_with(rows: &[String]) -> String {
    let mut t = String::from(HEADER);
    t.push('\n');
    for r in rows {
        t.push_str(r);
        t.push('\n');
    }
    t
}

fn session(id: &str, len: u32, bools: (&str, &str)) -> Vec<String> {
    (1..=len)
        .map(|p| row(id, p, len, p as u64, 3, "2018-07-15", bools))
        .collect()
}

#[test]
fn unparsable_fields_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = session("0_a", 10, ("true", "false"));
    rows[3] = rows[3].replacen(",true,", ",maybe,", 1);
    let p = dir.path().join("log_bad.csv");
    write_bytes(&p, log_with(&rows).as_bytes());
    let out = segue(&["stats", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    // Row 4 of the session is line 5 (after the header).
    assert!(
        err.contains("log_bad.csv:5: column `not_skipped`: not a boolean"),
        "{err}"
    );

    let mut rows = session("0_a", 10, ("True", "False"));
    // Row 2 (line 3): an hour of 25.
    rows[1] = rows[1].replace(",2,2018-07-15,", ",25,2018-07-15,");
    write_bytes(&p, log_with(&rows).as_bytes());
    let err = stderr(&segue(&["stats", p.to_str().unwrap()]));
    assert!(err.contains("log_bad.csv:3: column `hour_of_day`"), "{err}");
}

#[test]
fn skip_bad_rows_counts_by_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = session("0_a", 10, ("True", "False"));
    rows.extend(session("0_b", 12, ("True", "False")));
    rows[2] = rows[2].replace("2018-07-15", "2018-02-30");
    rows[13] = "0_b,too,few".into();
    let p = dir.path().join("log.csv");
    write_bytes(&p, log_with(&rows).as_bytes());
    let out = segue(&["stats", p.to_str().unwrap(), "--skip-bad-rows", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["records"], 20);
    assert_eq!(v["bad_rows"]["date: not a YYYY-MM-DD date"], 1);
    assert_eq!(v["bad_rows"]["wrong number of fields"], 1);
    // Both sessions lost a row, so neither may be sampled: counted, with their records.
    assert_eq!(
        v["incomplete_sessions"]["positions are not 1..n in order"],
        2
    );
    assert_eq!(v["incomplete_records"], 20);
}

#[test]
fn incomplete_sessions_are_counted_and_never_sampled() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = session("0_whole", 10, ("True", "False"));
    // A session cut short at the end of the file, as real files are.
    rows.extend(session("0_cut", 20, ("True", "False")).into_iter().take(7));
    // A session whose rows disagree on session_length.
    let mut odd = session("0_odd", 10, ("True", "False"));
    odd[4] = odd[4].replacen(",5,10,", ",5,11,", 1);
    rows.splice(0..0, odd);
    let p = dir.path().join("log.csv");
    write_bytes(&p, log_with(&rows).as_bytes());
    let s = segue(&["stats", p.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&s)).unwrap();
    assert_eq!(v["sessions"], 3);
    assert_eq!(v["records"], 27);
    assert_eq!(
        v["incomplete_sessions"]["row count differs from session_length"],
        1
    );
    assert_eq!(
        v["incomplete_sessions"]["session_length differs between its rows"],
        1
    );
    assert_eq!(v["incomplete_records"], 17);
    let out = dir.path().join("out");
    let r = segue(&[
        "sample",
        "--logs",
        p.to_str().unwrap(),
        "--records",
        "1000",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(r.status.success(), "{}", stderr(&r));
    let v: serde_json::Value = serde_json::from_str(&stdout(&r)).unwrap();
    assert_eq!(v["sample"]["sessions"], 1);
    assert_eq!(v["sample"]["records"], 10);
    assert_eq!(v["files"][0]["shortfall"], 990);
}

#[test]
fn broken_files_give_clear_errors_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.csv");
    write_bytes(
        &good,
        log_with(&session("0_a", 10, ("True", "False"))).as_bytes(),
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.csv", Vec::new(), "empty.csv: the file is empty"),
        (
            "binary.csv",
            vec![0u8, 159, 146, 150, 0, 1, 2, 10, 3, 4],
            "binary.csv: not a CSV file",
        ),
        (
            "missing.csv",
            b"session_id,session_position,track_id_clean\n0_a,1,t_x\n".to_vec(),
            "missing.csv: missing required column(s) session_length, skip_1",
        ),
    ];
    for (name, bytes, expect) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let out_dir = dir.path().join(format!("out_{name}"));
        let o = segue(&[
            "sample",
            "--logs",
            good.to_str().unwrap(),
            p.to_str().unwrap(),
            "--records",
            "10",
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(1), "{name}");
        assert!(stderr(&o).contains(expect), "{name}: {}", stderr(&o));
        assert!(!out_dir.exists(), "{name}: output left behind");
    }
    // A truncated gzip.
    let gz = dir.path().join("cut.csv.gz");
    let mut text = log_with(&session("0_a", 20, ("True", "False")));
    for i in 0..2000 {
        text.push_str(&session(&format!("0_{i}"), 20, ("True", "False")).join("\n"));
        text.push('\n');
    }
    write_bytes(&gz, text.as_bytes());
    let full = std::fs::read(&gz).unwrap();
    std::fs::write(&gz, &full[..full.len() / 2]).unwrap();
    let o = segue(&["stats", gz.to_str().unwrap()]);
    assert!(
        stderr(&o).contains("cut.csv.gz: gzip stream is truncated or corrupt"),
        "{}",
        stderr(&o)
    );
    // Nothing staged is left beside the output folder either.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn columns_in_any_order_extra_columns_and_boolean_spellings() {
    let dir = tempfile::tempdir().unwrap();
    let rows = session("0_a", 10, ("True", "False"));
    let plain = dir.path().join("plain.csv");
    write_bytes(&plain, log_with(&rows).as_bytes());
    // Reverse the columns, add an extra one, and write booleans in lowercase.
    let reorder = |line: &str, extra: &str| {
        let mut f: Vec<&str> = line.split(',').collect();
        f.reverse();
        f.push(extra);
        f.join(",")
    };
    let mut text = reorder(HEADER, "my_extra");
    text.push('\n');
    for r in session("0_a", 10, ("true", "false")) {
        text.push_str(&reorder(&r, "x"));
        text.push('\n');
    }
    let odd = dir.path().join("odd.csv");
    write_bytes(&odd, text.as_bytes());
    let a = segue(&["stats", plain.to_str().unwrap(), "--json"]);
    let b = segue(&["stats", odd.to_str().unwrap(), "--json"]);
    assert!(b.status.success(), "{}", stderr(&b));
    let va: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    let mut vb: serde_json::Value = serde_json::from_str(&stdout(&b)).unwrap();
    vb["bytes_on_disk"] = va["bytes_on_disk"].clone();
    vb["bytes_uncompressed"] = va["bytes_uncompressed"].clone();
    assert_eq!(va, vb);
    let warnings = stderr(&b);
    assert_eq!(warnings.matches("my_extra").count(), 1, "{warnings}");
}

#[test]
fn misspelt_config_keys_are_refused_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("run.toml");
    // Every command reads the same run config type: a typo fails `segue run` and `segue sample`.
    std::fs::write(&cfg, "[sample]\nrecords = 100\n\n[agent]\nroudns = 3\n").unwrap();
    let out = dir.path().join("out");
    let o = segue(&[
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("run.toml:5: unknown key `roudns` in [agent] (did you mean `rounds`?)"),
        "{err}"
    );
    assert!(!out.exists());
    std::fs::write(&cfg, "[sampel]\nrecords = 100\n").unwrap();
    let log = dir.path().join("log.csv");
    write_log(&log, 5, 1, 0, &["2018-07-15"]);
    let o = segue(&[
        "sample",
        "--config",
        cfg.to_str().unwrap(),
        "--logs",
        log.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("run.toml:1: unknown table [sampel] (did you mean `sample`?)"),
        "{err}"
    );
}
