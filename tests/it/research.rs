//! The research experiments (issue 9) run for real on a few cells: their shipped experiment
//! file and scripts are copied into a throw-away project, the matrix is cut down, and the
//! numbers they merge are checked — MACs equal the measured file's, cycles never beat the ideal
//! floor, and every row joins the H200 measurements on `layer` and `N`.
//!
//! The tools live in venvs under `.venv-research/` that `scripts/install-test-tools.sh` makes.
//! In CI (`OUTRUN_REQUIRE_TOOLS` or `CI` set) a missing venv fails its test; elsewhere the test
//! is skipped with the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{self, Project, repo_root};

/// The venv `scripts/install-test-tools.sh` makes for `tool`, or None (after failing in CI).
fn venv(tool: &str) -> Option<PathBuf> {
    let base = std::env::var_os("OUTRUN_RESEARCH_VENVS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv-research"));
    let bin = base.join(tool).join("bin");
    if bin.join("python3").exists() {
        return Some(bin);
    }
    let why = format!(
        "{tool} is not installed in {} (scripts/install-test-tools.sh makes it)",
        bin.display()
    );
    if required() {
        panic!("{why}");
    }
    eprintln!("skipping: {why}");
    None
}

fn required() -> bool {
    std::env::var_os("OUTRUN_REQUIRE_TOOLS").is_some()
        || std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A copy of the shipped experiment `name` with its `matrix:` block replaced, plus the files
/// its command needs.
fn project(name: &str, matrix: &str, files: &[&str]) -> Project {
    let p = Project::new();
    let shipped =
        std::fs::read_to_string(repo_root().join(format!("experiments/{name}.yaml"))).unwrap();
    let start = shipped.find("\nmatrix:\n").expect("a matrix block") + 1;
    let end = start
        + shipped[start..]
            .find("\ncommand:")
            .expect("a command after it")
        + 1;
    p.experiment(
        name,
        &format!("{}{matrix}{}", &shipped[..start], &shipped[end..]),
    );
    for rel in [
        "scripts/resnet50_shapes.py",
        "scripts/array32_machine.py",
        "data/measured/h200/resnet50_conv_latency.csv",
        "data/measured/h200/peaks.csv",
        "data/measured/h200/meta.json",
    ]
    .iter()
    .chain(files)
    {
        let src = repo_root().join(rel);
        if src.is_dir() {
            for e in std::fs::read_dir(&src).unwrap().flatten() {
                let f = format!("{rel}/{}", e.file_name().to_string_lossy());
                p.write(&f, &std::fs::read_to_string(e.path()).unwrap());
            }
        } else {
            p.write(rel, &std::fs::read_to_string(src).unwrap());
        }
    }
    p
}

/// PATH with `bin` first, so that the experiment's `python3` is the venv's.
fn path_with(bin: &Path) -> std::ffi::OsString {
    let mut parts = vec![bin.to_path_buf()];
    if let Some(path) = std::env::var_os("PATH") {
        parts.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(parts).unwrap()
}

type Row = BTreeMap<String, String>;

fn read_csv(text: &str) -> Vec<Row> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// (layer, N) -> macs of data/measured/h200/resnet50_conv_latency.csv.
fn measured_macs() -> BTreeMap<(String, String), u64> {
    let text =
        std::fs::read_to_string(repo_root().join("data/measured/h200/resnet50_conv_latency.csv"))
            .unwrap();
    read_csv(&text)
        .into_iter()
        .map(|r| {
            (
                (r["layer"].clone(), r["N"].clone()),
                r["macs"].parse().unwrap(),
            )
        })
        .collect()
}

fn num(row: &Row, col: &str) -> f64 {
    row.get(col)
        .unwrap_or_else(|| panic!("no column {col} in {row:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("{col} is not a number in {row:?}"))
}

/// Runs the experiment locally (all its cut-down cells), returns the merged dataset's rows.
fn run(p: &Project, name: &str, envs: &[(&str, &std::ffi::OsStr)]) -> Vec<Row> {
    run_into(p, name, &format!("data/evaluation/{name}.csv"), envs)
}

fn run_into(p: &Project, name: &str, dataset: &str, envs: &[(&str, &std::ffi::OsStr)]) -> Vec<Row> {
    let mut cmd = p.cmd();
    cmd.args(["run", name, "--local", "-j", "1"]);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let started = std::time::Instant::now();
    let (code, out, err) = common::run(&mut cmd);
    eprintln!(
        "{name}: cells ran in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(code, 0, "{err}\n{out}");
    read_csv(&p.read(dataset))
}

/// The checks every simulator's rows pass.
fn check_rows(rows: &[Row], cycles_col: &str, expected: &BTreeSet<(&str, &str)>) {
    let macs = measured_macs();
    let mut seen = BTreeSet::new();
    for row in rows {
        let key = (row["layer"].clone(), row["N"].clone());
        let want = macs
            .get(&key)
            .unwrap_or_else(|| panic!("{key:?} does not join data/measured/h200 on layer, N"));
        assert_eq!(num(row, "macs") as u64, *want, "MACs of {key:?}: {row:?}");
        let cycles = num(row, cycles_col);
        let ideal = num(row, "ideal_cycles");
        assert!(ideal > 0.0 && cycles > 0.0, "{row:?}");
        // The floor: no mapping does more MACs per cycle than there are PEs (1 % slack for
        // a cycle count printed with one decimal).
        assert!(
            cycles >= ideal * 0.99,
            "{cycles_col} {cycles} below the ideal {ideal}: {row:?}"
        );
        seen.insert((row["layer"].clone(), row["N"].clone()));
    }
    let expected: BTreeSet<(String, String)> = expected
        .iter()
        .map(|(l, n)| ((*l).to_owned(), (*n).to_owned()))
        .collect();
    assert_eq!(seen, expected);
}

#[test]
fn scalesim_runs_three_layers() {
    let Some(bin) = venv("scalesim") else { return };
    let p = project(
        "scalesim-resnet50",
        "matrix:\n  dataflow: [ws]\n  array: [128x128]\n",
        &["scripts/scalesim_resnet50.py"],
    );
    let layers = "conv1,layer1.0.conv1,layer4.1.conv2";
    let rows = run(
        &p,
        "scalesim-resnet50",
        &[
            ("PATH", &path_with(&bin)),
            ("OUTRUN_P_LAYERS", layers.as_ref()),
        ],
    );
    check_rows(
        &rows,
        "cycles",
        &[
            ("conv1", "1"),
            ("layer1.0.conv1", "1"),
            ("layer4.1.conv2", "1"),
        ]
        .into(),
    );
    for r in &rows {
        assert_eq!(r["pes"], "16384");
        assert!((0.0..=100.0).contains(&num(r, "compute_util_pct")), "{r:?}");
    }
}

#[test]
fn zigzag_runs_three_layers() {
    let Some(bin) = venv("zigzag") else { return };
    let p = project(
        "zigzag-resnet50",
        "matrix:\n  dataflow: [os]\n  batch: [1]\n",
        &["scripts/zigzag_resnet50.py", "scripts/zigzag_arch"],
    );
    let layers = "conv1,layer2.0.conv2,layer4.1.conv2";
    let rows = run(
        &p,
        "zigzag-resnet50",
        &[
            ("PATH", &path_with(&bin)),
            ("OUTRUN_P_LAYERS", layers.as_ref()),
        ],
    );
    check_rows(
        &rows,
        "latency_cycles",
        &[
            ("conv1", "1"),
            ("layer2.0.conv2", "1"),
            ("layer4.1.conv2", "1"),
        ]
        .into(),
    );
    for r in &rows {
        assert!(num(r, "energy_pj") > 0.0, "{r:?}");
    }
}

#[test]
fn accelforge_maps_one_layer_on_the_simple_and_h200_architectures() {
    let Some(bin) = venv("accelforge") else {
        return;
    };
    if !common::have("dot") {
        let why = "Graphviz `dot` is not on PATH (AccelForge writes mapping.svg with it)";
        assert!(!required(), "{why}");
        eprintln!("skipping: {why}");
        return;
    }
    let p = project(
        "accelforge-resnet50",
        "matrix:\n  arch: [simple, h200]\n  batch: [1]\n  layers: [layer4.1.conv2]\n",
        &["scripts/accelforge_resnet50.py", "scripts/accelforge_arch"],
    );
    let rows = run(&p, "accelforge-resnet50", &[("PATH", &path_with(&bin))]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    for arch in ["simple", "h200"] {
        let arch_rows: Vec<Row> = rows.iter().filter(|r| r["arch"] == arch).cloned().collect();
        check_rows(&arch_rows, "cycles", &[("layer4.1.conv2", "1")].into());
    }
    let simple = rows.iter().find(|r| r["arch"] == "simple").unwrap();
    // One MAC a second: the latency in seconds is the MAC count (a 2-level memory adds nothing
    // with unlimited bandwidth), so the cycles (at 1 Hz) are exactly the floor.
    assert_eq!(num(simple, "ideal_cycles"), 115_605_504.0);
    assert_eq!(num(simple, "cycles"), 115_605_504.0, "{simple:?}");
    let h200 = rows.iter().find(|r| r["arch"] == "h200").unwrap();
    // 512 filters of 512 x 3 x 3 over a 7 x 7 map: 128 divides K = 512, so 128 SMs take 4
    // filters each over the whole (padded 9 x 9) input. By hand, in values: a tile reads
    // 512·9·9 = 41,472 inputs + 4·512·9 = 18,432 weights and writes 4·49 = 196 outputs
    // (60,100); the layer holds 41,472 + 2,359,296 + 25,088 = 2,425,856 values once; the L2
    // reuse is 128 · 60,100 / 2,425,856 = 3.1712.
    assert_eq!(h200["sm_split"], "N1 K128 P1 Q1");
    assert_eq!(h200["l2_reuse"], "3.1712", "{h200:?}");
    // The weights dominate and each is fetched from HBM once: the tile is HBM-bound at
    // 2,425,856 values x 2 bytes / 4,273.7 GB/s (peaks.csv's copy rate) = 1.1353 us, above the
    // tensor cores' 115.6 M MACs / 346.5 TMAC/s = 0.33 us.
    let us = num(h200, "latency_us");
    assert!((us - 1.1353).abs() < 0.002, "{h200:?}");
    assert_eq!(h200["bottleneck"], "MainMemory", "{h200:?}");
}

#[test]
fn gpu_measurement_writes_the_measured_columns() {
    // No torch here (PyPI's is CUDA-only and >1.5 GB): the stub device runs the script's timing,
    // statistics and CSV code around a stand-in that sleeps 10 us a call.
    let p = project(
        "gpu-measure-resnet50",
        "matrix:\n  dtype: [float16]\n  batch: [8]\n",
        &["scripts/gpu_measure_resnet50.py"],
    );
    let stub: &[(&str, &std::ffi::OsStr)] = &[
        ("OUTRUN_P_DEVICE", "stub".as_ref()),
        ("OUTRUN_P_LAYERS", "conv1,layer4.1.conv2".as_ref()),
        ("OUTRUN_P_TRIALS", "3".as_ref()),
        ("OUTRUN_P_CALLS", "5".as_ref()),
        ("OUTRUN_P_WARMUP", "1".as_ref()),
    ];
    let rows = run_into(
        &p,
        "gpu-measure-resnet50",
        "data/measured/gpu/resnet50_conv_latency.csv",
        stub,
    );
    assert_eq!(rows.len(), 2);
    // The cell's own results.csv has exactly the measured file's header.
    let measured =
        std::fs::read_to_string(repo_root().join("data/measured/h200/resnet50_conv_latency.csv"))
            .unwrap();
    let header = measured.lines().next().unwrap();
    let runs = p.root().join(".outrun/runs/gpu-measure-resnet50");
    let run_dir = std::fs::read_dir(&runs).unwrap().flatten().next().unwrap();
    let cell = std::fs::read_dir(run_dir.path())
        .unwrap()
        .flatten()
        .find(|e| e.path().join("results.csv").exists())
        .unwrap();
    let results = std::fs::read_to_string(cell.path().join("results.csv")).unwrap();
    assert_eq!(results.lines().next().unwrap(), header);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cell.path().join("meta.json")).unwrap())
            .unwrap();
    assert_eq!(meta["timer"], "perf_counter");
    let macs = measured_macs();
    for r in &rows {
        assert_eq!(
            num(r, "macs") as u64,
            macs[&(r["layer"].clone(), "8".to_owned())]
        );
        let (median, low, high) = (
            num(r, "latency_us_median"),
            num(r, "latency_us_min"),
            num(r, "latency_us_max"),
        );
        assert!(low <= median && median <= high, "{r:?}");
        assert!(low >= 10.0, "a call sleeps 10 us: {r:?}");
        assert_eq!(r["dtype"], "float16");
    }
}

fn timeloop_check(dir: &Path) -> (bool, String) {
    let out = Command::new("python3")
        .arg(repo_root().join("scripts/timeloop_parse.py"))
        .arg("--check")
        .arg(dir)
        .output()
        .expect("python3 runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn timeloop_parser_reads_the_synthetic_stats_file() {
    // SYNTHETIC: written by hand in Timeloop's format (scripts/testdata/timeloop/README.md).
    let (ok, out) = timeloop_check(&repo_root().join("scripts/testdata/timeloop"));
    assert!(ok, "{out}");
    assert!(
        out.contains("1 files checked (1 with known values), 0 failures"),
        "{out}"
    );
    let out = Command::new("python3")
        .arg(repo_root().join("scripts/timeloop_parse.py"))
        .arg("--json")
        .arg(
            repo_root()
                .join("scripts/testdata/timeloop/synthetic-array32.timeloop-mapper.stats.txt"),
        )
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["cycles"], 12544);
    assert_eq!(v["computes"], 12_845_056);
    assert_eq!(v["levels"].as_array().unwrap().len(), 4);
    assert_eq!(v["levels"][2]["name"], "global_buffer");
    assert!((v["energy_pj"].as_f64().unwrap() - 3_939_964.0).abs() < 1.0);
    // A stats file without a summary (no valid mapping) is an error, not zeros.
    let p = Project::new();
    let bad = p.write("x.stats.txt", "Buffer and Arithmetic Levels\nLevel 0\n");
    let out = Command::new("python3")
        .arg(repo_root().join("scripts/timeloop_parse.py"))
        .arg(bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn timeloop_parser_reads_real_timeloop_output() {
    // Real Timeloop output comes from public repositories and may not be committed here; it
    // lives beside the checkout in the steering repository's shared/data/timeloop/. In CI it
    // must be there: the test fails rather than skips.
    // OUTRUN_TIMELOOP_STATS names another folder (a worktree elsewhere than the checkout).
    let dir = std::env::var_os("OUTRUN_TIMELOOP_STATS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/data/timeloop"));
    let has_stats = std::fs::read_dir(&dir).is_ok_and(|d| {
        d.flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".stats.txt"))
    });
    if !has_stats {
        let why = format!(
            "no real Timeloop output (*.stats.txt) in {} (scripts/testdata/timeloop/README.md)",
            dir.display()
        );
        assert!(!required(), "{why}");
        eprintln!("skipping: {why}");
        return;
    }
    let (ok, out) = timeloop_check(&dir);
    assert!(ok, "{out}");
    assert!(
        out.contains("7 files checked (3 with known values), 0 failures"),
        "{out}"
    );
}

#[test]
fn timeloop_parser_reads_a_sparseloop_summary() {
    // Sparseloop (Timeloop with sparse_optimizations) prints the dense count as "Algorithmic
    // Computes" and what the hardware did as "Actual Computes" (timeloop v3.0.3,
    // src/model/topology.cpp); "Computes = " alone is absent. The layer's MACs are the dense
    // count; the energy follows the actual one.
    let p = Project::new();
    let text = "Level 0\n=== MAC ===\n    STATS\n    -----\n    Cycles : 1000\n\n\
        Summary Stats\n-------------\nGFLOPs (@1GHz): 2.00\nUtilization: 0.25\nCycles: 1000\n\
        Energy: 0.01 uJ\nEDP(J*cycle): 1.00e-05\nArea: 0.00 mm^2\n\n\
        Algorithmic Computes = 4000\nfJ/Algorithmic-Compute\n    MAC   = 1000.00\n    Total = 2500.00\n\n\
        Actual Computes = 2000\nfJ/Compute\n    MAC   = 2000.00\n    Total = 5000.00\n";
    let file = p.write("sparse.stats.txt", text);
    let out = Command::new("python3")
        .arg(repo_root().join("scripts/timeloop_parse.py"))
        .arg("--json")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["computes"], 4000);
    assert_eq!(v["actual_computes"], 2000);
    assert_eq!(v["utilization_pct"], 25.0); // Timeloop 3 prints a fraction
    assert_eq!(v["energy_per_compute_fj"]["Total"], 5000.0);
    assert!((v["energy_pj"].as_f64().unwrap() - 10_000.0).abs() < 1e-6);
    let (ok, out) = timeloop_check(p.root());
    assert!(ok, "{out}");
}

/// Timeloop's `timeloop-mapper` as scripts/timeloop_resnet50.py finds it (OUTRUN_TIMELOOP_MAPPER,
/// PATH, then scripts/install-test-tools.sh's cache), or None (after failing in CI).
fn timeloop_mapper() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OUTRUN_TIMELOOP_MAPPER") {
        return Some(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("timeloop-mapper"))
            .find(|f| f.is_file())
    });
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    let cached = cache.and_then(|c| {
        let mut found: Vec<PathBuf> = std::fs::read_dir(c.join("outrun"))
            .ok()?
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("timeloop-"))
            .map(|e| e.path().join("bin/timeloop-mapper"))
            .filter(|f| f.is_file())
            .collect();
        found.sort();
        found.pop()
    });
    if let Some(found) = on_path.or(cached) {
        return Some(found);
    }
    let why = "timeloop-mapper is not installed (scripts/install-test-tools.sh builds it)";
    assert!(!required(), "{why}");
    eprintln!("skipping: {why}");
    None
}

