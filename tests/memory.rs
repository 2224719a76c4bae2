//! Memory stays bounded: a small budget forces many spill files, and the process's
//! peak RSS stays under budget + 48 MiB (SPEC §10).

use crate::util::*;

const MIB: u64 = 1024 * 1024;

#[test]
fn budget_8mib_over_200k_users_a_side_spills_many_files_and_stays_under_56mib() {
    let db = TestDb::new("memory");
    let env = TestEnv::new();
    let pages = env.path().join("fixtures");
    generate(&db, &pages, &["--users", "200000"]);
    let server = Server::start(&pages, &[]);
    let url = db.url();
    let args = [
        "run",
        "--quiet",
        "--memory-budget",
        "8MiB",
        "--vendor-url",
        &server.url,
        "--source-url",
        &url,
        "--warehouse-url",
        &url,
    ];
    assert_exit(&env.run(&args), 0);

    let status = status_json(&env);
    let run_id = status["run_id"].as_str().unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.work_dir().join(run_id).join("manifest.json")).unwrap()).unwrap();
    let extract = &manifest["extract_output"];
    let vendor_spills = extract["vendor_spills"].as_array().unwrap().len();
    let internal_spills = extract["internal_spills"].as_array().unwrap().len();
    assert!(
        vendor_spills > 1 && internal_spills > 1,
        "spill files: vendor {vendor_spills}, internal {internal_spills}"
    );
    for sort in extract["sorts"].as_array().unwrap() {
        assert!(sort["peak_bytes"].as_u64().unwrap() <= 8 * MIB, "sorter over budget: {sort}");
    }
    // Each stage resets the kernel's high-water mark when it starts, so the
    // largest stage peak is the process's peak.
    for stage in ["extract", "match", "load"] {
        let peak = manifest[stage]["peak_rss_bytes"].as_u64().unwrap();
        assert!(peak < 56 * MIB, "{stage} peak RSS {:.1} MiB >= 56 MiB", peak as f64 / MIB as f64);
    }
}
