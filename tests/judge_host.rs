//! The judge host against real components built by the test suite: well-behaved and hostile judges, bad
//! files, the artefact cache, and the host serving normally after every failure.

mod common;

use std::sync::Arc;
use std::time::Duration;

use coalmine::judge_host::{JudgeHost, Limits, LogLevel, Origin, PluginError};
use common::{plugin, scripted};

/// A host whose deadline is far away, so that a loaded machine never turns another limit's failure (memory,
/// stack, answer size) into a deadline.
fn host() -> JudgeHost {
    host_with_deadline(Duration::from_secs(20))
}

/// A host with a short deadline, for the calls that run until it.
fn impatient_host() -> JudgeHost {
    host_with_deadline(Duration::from_millis(500))
}

fn host_with_deadline(deadline: Duration) -> JudgeHost {
    JudgeHost::new(
        Limits {
            deadline,
            ..Limits::default()
        },
        None,
    )
}

fn scripted_judge(host: &JudgeHost) -> coalmine::judge_host::Judge {
    host.load_file(&plugin("scripted"))
        .expect("the scripted test judge loads")
}

/// After a failure the same judge must serve the next call normally.
fn assert_serves(judge: &coalmine::judge_host::Judge) {
    let judgement = judge
        .judge(&scripted("pass"))
        .expect("a well-behaved call succeeds");
    assert_eq!(judgement.results.len(), 2);
    assert_eq!(judgement.score, 100.0);
}

#[test]
fn a_well_behaved_judge_is_loaded_and_called() {
    let host = host();
    let judge = scripted_judge(&host);
    assert_eq!(judge.name(), "scripted");
    assert_eq!(judge.sha256().len(), 64);
    assert!(
        matches!(judge.origin(), Origin::File(path) if path.ends_with("coalmine_test_scripted.wasm"))
    );
    let (judgement, report) = judge.judge_with_report(&scripted("pass"));
    let judgement = judgement.unwrap();
    assert_eq!(
        judgement
            .results
            .iter()
            .map(|r| r.pair_id.as_str())
            .collect::<Vec<_>>(),
        ["pair-0", "pair-1"]
    );
    assert!(report.peak_memory > 0, "a call reports the memory it used");
}

#[test]
fn an_infinite_loop_ends_at_the_deadline() {
    let host = impatient_host();
    let judge = scripted_judge(&host);
    let (result, report) = judge.judge_with_report(&scripted("loop"));
    match result {
        Err(PluginError::DeadlineExceeded { plugin, limit }) => {
            assert_eq!(plugin, "scripted");
            assert_eq!(limit, Duration::from_millis(500));
        }
        other => panic!("expected a deadline error, got {other:?}"),
    }
    assert!(
        report.elapsed >= Duration::from_millis(500),
        "stopped early: {:?}",
        report.elapsed
    );
    assert!(
        report.elapsed < Duration::from_secs(3),
        "stopped late: {:?}",
        report.elapsed
    );
    assert_serves(&judge);
}

#[test]
fn memory_growth_stops_at_the_cap() {
    let host = host();
    let judge = scripted_judge(&host);
    let (result, report) = judge.judge_with_report(&scripted("memory"));
    assert!(
        matches!(result, Err(PluginError::MemoryLimitExceeded { limit, .. }) if limit == 64 << 20),
        "{result:?}"
    );
    assert!(
        report.peak_memory <= 64 << 20 && report.peak_memory > 32 << 20,
        "{}",
        report.peak_memory
    );
    assert_serves(&judge);
}

#[test]
fn deep_recursion_is_a_stack_overflow() {
    let host = host();
    let judge = scripted_judge(&host);
    let result = judge.judge(&scripted("recursion"));
    assert!(
        matches!(result, Err(PluginError::StackOverflow { .. })),
        "{result:?}"
    );
    assert_serves(&judge);
}

#[test]
fn a_panic_is_a_trap_that_carries_the_panic_message() {
    let host = host();
    let judge = scripted_judge(&host);
    let error = judge.judge(&scripted("panic")).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, PluginError::Trap { .. }), "{error:?}");
    assert!(message.contains("scripted panic"), "{message}");
    assert!(message.starts_with("judge scripted crashed"), "{message}");
    assert_serves(&judge);
}

#[test]
fn a_multi_megabyte_judgement_is_refused() {
    let host = host();
    let judge = scripted_judge(&host);
    let error = judge.judge(&scripted("huge")).unwrap_err();
    match &error {
        PluginError::JudgementTooLarge { size, limit, .. } => {
            assert!(*size > 16 << 20, "{size}");
            assert_eq!(*limit, Limits::default().max_judgement_bytes);
        }
        other => panic!("expected JudgementTooLarge, got {other:?}"),
    }
    assert_serves(&judge);
}