/// A reduced Timeloop cell: the experiment with `matrix`, the driver's files and the forward
/// latency the launch floor comes from.
fn timeloop_project(matrix: &str) -> Project {
    project(
        "timeloop-resnet50",
        matrix,
        &[
            "scripts/timeloop_resnet50.py",
            "scripts/timeloop_parse.py",
            "scripts/timeloop_arch",
            "data/measured/h200/resnet50_forward_latency.csv",
        ],
    )
}

#[test]
fn timeloop_maps_a_layer_on_every_architecture() {
    let Some(mapper) = timeloop_mapper() else {
        return;
    };
    let p = timeloop_project("matrix:\n  arch: [array32, array32-os, h200]\n  batch: [1]\n");
    let rows = run(
        &p,
        "timeloop-resnet50",
        &[
            ("OUTRUN_TIMELOOP_MAPPER", mapper.as_os_str()),
            ("OUTRUN_P_LAYERS", "layer4.0.conv3".as_ref()),
        ],
    );
    check_rows(&rows, "cycles", &[("layer4.0.conv3", "1")].into());
    let archs: BTreeSet<&str> = rows.iter().map(|r| r["arch"].as_str()).collect();
    assert_eq!(archs, ["array32", "array32-os", "h200"].into(), "{rows:?}");
    for r in &rows {
        assert!((0.0..=100.0).contains(&num(r, "utilization_pct")), "{r:?}");
        assert_eq!(num(r, "computes"), num(r, "macs"), "{r:?}");
        let us = num(r, "cycles") / num(r, "clock_hz") * 1e6;
        assert!(
            (num(r, "latency_us") - us).abs() <= 1e-4 * us.max(1.0),
            "{r:?}"
        );
        if r["arch"].starts_with("array32") {
            // The common 32x32 machine, layer4.0.conv3 at N = 1: C 512, K 2048, P = Q = 7,
            // 51,380,224 MACs, one planned mapping. Weight-stationary: K32 x C32 fills the
            // array, 51,380,224 / 1024 = 50,176 cycles, more than DRAM needs for every tensor
            // once (1,048,576 weights + 25,088 inputs + 100,352 outputs at 32 B a cycle:
            // 36,688). Output-stationary: rows take the pixels of one image, Q7 (P7 x Q7 = 49
            // does not fit 32 rows), so 32 x 7 PEs work: 51,380,224 / 224 = 229,376 cycles.
            assert_eq!(r["pes"], "1024");
            assert_eq!(
                r["mapper_bound"],
                "none: one planned mapping (timeloop-model)"
            );
            assert_eq!(r["mapper_stopped"], "0");
            let (cycles, spatial) = if r["arch"] == "array32" {
                ("50176", "K32 C32")
            } else {
                ("229376", "K32 Q7")
            };
            assert_eq!(
                (r["cycles"].as_str(), r["spatial"].as_str()),
                (cycles, spatial)
            );
            continue;
        }
        // h200, layer4.0.conv3 at N = 1: C 512, K 2048, P = Q = 7, 51,380,224 MACs. The
        // CUTLASS-shaped mapping by hand: lanes K4 x C4 (16 an SM, each 128 MACs a tensor-core
        // cycle); a threadblock tile of P7 x Q7 = 49 pixels x 128 channels; 2048 / 128 = 16
        // tiles, one wave on 16 SMs; the reduction C 512 = 4 (lanes) x 8 (accumulator) x 16
        // (chunks at L2). One SM computes 51,380,224 / 16 MACs on 16 lanes: 200,704 cycles,
        // more than its HBM traffic takes (1.17 M words at ~13 words a cycle, ~90 k cycles).
        assert_eq!(r["pes"], "2112");
        assert_eq!(
            r["cutlass_cycles"],
            (51_380_224u64 / 16 / 16).to_string(),
            "{r:?}"
        );
        assert_eq!(r["cutlass_cycles"], "200704");
        assert_eq!(r["spatial"], "K4 C4");
        // The search covers the CUTLASS mapping, so it can only do better: 324 mappings,
        // enumerated to the end (exhaustive), and the row keeps the better of the two.
        assert_eq!(r["search_space"], "495", "{r:?}");
        assert!(
            r["mapper_bound"].starts_with("linear-pruned victory=0 timeout=0"),
            "{r:?}"
        );
        assert_eq!(r["search_done"], "1", "{r:?}");
        let (cut, found) = (num(r, "cutlass_cycles"), num(r, "search_cycles"));
        assert!(found <= cut, "{r:?}");
        assert_eq!(num(r, "cycles"), cut.min(found), "{r:?}");
        let expect = if found < cut { "search" } else { "cutlass" };
        assert_eq!(r["mapping"], expect, "{r:?}");
        assert!(r["tile"].starts_with("tile N1 P"), "{r:?}");
        // The compulsory bound: the MACs at the full rate (ceil(51,380,224 / 2112) = 24,328
        // cycles) against the traffic; no mapping beats it.
        assert!(num(r, "bound_cycles") >= 24_328.0, "{r:?}");
        assert!(num(r, "cycles") >= num(r, "bound_cycles"), "{r:?}");
        // The launch floor: 3268.4 us for the N = 1 forward pass over its 174 eager ops.
        assert_eq!(r["launch_floor_us"], format!("{:.4}", 3268.4 / 174.0));
        assert_eq!(
            num(r, "latency_floor_us"),
            num(r, "latency_us").max(num(r, "launch_floor_us")),
            "{r:?}"
        );
    }
}

