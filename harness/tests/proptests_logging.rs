//! Property 7, logging completeness, in a process of its own: it installs
//! a `tracing` subscriber for the run, and `tracing` caches per call site
//! whether anyone listens, which tests on other threads would disturb.

mod support;

mod proptests {
    use std::sync::{Arc, Mutex};

    use proptest::prelude::*;

    use crate::support::{config, detect_directly, moderate};

    proptest! {
        #![proptest_config(config())]

        /// Property 7, logging completeness: the captured `tracing` output
        /// has, for every order, its start with quantity and timeout and its
        /// result with the verdict, each carrying `order_id`, elapsed time
        /// and check count; one line per check (DEBUG when the read
        /// answered, WARN when it failed); and exactly one WARN "retrying"
        /// line per retry the engine counted. Checked against the mutant
        /// "a retried read logs nothing".
        #[test]
        fn logging_completeness(knobs in moderate()) {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            let results = detect_directly(&knobs, |_| {}, Some(Arc::clone(&buffer)));
            let text = String::from_utf8(buffer.lock().expect("lock").clone()).expect("utf-8");
            let lines: Vec<&str> = text.lines().collect();
            let mut retries = 0;
            for (result, _, _) in &results {
                let id = format!("order_id={}", result.order_id);
                let mine: Vec<&&str> = lines.iter().filter(|l| l.contains(&id)).collect();
                let started = mine.iter().filter(|l| l.contains("monitoring started")).count();
                prop_assert_eq!(started, 1, "start of {}", result.order_id);
                prop_assert!(mine.iter().any(|l| l.contains("monitoring started") && l.contains("qty=") && l.contains("timeout_ms=")));
                let finished: Vec<&&&str> = mine.iter().filter(|l| l.contains("monitoring finished")).collect();
                prop_assert_eq!(finished.len(), 1, "result of {}: {:#?}", result.order_id, mine);
                let verdict_field = format!("verdict={}", result.verdict);
                prop_assert!(finished[0].contains(&verdict_field), "{}", finished[0]);
                prop_assert!(finished[0].contains("elapsed_ms=") && finished[0].contains("check="));
                // Each check is one DEBUG line when the read answered or one
                // WARN when it failed; the submit answer is checked too.
                let answered = mine.iter().filter(|l| l.contains("DEBUG") && l.contains("order checked")).count();
                let failed = mine.iter().filter(|l| l.contains("WARN") && l.contains("order read failed") && !l.contains("retrying")).count();
                prop_assert_eq!((answered + failed) as u32, result.checks + 1, "check lines of {}", result.order_id);
                retries += result.retries;
            }
            let warned = lines.iter().filter(|l| l.contains("WARN") && l.contains("retrying")).count();
            prop_assert_eq!(warned as u32, retries);
        }
    }
}