#[test]
fn errors_returned_by_the_judge_keep_their_kind_and_message() {
    let host = host();
    let judge = scripted_judge(&host);
    let failed = judge.judge(&scripted("error")).unwrap_err();
    assert!(
        matches!(&failed, PluginError::Failed { message, .. } if message == "scripted failure"),
        "{failed:?}"
    );
    let invalid = judge.judge(&scripted("invalid")).unwrap_err();
    assert!(
        matches!(&invalid, PluginError::InvalidRequest { message, .. } if message == "scripted invalid request"),
        "{invalid:?}"
    );
    assert_eq!(
        invalid.to_string(),
        "judge scripted rejected the request: scripted invalid request"
    );
}

#[test]
fn a_judgement_that_does_not_answer_the_request_is_refused() {
    let host = host();
    let judge = scripted_judge(&host);
    let reason = |behaviour: &str| match judge.judge(&scripted(behaviour)) {
        Err(PluginError::InvalidJudgement { reason, .. }) => reason,
        other => panic!("{behaviour}: expected InvalidJudgement, got {other:?}"),
    };
    assert_eq!(
        reason("unknown-pair"),
        "result 0 is for pair \"no-such-pair\", which is not in the request"
    );
    assert_eq!(
        reason("missing-result"),
        "pair \"pair-0\" of metric \"latency\" has no result"
    );
    assert_eq!(
        reason("nan-score"),
        "score is NaN, not a number from 0 to 100"
    );
    assert_serves(&judge);
}

#[test]
fn logs_reach_the_report_and_are_capped() {
    let host = host();
    let judge = scripted_judge(&host);
    let (result, report) = judge.judge_with_report(&scripted("log"));
    result.unwrap();
    let levels: Vec<LogLevel> = report.logs.iter().map(|line| line.level).collect();
    assert_eq!(
        levels,
        [
            LogLevel::Trace,
            LogLevel::Debug,
            LogLevel::Info,
            LogLevel::Warn,
            LogLevel::Error
        ]
    );
    assert!(
        report
            .logs
            .iter()
            .any(|line| line.message == "scripted log at info"),
        "{:?}",
        report.logs
    );

    let (result, report) = judge.judge_with_report(&scripted("log-flood"));
    result.unwrap();
    let limits = Limits::default();
    assert_eq!(report.logs.len(), limits.max_log_lines);
    assert_eq!(report.dropped_log_lines, 10_000 - limits.max_log_lines);
    assert!(
        report
            .logs
            .iter()
            .all(|line| line.message.len() <= limits.max_log_line_bytes + '…'.len_utf8())
    );
}

#[test]
fn a_plugin_that_imports_files_or_sockets_is_refused_at_load() {
    let error = host().load_file(&plugin("sneaky")).unwrap_err();
    let PluginError::UnsupportedImports { imports, .. } = &error else {
        panic!("expected UnsupportedImports, got {error:?}");
    };
    assert!(
        imports.iter().any(|i| i.starts_with("wasi:filesystem/")),
        "{imports:?}"
    );
    assert!(
        imports.iter().any(|i| i.starts_with("wasi:sockets/")),
        "{imports:?}"
    );
    assert!(
        error.to_string().contains("judges get no files, sockets"),
        "{error}"
    );
}

#[test]
fn a_plugin_built_for_another_contract_version_is_refused_at_load() {
    let error = host().load_file(&plugin("future-version")).unwrap_err();
    assert!(
        matches!(&error, PluginError::IncompatibleVersion { found, supported, .. } if found == "0.2.0" && *supported == "0.1.0"),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("rebuild it against this coalmine's wit/"),
        "{error}"
    );
}

#[test]
fn files_that_are_not_components_are_refused_with_the_reason() {
    let host = host();
    let reason = |bytes: &[u8]| match host.load(bytes, Origin::File("x.wasm".into())) {
        Err(PluginError::NotAComponent { plugin, reason }) => {
            assert_eq!(plugin, "x.wasm");
            reason
        }
        other => panic!("expected NotAComponent, got {other:?}"),
    };
    assert!(reason(b"\0asm\x01\0\0\0").contains("core WebAssembly module"));
    assert!(reason(b"#!/bin/sh\necho hello\n").contains("magic bytes"));
    assert!(reason(b"").contains("magic bytes"));
    // A component header followed by garbage fails in the compiler, which says why.
    assert!(!reason(b"\0asm\x0d\0\x01\0\xff\xff\xff").is_empty());
    let missing = host
        .load_file(std::path::Path::new("/nonexistent/judge.wasm"))
        .unwrap_err();
    assert!(matches!(missing, PluginError::Read { .. }), "{missing:?}");
    assert!(missing.to_string().contains("/nonexistent/judge.wasm"));
}