#[test]
fn timeloop_rows_are_the_same_in_two_runs() {
    let Some(mapper) = timeloop_mapper() else {
        return;
    };
    // Two runs of a reduced cell: one layer searched exhaustively (324 mappings), one by the
    // single-threaded random-pruned search (layer3.0.conv3 at N = 1: 3645 mappings), and a
    // strided 1x1 conv; and the same layers on the common 32x32 machine (one planned mapping
    // each, weight- and output-stationary). Everything but the provenance columns must be equal.
    let layers = "layer4.0.conv3,layer3.0.conv3,layer4.0.downsample.0";
    let mut results = Vec::new();
    for _ in 0..2 {
        let p = timeloop_project("matrix:\n  arch: [h200, array32, array32-os]\n  batch: [1]\n");
        let rows = run(
            &p,
            "timeloop-resnet50",
            &[
                ("OUTRUN_TIMELOOP_MAPPER", mapper.as_os_str()),
                ("OUTRUN_P_LAYERS", layers.as_ref()),
            ],
        );
        let kept: Vec<Vec<(String, String)>> = rows
            .iter()
            .map(|r| {
                r.iter()
                    .filter(|(k, _)| !k.starts_with("outrun_"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .collect();
        results.push(kept);
    }
    assert_eq!(results[0].len(), 9);
    let searches: BTreeSet<String> = results[0]
        .iter()
        .flat_map(|r| r.iter().filter(|(k, _)| k == "mapper_bound"))
        .map(|(_, v)| v.split(' ').next().unwrap().to_string())
        .collect();
    assert!(searches.contains("random-pruned"), "{searches:?}");
    assert_eq!(results[0], results[1]);
}

#[test]
fn timeloop_driver_says_where_to_get_timeloop() {
    let p = Project::new();
    let out = Command::new("python3")
        .arg(repo_root().join("scripts/timeloop_resnet50.py"))
        .env("OUTRUN_OUT", p.root())
        .env("OUTRUN_P_ARCH", "array32")
        .env("OUTRUN_P_LAYERS", "layer1.0.conv1")
        .env("PATH", "/usr/bin:/bin")
        .env("XDG_CACHE_HOME", p.root().join("no-cache"))
        .env_remove("OUTRUN_TIMELOOP_MAPPER")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("timeloop-mapper not found"), "{err}");
    assert!(err.contains("scripts/install-test-tools.sh"), "{err}");
}

/// NeuSight's source as scripts/neusight_common.py finds it (OUTRUN_NEUSIGHT, the folder
/// scripts/install-test-tools.sh unpacks, ~/neusight), or None (after failing in CI).
fn neusight_source() -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    let mut candidates: Vec<PathBuf> = std::env::var_os("OUTRUN_NEUSIGHT")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    if let Some(c) = cache {
        candidates.push(c.join("outrun/neusight-77d001a625c88b5c/NeuSight"));
    }
    if let Some(h) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(h).join("neusight"));
    }
    if let Some(found) = candidates
        .iter()
        .find(|c| c.join("neusight/__init__.py").is_file())
    {
        return Some(found.clone());
    }
    let why = format!(
        "NeuSight's source is not in {candidates:?} (scripts/install-test-tools.sh unpacks it)"
    );
    if required() {
        panic!("{why}");
    }
    eprintln!("skipping: {why}");
    None
}

