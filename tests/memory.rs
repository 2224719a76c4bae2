//! Memory stays bounded: a small budget forces many spill files, and the process's
//! peak RSS stays under budget + 48 MiB (SPEC §10). The peak is the kernel's
//! high-water mark of the whole process, as `/usr/bin/time` reads it: a run
//! must never reset it.

use crate::util::*;

const MIB: u64 = 1024 * 1024;

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB as f64)
}

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
    // The 4th completed stage is the report, the last: the process pauses
    // there, every stage's peak recorded, so that its VmHWM can be read.
    let mut run = Watched::spawn(env.command(&args).env("VENDOR_MATCH_FAILPOINT", "stage.completed=4:pause=3000"));
    run.wait_for("failpoint stage.completed: pausing");
    let process_peak = vm_hwm_bytes(run.pid());
    assert_exit(&run.finish(), 0);

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
    // The process's own peak, as any outside tool sees it, is under the bound.
    assert!(process_peak < 56 * MIB, "the process's VmHWM {} >= 56 MiB", mib(process_peak));
    // The stages' peaks are measured without resetting the process's mark:
    // none is above it, and the largest is the process's peak (the stages
    // cover the whole run but its start-up and report), within 2 MiB.
    let mut largest = 0;
    for stage in ["extract", "match", "load", "report"] {
        let peak = manifest[stage]["peak_rss_bytes"].as_u64().unwrap();
        assert!(
            peak <= process_peak,
            "{stage} peak RSS {} above the process's VmHWM {}: the mark was reset",
            mib(peak),
            mib(process_peak)
        );
        largest = largest.max(peak);
    }
    assert!(
        largest + 2 * MIB >= process_peak,
        "largest stage peak {} is not the process's VmHWM {}",
        mib(largest),
        mib(process_peak)
    );
}