#[test]
fn compiled_judges_are_cached_and_a_broken_artefact_is_replaced() {
    let cache = tempfile::tempdir().unwrap();
    let host = JudgeHost::new(Limits::default(), Some(cache.path().to_path_buf()));
    let judge = scripted_judge(&host);
    let artefacts: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(artefacts.len(), 1, "{artefacts:?}");
    let artefact = &artefacts[0];
    let name = artefact.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with(judge.sha256()) && name.ends_with(".cwasm"),
        "{name}"
    );

    // A second load uses the artefact; a corrupted one is recompiled and rewritten.
    assert_serves(&scripted_judge(&host));
    std::fs::write(artefact, b"not an artefact").unwrap();
    assert_serves(&scripted_judge(&host));
    assert!(
        std::fs::metadata(artefact).unwrap().len() > 1000,
        "the artefact was rewritten"
    );
}

#[test]
fn a_judges_directory_loads_what_it_can_and_reports_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(plugin("scripted"), dir.path().join("scripted.wasm")).unwrap();
    std::fs::copy(plugin("scripted"), dir.path().join("scripted-again.wasm")).unwrap();
    std::fs::write(dir.path().join("broken.wasm"), b"nope").unwrap();
    std::fs::write(dir.path().join("README.md"), b"not a plugin").unwrap();
    let host = host();
    let (loaded, failed) = host.load_dir(dir.path()).unwrap();
    assert_eq!(
        loaded.iter().map(|j| j.name()).collect::<Vec<_>>(),
        ["scripted"]
    );
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(
        matches!(&failed[0], PluginError::NotAComponent { plugin, .. } if plugin.ends_with("broken.wasm"))
    );
    assert!(
        matches!(&failed[1], PluginError::DuplicateName { name, .. } if name == "scripted"),
        "{:?}",
        failed[1]
    );
    assert!(host.get("scripted").is_some());
    assert!(host.load_dir(&dir.path().join("missing")).is_err());
}

#[test]
fn a_runaway_call_does_not_hold_up_calls_on_other_threads() {
    let host = impatient_host();
    let judge = Arc::new(scripted_judge(&host));
    let runaway = {
        let judge = judge.clone();
        std::thread::spawn(move || judge.judge(&scripted("loop")))
    };
    for _ in 0..20 {
        assert_serves(&judge);
    }
    assert!(matches!(
        runaway.join().unwrap(),
        Err(PluginError::DeadlineExceeded { .. })
    ));
}

#[test]
fn more_calls_than_the_instance_pool_holds_wait_for_a_slot_instead_of_failing() {
    let host = impatient_host();
    let judge = Arc::new(scripted_judge(&host));
    // Calls that hold their instance until the deadline, twice as many as there are slots.
    let callers: Vec<_> = (0..coalmine::judge_host::max_concurrent_calls() * 2)
        .map(|_| {
            let judge = judge.clone();
            std::thread::spawn(move || judge.judge(&scripted("loop")))
        })
        .collect();
    for caller in callers {
        let result = caller.join().unwrap();
        assert!(
            matches!(result, Err(PluginError::DeadlineExceeded { .. })),
            "every call runs until its deadline: {result:?}"
        );
    }
    assert_serves(&judge);
}

#[test]
fn the_built_in_judges_answer_to_their_names_and_aliases() {
    let host = JudgeHost::with_built_in(Limits::default(), None).unwrap();
    let judge = host
        .get("mann-whitney")
        .expect("the default judge is built in");
    assert!(Arc::ptr_eq(
        &judge,
        &host.get("NetflixACAJudge-v1.0").unwrap()
    ));
    assert!(matches!(judge.origin(), Origin::BuiltIn(_)));
    assert_eq!(
        host.aliases_of("mann-whitney").collect::<Vec<_>>(),
        ["NetflixACAJudge-v1.0"]
    );
}

#[test]
fn the_built_in_judges_judge_a_typical_canary_without_growing_their_memory() {
    // Growing a pooled instance's memory costs an mprotect now and another when the slot is reset, each an
    // interrupt to every core; the built-in judges are linked with 4 MiB of initial memory to avoid both
    // (.cargo/config.toml). The limiter sees the initial memory as the first "growth", so a judge that never
    // grew reports exactly its initial size as its peak.
    let host = JudgeHost::with_built_in(Limits::default(), None).unwrap();
    let series = |shift: f64| -> Vec<f64> {
        (0..60)
            .map(|t| 100.0 * shift + f64::from((t * 7) % 13))
            .collect()
    };
    let names: Vec<String> = (0..10).map(|i| format!("metric-{i}")).collect();
    let pairs: Vec<(&str, Vec<f64>, Vec<f64>)> = names
        .iter()
        .zip(0..)
        .map(|(name, i)| {
            (
                name.as_str(),
                series(1.0),
                series(1.0 + 0.02 * f64::from(i)),
            )
        })
        .collect();
    for name in ["mann-whitney", "coalmine-v1"] {
        let judge = host.get(name).expect("a built-in judge");
        let (judgement, report) = judge.judge_with_report(&common::request(&pairs, "{}"));
        assert_eq!(judgement.unwrap().results.len(), 10, "{name}");
        assert_eq!(report.peak_memory, 4 << 20, "{name}");
    }
}