const NEUSIGHT_SCRIPTS: &[&str] = &[
    "scripts/neusight_common.py",
    "scripts/neusight_train.py",
    "scripts/neusight_predict.py",
    "scripts/neusight_keep_weights.py",
    "scripts/neusight_devices",
];

/// The whole NeuSight path on the real code, on a small sample: the five predictors processed
/// from the collect/ data and trained for one epoch on 200 rows, their weights kept beside the
/// dataset with their SHA-256, then the paper's fp16 GEMM check and ResNet-50 at N = 1 on the H200
/// predicted with them; a weights file that no longer matches its digest stops the prediction.
#[test]
fn neusight_processes_trains_and_predicts_a_sample() {
    let Some(bin) = venv("neusight") else { return };
    let Some(src) = neusight_source() else { return };
    let p = project(
        "neusight-train",
        "matrix:\n  predictor: [BMM, LINEAR, VEC, LN, SOFTMAX]\n  lr: [paper]\n  epochs: [1]\n",
        NEUSIGHT_SCRIPTS,
    );
    for name in ["neusight-h100", "neusight-h200-resnet50"] {
        p.write(
            &format!("experiments/{name}.yaml"),
            &std::fs::read_to_string(repo_root().join(format!("experiments/{name}.yaml"))).unwrap(),
        );
    }
    let path = path_with(&bin);
    let envs: [(&str, &std::ffi::OsStr); 4] = [
        ("PATH", path.as_os_str()),
        ("OUTRUN_NEUSIGHT", src.as_os_str()),
        ("OUTRUN_NEUSIGHT_SAMPLE", "200".as_ref()),
        ("OUTRUN_NEUSIGHT_THREADS", "1".as_ref()),
    ];
    let rows = run(&p, "neusight-train", &envs);
    let preds: BTreeSet<&str> = rows.iter().map(|r| r["predictor"].as_str()).collect();
    assert_eq!(preds, ["BMM", "LINEAR", "LN", "SOFTMAX", "VEC"].into());
    for r in &rows {
        assert_eq!(r["train_rows"], "200", "{r:?}");
        assert!(num(r, "rows_processed") >= 1500.0, "{r:?}");
        // the paper's MLP_WAVE: 8 x 512, the same size for every operator
        assert_eq!(r["params"], "1580037", "{r:?}");
        assert_eq!(
            (r["epochs_run"].as_str(), r["best_epoch"].as_str()),
            ("1", "0")
        );
        assert_eq!(r["weights_sha256"].len(), 64, "{r:?}");
        assert!(r["weights_file"].starts_with("data/evaluation/neusight-train/"));
    }
    // processed exactly as the paper's run_dataset.py: the rows of each training set
    let processed: BTreeMap<&str, &str> = rows
        .iter()
        .map(|r| (r["predictor"].as_str(), r["rows_processed"].as_str()))
        .collect();
    assert_eq!(processed["BMM"], "87623");
    assert_eq!(processed["LINEAR"], "32224");
    assert_eq!(processed["VEC"], "8250");
    assert_eq!(processed["LN"], "1505");
    assert_eq!(processed["SOFTMAX"], "1500");

    let runs = p.root().join(".outrun/runs/neusight-train");
    let run_dir = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let keep = Command::new(bin.join("python3"))
        .arg(p.root().join("scripts/neusight_keep_weights.py"))
        .arg(&run_dir)
        .output()
        .unwrap();
    assert!(
        keep.status.success(),
        "{}",
        String::from_utf8_lossy(&keep.stderr)
    );
    assert!(
        p.root()
            .join("data/evaluation/neusight-train/BMM/model.pth")
            .is_file()
    );

    // the paper's fp16 GEMM check: 9 cases, each measured value the paper's
    p.experiment(
        "neusight-h100",
        &with_matrix(
            &p.read("experiments/neusight-h100.yaml"),
            "matrix:\n  cases: [fp16mm]\n  gpu: [NVIDIA_H100_80GB_HBM3_TP]\n  linear: [paper]\n",
        ),
    );
    let gemms = run(&p, "neusight-h100", &envs);
    assert_eq!(gemms.len(), 9, "{gemms:?}");
    for r in &gemms {
        assert!(num(r, "predicted_ms") > 0.0, "{r:?}");
        let err = 100.0 * (num(r, "predicted_ms") - num(r, "measured_ms")) / num(r, "measured_ms");
        assert!((err - num(r, "error_pct")).abs() < 0.05, "{r:?}");
        let d = num(r, "ape_pct") - num(r, "paper_neusight_ape_pct");
        let want = if d.abs() <= 10.0 {
            "held"
        } else if d > 0.0 {
            "not held (worse)"
        } else {
            "not held (better)"
        };
        assert_eq!(r["verdict"], want, "{r:?}");
    }
    assert!(
        gemms.iter().any(
            |r| r["case"] == "fp16 bmm B512 M1024 N1024 K1024" && r["measured_ms"] == "3.00238"
        )
    );

    // ResNet-50 at N = 1 on the H200 as implicit GEMMs
    p.experiment(
        "neusight-h200-resnet50",
        &with_matrix(
            &p.read("experiments/neusight-h200-resnet50.yaml"),
            "matrix:\n  cases: [resnet50]\n  batch: [1]\n  linear: [paper]\n",
        ),
    );
    let convs = run(&p, "neusight-h200-resnet50", &envs);
    assert_eq!(convs.len(), 23);
    let macs = measured_macs();
    for r in &convs {
        let want = macs[&(r["layer"].clone(), r["N"].clone())];
        let gemm = num(r, "gemm_m") * num(r, "gemm_n") * num(r, "gemm_k");
        assert_eq!(
            gemm as u64, want,
            "rows x reduction x columns = MACs: {r:?}"
        );
        assert!(num(r, "latency_us") > 0.0, "{r:?}");
        assert_eq!(r["dtype"], "float16");
    }

    // a weights file that no longer matches its training row is refused
    let pth = p
        .root()
        .join("data/evaluation/neusight-train/LINEAR/model.pth");
    let mut bytes = std::fs::read(&pth).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&pth, bytes).unwrap();
    let out = Command::new(bin.join("python3"))
        .arg(p.root().join("scripts/neusight_predict.py"))
        .env("OUTRUN_OUT", p.root())
        .env("OUTRUN_NEUSIGHT", &src)
        .env("OUTRUN_P_CASES", "resnet50")
        .env("OUTRUN_P_BATCH", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("LINEAR (lr paper)") && err.contains("SHA-256"),
        "{err}"
    );
}

/// `shipped` with its `matrix:` block replaced.
fn with_matrix(shipped: &str, matrix: &str) -> String {
    let start = shipped.find("\nmatrix:\n").expect("a matrix block") + 1;
    let end = start + shipped[start..].find("\ncommand:").expect("a command") + 1;
    format!("{}{matrix}{}", &shipped[..start], &shipped[end..])
}

/// The H200 device configurations hold what their sources say: NVIDIA's datasheet figures, the
/// paper's fp16 convention (the _TP file doubles memory, bandwidth and L2 and carries the
/// tensor-core peak), FP32 = SMs x cores x 2 x clock, and the measured peaks beside them are
/// data/measured/h200's.
#[test]
fn neusight_h200_configuration_matches_its_sources() {
    let read = |f: &str| -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(repo_root().join("scripts/neusight_devices").join(f)).unwrap(),
        )
        .unwrap()
    };
    let base = read("NVIDIA_H200.json");
    let tp = read("NVIDIA_H200_TP.json");
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{k}"));
    // NVIDIA H200 datasheet: 141 GB, 4.8 TB/s, FP32 67 TFLOPS, FP16 tensor 1,979 TFLOPS
    assert_eq!(f(&base, "Dev_Mem"), 141.0);
    assert_eq!(f(&base, "Mem_Bw"), 4800.0);
    assert_eq!(f(&base, "L2Cache"), 50.0);
    assert_eq!(f(&tp, "SingleFLOPs"), 1_979_000.0);
    let fp32 = f(&base, "Num_Sm") * f(&base, "Core_Per_SM") * 2.0 * f(&base, "Freq") / 1000.0;
    assert_eq!(
        f(&base, "SingleFLOPs"),
        fp32.floor(),
        "SMs x cores x 2 x clock"
    );
    assert!(
        (fp32 / 67_000.0 - 1.0).abs() < 0.005,
        "{fp32} vs the datasheet's 67 TFLOPS"
    );
    for k in ["Dev_Mem", "Mem_Bw", "L2Cache"] {
        assert_eq!(
            f(&tp, k),
            2.0 * f(&base, k),
            "{k}: the paper's _TP convention"
        );
    }
    for k in ["Num_Sm", "Core_Per_SM", "Freq"] {
        assert_eq!(f(&tp, k), f(&base, k), "{k}");
    }
    for cfg in [&base, &tp] {
        for k in [
            "Dev_Mem",
            "Mem_Bw",
            "Num_Sm",
            "Core_Per_SM",
            "Freq",
            "SingleFLOPs",
            "L2Cache",
        ] {
            let src = cfg["_sources"][k]
                .as_str()
                .unwrap_or_else(|| panic!("no source for {k}"));
            assert!(
                src.contains("NVIDIA") || src.contains("132 x 128"),
                "{k}: {src}"
            );
        }
    }
    // the measured peaks beside them are this repository's
    let peaks = std::fs::read_to_string(repo_root().join("data/measured/h200/peaks.csv")).unwrap();
    let peak = |kind: &str, dtype: &str| -> f64 {
        read_csv(&peaks)
            .into_iter()
            .find(|r| r["kind"] == kind && r["dtype"] == dtype)
            .map(|r| num(&r, "value"))
            .unwrap()
    };
    assert_eq!(
        f(&tp["_measured"], "matmul_float16_tflops"),
        peak("matmul", "float16")
    );
    assert_eq!(
        f(&tp["_measured"], "matmul_float32_tflops"),
        peak("matmul", "float32")
    );
    assert_eq!(
        f(&tp["_measured"], "copy_gbps_read_write"),
        peak("copy", "uint8")
    );
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("data/measured/h200/meta.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(f(&tp["_measured"], "sms"), f(&meta, "sms"));
    assert_eq!(f(&tp, "Num_Sm"), f(&meta, "sms"));
    // the paper's own H100 pair follows the same convention (where NeuSight's source is here)
    if let Some(src) = neusight_source() {
        let dir = src.join("scripts/asplos/data/device_configs");
        let h100: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("NVIDIA_H100_80GB_HBM3.json")).unwrap(),
        )
        .unwrap();
        let h100tp: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("NVIDIA_H100_80GB_HBM3_TP.json")).unwrap(),
        )
        .unwrap();
        for k in ["Dev_Mem", "Mem_Bw", "L2Cache"] {
            assert_eq!(f(&h100tp, k), 2.0 * f(&h100, k), "the paper's H100 {k}");
        }
        assert_eq!(f(&h100tp, "SingleFLOPs"), f(&tp, "SingleFLOPs"));
        assert_eq!(f(&h100, "SingleFLOPs"), f(&base, "SingleFLOPs"));
    }
}

/// docs/research.md's NeuSight table is data/evaluation/neusight-h100.csv: every row's errors,
/// the paper's published figures and the verdicts, for both LINEAR trainings; every case of the
/// dataset is in the table.
#[test]
fn neusight_paper_table_in_the_docs_is_the_dataset() {
    let docs = std::fs::read_to_string(repo_root().join("docs/research.md")).unwrap();
    let data = read_csv(
        &std::fs::read_to_string(repo_root().join("data/evaluation/neusight-h100.csv")).unwrap(),
    );
    let start = docs
        .find("| GPU | case |")
        .expect("the NeuSight table in docs/research.md");
    let pct = |v: &str| -> String {
        if v.is_empty() {
            "–".into()
        } else {
            format!("{:.1} %", v.parse::<f64>().unwrap())
        }
    };
    let mut seen = BTreeSet::new();
    for line in docs[start..].lines().skip(2) {
        if !line.starts_with("| ") {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let (gpu, case) = (cells[0], cells[1].trim_matches('`'));
        for (i, linear) in [(3, "paper"), (5, "1e-4")] {
            if gpu.ends_with("_TP") && linear != "paper" {
                // the fp16 GEMM check uses the BMM predictor only: one LINEAR training
                assert_eq!((cells[i], cells[i + 1]), ("–", "–"), "{line}");
                continue;
            }
            let r = data
                .iter()
                .find(|r| r["gpu"] == gpu && r["case"] == case && r["linear"] == linear)
                .unwrap_or_else(|| panic!("{gpu} {case} {linear} not in the dataset: {line}"));
            assert_eq!(cells[2], format!("{:.2}", num(r, "measured_ms")), "{line}");
            assert_eq!(cells[i], pct(&r["error_pct"]), "{line}");
            assert_eq!(cells[i + 1], r["verdict"], "{line}");
            assert_eq!(cells[7], pct(&r["paper_neusight_ape_pct"]), "{line}");
            assert_eq!(cells[8], pct(&r["paper_roofline_ape_pct"]), "{line}");
            seen.insert((gpu.to_owned(), case.to_owned()));
        }
    }
    let all: BTreeSet<(String, String)> = data
        .iter()
        .map(|r| (r["gpu"].clone(), r["case"].clone()))
        .collect();
    assert_eq!(
        seen, all,
        "the docs' table and the dataset hold the same cases"
    );
}
