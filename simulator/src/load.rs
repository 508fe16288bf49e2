//! Reading a scenario file: size and encoding guards, YAML parsing with
//! field paths and locations, and the checks that span several fields.

use std::path::Path;
use std::time::Duration;

use fillproof_engine::{
    AdaptivePolling, Decimal, FillDetectionConfig, MAX_AMOUNT, MAX_PRICE, MAX_QTY, MIN_PRICE,
    PartialFillPolicy, PollingConfig, price_in_range,
};
use serde_saphyr::{Budget, Location, MessageFormatter, Options, UserMessageFormatter};

use crate::distribution::Dist;
use crate::duration::parse_duration;
use crate::error::{Diagnostic, ScenarioError};
use crate::expect::Expectation;
use crate::model::OrderTarget;
use crate::recover::{Rename, Step};
use crate::scenario::{
    EngineRateLimit, FAULT_KINDS, FORMAT_VERSION, LatencySpec, OrderKind, PartialPolicySpec,
    PollingSpec, Scenario, TimelineEvent, TimelineKind,
};
use crate::suggest::did_you_mean;

/// Scenario files larger than this are refused: the largest real one is a
/// few kilobytes, and a latency sample file has its own limit.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Sample files larger than this are refused.
pub const MAX_SAMPLES_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Most orders a scenario may place.
pub const MAX_ORDERS: u32 = 10_000_000;

impl Scenario {
    /// Reads and checks a scenario file.
    ///
    /// # Errors
    /// A [`ScenarioError`] naming the file, the line and column where known,
    /// the field, what is wrong and what is allowed.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let file = path.display().to_string();
        let metadata = std::fs::metadata(path).map_err(|error| {
            ScenarioError::whole_file(
                &file,
                format!("cannot read the file: {error}; check the path"),
            )
        })?;
        if !metadata.is_file() {
            return Err(ScenarioError::whole_file(
                &file,
                "is not a file; give the path of a .yaml scenario",
            ));
        }
        if metadata.len() > MAX_FILE_BYTES {
            return Err(ScenarioError::whole_file(
                &file,
                format!(
                    "is {} bytes; scenario files are at most {MAX_FILE_BYTES} bytes (put long latency samples in a `samples_file`)",
                    metadata.len()
                ),
            ));
        }
        let bytes = read_bounded(path, MAX_FILE_BYTES)
            .map_err(|message| ScenarioError::whole_file(&file, message))?;
        Self::parse(&bytes, &file, path.parent())
    }

    /// Parses and checks scenario text. `file` names it in errors;
    /// `base_dir` resolves `samples_file` paths.
    ///
    /// # Errors
    /// As [`Scenario::load`].
    pub fn parse(bytes: &[u8], file: &str, base_dir: Option<&Path>) -> Result<Self, ScenarioError> {
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(ScenarioError::whole_file(
                file,
                format!(
                    "is {} bytes; scenario files are at most {MAX_FILE_BYTES} bytes",
                    bytes.len()
                ),
            ));
        }
        if let Some(offset) = bytes.iter().position(|b| *b == 0) {
            return Err(ScenarioError::whole_file(
                file,
                format!("is a binary file (NUL byte at offset {offset}); scenarios are YAML text"),
            ));
        }
        let text = std::str::from_utf8(bytes).map_err(|error| {
            ScenarioError::whole_file(
                file,
                format!(
                    "is not UTF-8 text (invalid byte at offset {}); scenarios are YAML text",
                    error.valid_up_to()
                ),
            )
        })?;
        let mut parsed = parse_yaml(text, file);
        let mut diagnostics = std::mem::take(&mut parsed.diagnostics);
        // In file order; problems without a line (whole-file bounds) last.
        let in_order = |mut diagnostics: Vec<Diagnostic>| {
            diagnostics.sort_by_key(|d| (d.line.is_none(), d.line, d.column));
            ScenarioError { diagnostics }
        };
        // A file that parsed only with fields renamed or left out is still
        // checked, so that every problem is named at once; what follows
        // from a field left out is not reported again.
        let Some(mut scenario) = parsed.scenario.take() else {
            return Err(in_order(diagnostics));
        };
        if let Err(error) = resolve_sample_files(&mut scenario, file, text, base_dir) {
            diagnostics.extend(error.diagnostics);
        }
        let checked = check(&scenario, file);
        let later = |found: Vec<Diagnostic>| -> Vec<Diagnostic> {
            found
                .into_iter()
                .map(|d| parsed.in_file(d))
                .filter(|d| parsed.unrelated(d))
                .collect()
        };
        diagnostics.extend(later(checked.diagnostics));
        let warnings = later(checked.warnings);
        if diagnostics.is_empty() {
            scenario.warnings = warnings;
            Ok(scenario)
        } else {
            Err(in_order(diagnostics))
        }
    }

    /// The fill detector configuration the scenario's `engine:` section
    /// describes, on top of the engine's defaults.
    ///
    /// # Errors
    /// What is wrong with the polling section or the resulting configuration.
    pub fn detection_config(&self) -> Result<FillDetectionConfig, String> {
        let spec = &self.engine;
        let mut config = FillDetectionConfig::default();
        if let Some(timeout) = &spec.timeout {
            config.timeout = timeout.value.0;
        }
        if let Some(horizon) = &spec.reconcile_horizon {
            config.reconcile_horizon = horizon.value.0;
        }
        if let Some(polling) = &spec.polling {
            config.polling = polling_config(&polling.value)?;
        }
        if let Some(final_verification) = spec.final_verification {
            config.final_verification = final_verification;
        }
        if let Some(max_retries) = spec.max_retries {
            config.retry.max_retries = max_retries;
        }
        if let Some(policy) = spec.partial_fills {
            config.partial_fill_policy = match policy {
                PartialPolicySpec::CancelRemainder => PartialFillPolicy::CancelRemainder,
                PartialPolicySpec::KeepWorking => PartialFillPolicy::KeepWorking {
                    extension: config.timeout,
                },
            };
        }
        // The field first, as the scenario spells it under `engine:`.
        config
            .validate()
            .map_err(|error| format!("{} {}", error.field, error.problem))?;
        Ok(config)
    }

    /// The `expect:` thresholds, parsed.
    ///
    /// # Errors
    /// The first threshold that does not parse (a loaded scenario has none).
    pub fn expectations(&self) -> Result<Vec<Expectation>, String> {
        self.expect
            .iter()
            .map(|(metric, text)| Expectation::parse(metric, &text.value))
            .collect()
    }
}

/// The strategies `engine.polling.strategy` accepts.
pub const STRATEGIES: &[&str] = &["fixed", "linear", "exponential", "adaptive", "hybrid"];

/// A polling configuration from its scenario spelling.
///
/// # Errors
/// A missing or extra parameter, or an unknown strategy.
pub fn polling_config(spec: &PollingSpec) -> Result<PollingConfig, String> {
    let need = |value: Option<crate::duration::Dur>, name: &str| {
        value
            .map(|d| d.0)
            .ok_or_else(|| format!("strategy `{}` needs `{name}`", spec.strategy))
    };
    let refuse = |present: bool, name: &str| {
        if present {
            Err(format!(
                "strategy `{}` does not take `{name}`",
                spec.strategy
            ))
        } else {
            Ok(())
        }
    };
    let adaptive_only = [
        (spec.first.is_some(), "first"),
        (spec.cruise.is_some(), "cruise"),
        (spec.growth.is_some(), "growth"),
        (spec.patience.is_some(), "patience"),
        (spec.endgame.is_some(), "endgame"),
        (spec.endgame_interval.is_some(), "endgame_interval"),
    ];
    if spec.strategy != "adaptive" {
        for (present, name) in adaptive_only {
            refuse(present, name)?;
        }
    }
    if spec.strategy != "hybrid" {
        refuse(spec.safety.is_some(), "safety")?;
    }
    match spec.strategy.as_str() {
        "hybrid" => {
            for (present, name) in [
                (spec.interval.is_some(), "interval"),
                (spec.initial.is_some(), "initial"),
                (spec.step.is_some(), "step"),
                (spec.factor.is_some(), "factor"),
                (spec.max.is_some(), "max"),
            ] {
                refuse(present, name)?;
            }
            Ok(spec
                .safety
                .map_or_else(PollingConfig::hybrid_default, |safety| {
                    PollingConfig::Hybrid { safety: safety.0 }
                }))
        }
        "adaptive" => {
            refuse(spec.interval.is_some(), "interval")?;
            refuse(spec.initial.is_some(), "initial")?;
            refuse(spec.step.is_some(), "step")?;
            refuse(spec.factor.is_some(), "factor")?;
            let mut adaptive = AdaptivePolling::default();
            if let Some(first) = spec.first {
                adaptive.first = first.0;
            }
            if let Some(cruise) = spec.cruise {
                adaptive.cruise = cruise.0;
            }
            if let Some(patience) = spec.patience {
                adaptive.patience = patience;
            }
            if let Some(growth) = spec.growth {
                adaptive.growth = growth;
            }
            if let Some(max) = spec.max {
                adaptive.max = max.0;
            }
            if let Some(endgame) = spec.endgame {
                adaptive.endgame = endgame.0;
            }
            if let Some(interval) = spec.endgame_interval {
                adaptive.endgame_interval = interval.0;
            }
            Ok(PollingConfig::Adaptive(adaptive))
        }
        "fixed" => {
            refuse(spec.initial.is_some(), "initial")?;
            refuse(spec.step.is_some(), "step")?;
            refuse(spec.factor.is_some(), "factor")?;
            refuse(spec.max.is_some(), "max")?;
            Ok(PollingConfig::Fixed {
                interval: need(spec.interval, "interval")?,
            })
        }
        "linear" => {
            refuse(spec.interval.is_some(), "interval")?;
            refuse(spec.factor.is_some(), "factor")?;
            Ok(PollingConfig::Linear {
                initial: need(spec.initial, "initial")?,
                step: need(spec.step, "step")?,
                max: need(spec.max, "max")?,
            })
        }
        "exponential" => {
            refuse(spec.interval.is_some(), "interval")?;
            refuse(spec.step.is_some(), "step")?;
            Ok(PollingConfig::Exponential {
                initial: need(spec.initial, "initial")?,
                factor: spec.factor.unwrap_or(2.0),
                max: need(spec.max, "max")?,
            })
        }
        other => Err(format!(
            "unknown strategy `{other}`{}; expected one of {}",
            did_you_mean(other, STRATEGIES),
            STRATEGIES.join(", ")
        )),
    }
}

fn yaml_options() -> Options {
    let mut options = Options::default();
    // Scenario files are small and shallow; these bounds refuse alias bombs
    // and pathological nesting long before they cost time or memory.
    let mut budget = Budget::default();
    budget.max_depth = 32;
    budget.max_nodes = 200_000;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_documents = 1;
    options.budget = Some(budget);
    options
}

/// Most problems the typed parse reports from one file before it stops
/// reading on (each costs a parse of the file).
pub const MAX_PARSE_PROBLEMS: usize = 50;

/// Why one typed parse of the file stopped.
struct Failure {
    diagnostic: Diagnostic,
    /// The field at fault, when the parse knew it.
    steps: Option<Vec<Step>>,
    /// The close known name of a misspelt field.
    suggestion: Option<String>,
}

/// What the typed parse of a file made of it.
struct Parsed {
    /// The scenario, when the parse got through (perhaps after fields at
    /// fault were renamed or left out).
    scenario: Option<Scenario>,
    /// The problems met on the way, in the order met.
    diagnostics: Vec<Diagnostic>,
    /// The fields left out to read on: checks that follow do not report
    /// them, or the fields holding them, as missing.
    removed: Vec<String>,
    /// The misspelt keys renamed to read on, in the order made.
    renames: Vec<Rename>,
    /// The sequence items left out (the sequence's field and the item's
    /// index, as the text then had them), in the order made.
    items_removed: Vec<(String, usize)>,
}

impl Parsed {
    /// `field` as the file names it, before any item was left out.
    fn field_in_file(&self, field: &str) -> String {
        self.items_removed
            .iter()
            .rev()
            .fold(field.to_owned(), |field, (sequence, index)| {
                crate::recover::before_removal(&field, sequence, *index)
            })
    }

    /// `diagnostic` with its field and column as in the file, before any
    /// item was left out or key renamed.
    fn in_file(&self, mut diagnostic: Diagnostic) -> Diagnostic {
        diagnostic.field = diagnostic.field.map(|field| self.field_in_file(&field));
        if let (Some(line), Some(column)) = (diagnostic.line, diagnostic.column) {
            diagnostic.column = Some(
                self.renames
                    .iter()
                    .rev()
                    .fold(column, |column, rename| rename.undo(line, column)),
            );
        }
        diagnostic
    }

    /// Reports where the file stops being YAML, unless the typed parse
    /// already stopped there.
    fn not_yaml(&mut self, file: &str, error: &serde_saphyr::Error) {
        let Some(location) = error.location() else {
            return;
        };
        let (line, column) = (location.line(), location.column());
        if self
            .diagnostics
            .iter()
            .any(|d| d.line == Some(line) && d.column == Some(column))
        {
            return;
        }
        self.diagnostics.push(Diagnostic {
            file: file.to_owned(),
            line: Some(line).filter(|l| *l > 0),
            column: Some(column).filter(|c| *c > 0),
            field: None,
            message: UserMessageFormatter.format_message(error).into_owned(),
        });
    }

    /// False for a diagnostic about a field left out, or one holding it or
    /// held by it: it follows from a problem already reported.
    fn unrelated(&self, diagnostic: &Diagnostic) -> bool {
        let Some(field) = diagnostic.field.as_deref().filter(|f| !f.is_empty()) else {
            return true;
        };
        !self
            .removed
            .iter()
            .any(|gone| crate::recover::holds(field, gone) || crate::recover::holds(gone, field))
    }
}

/// Parses the file, reading on past each problem (see [`crate::recover`])
/// to report every one, up to [`MAX_PARSE_PROBLEMS`].
fn parse_yaml(text: &str, file: &str) -> Parsed {
    let mut current = std::borrow::Cow::Borrowed(text);
    // The tree of `current`, once a patch made it.
    let mut patched_root = None;
    let mut parsed = Parsed {
        scenario: None,
        diagnostics: Vec::new(),
        removed: Vec::new(),
        renames: Vec::new(),
        items_removed: Vec::new(),
    };
    // Each round either ends or reports a problem or leaves a field out,
    // and reads the text at most twice; all rounds together read at most
    // 64 MiB.
    let rounds = (32 * 1024 * 1024 / text.len().max(1)).clamp(2, MAX_PARSE_PROBLEMS * 4);
    for _ in 0..rounds {
        let failure = match parse_once(&current, file) {
            Ok(scenario) => {
                parsed.scenario = Some(scenario);
                break;
            }
            Err(failure) => *failure,
        };
        let field = failure.steps.as_deref().map(crate::recover::field_name);
        let field_in_file = field.as_deref().map(|f| parsed.field_in_file(f));
        // An error where a field was left out (a required field now
        // missing) follows from a problem already reported.
        let follows = field_in_file.as_deref().is_some_and(|field| {
            parsed
                .removed
                .iter()
                .any(|removed| crate::recover::holds(field, removed))
        });
        if !follows {
            let diagnostic = parsed.in_file(failure.diagnostic);
            parsed.diagnostics.push(diagnostic);
            if parsed.diagnostics.len() >= MAX_PARSE_PROBLEMS {
                break;
            }
        }
        let (Some(mut steps), Some(field_in_file)) = (failure.steps, field_in_file) else {
            break;
        };
        while matches!(steps.last(), Some(Step::Key { phantom: true, .. })) {
            steps.pop();
        }
        let root = match patched_root.take() {
            Some(root) => root,
            None => match crate::recover::tree(&current, yaml_options()) {
                Ok(root) => root,
                Err(error) => {
                    parsed.not_yaml(file, &error);
                    break;
                }
            },
        };
        let renamed = failure
            .suggestion
            .filter(|_| !follows)
            .and_then(|to| crate::recover::rename(&current, &root, &steps, &to));
        let patched = if let Some((text, rename)) = renamed {
            parsed.renames.push(rename);
            text
        } else if let Some(text) = crate::recover::remove(&current, &root, &steps) {
            if let Some(Step::Index(index)) = steps.last() {
                let sequence = crate::recover::field_name(&steps[..steps.len() - 1]);
                parsed.items_removed.push((sequence, *index));
            }
            parsed.removed.push(field_in_file);
            text
        } else {
            break;
        };
        // A patch that leaves no YAML (a removed anchor an alias still
        // names) would only report problems of its own making.
        match crate::recover::tree(&patched, yaml_options()) {
            Ok(root) => patched_root = Some(root),
            Err(_) => break,
        }
        current = std::borrow::Cow::Owned(patched);
    }
    parsed
}

/// One typed parse of the text, stopping at its first error.
fn parse_once(text: &str, file: &str) -> Result<Scenario, Box<Failure>> {
    let mut steps = None;
    let result =
        serde_saphyr::with_deserializer_from_str_with_options(text, yaml_options(), |de| {
            serde_path_to_error::deserialize::<_, Scenario>(de).map_err(|error| {
                steps = Some(crate::recover::steps(error.path()));
                error.into_inner()
            })
        });
    result.map_err(|error| {
        let location = error.location();
        let message = UserMessageFormatter.format_message(&error).into_owned();
        let steps = steps.flatten();
        let field = steps
            .as_deref()
            .map(crate::recover::field_name)
            .filter(|p| !p.is_empty());
        let (message, suggestion) = with_suggestion(&message);
        Box::new(Failure {
            diagnostic: Diagnostic {
                file: file.to_owned(),
                line: location.map(|l| l.line()).filter(|l| *l > 0),
                column: location.map(|l| l.column()).filter(|c| *c > 0),
                field,
                message,
            },
            steps,
            suggestion,
        })
    })
}

/// Adds "did you mean" to serde's unknown field and unknown variant
/// messages: "unknown field `nmae`, expected one of `name`, `seed`"; the
/// suggested name of an unknown field beside it.
fn with_suggestion(message: &str) -> (String, Option<String>) {
    let field = message.starts_with("unknown field `");
    let Some(rest) = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))
    else {
        return (message.to_owned(), None);
    };
    let Some((name, tail)) = rest.split_once('`') else {
        return (message.to_owned(), None);
    };
    let Some((_, list)) = tail.split_once("expected one of ") else {
        return (message.to_owned(), None);
    };
    let known: Vec<String> = list
        .split(", ")
        .map(|s| s.trim_matches('`').to_owned())
        .collect();
    let known_refs: Vec<&str> = known.iter().map(String::as_str).collect();
    match crate::suggest::closest(name, &known_refs) {
        Some(closest) => (
            format!("{message}{}", did_you_mean(name, &known_refs)),
            field.then(|| closest.to_owned()),
        ),
        None => (message.to_owned(), None),
    }
}

/// Every distribution of a scenario, with its field path and whether its
/// values are durations: the places a `samples_file` may stand.
fn distributions_mut(scenario: &mut Scenario) -> Vec<(String, &mut Dist, bool)> {
    let mut out: Vec<(String, &mut Dist, bool)> = Vec::new();
    let workload = &mut scenario.workload;
    if let Some(arrival) = &mut workload.arrival {
        out.push(("workload.arrival".into(), &mut arrival.0, true));
    }
    out.push(("workload.qty".into(), &mut workload.qty.0, false));
    let broker = &mut scenario.broker;
    for (endpoint, latency) in &mut broker.latency {
        match latency {
            LatencySpec::RoundTrip(d) => {
                out.push((format!("broker.latency.{endpoint}"), &mut d.0, true));
            }
            LatencySpec::Legs { request, response } => {
                out.push((
                    format!("broker.latency.{endpoint}.request"),
                    &mut request.0,
                    true,
                ));
                out.push((
                    format!("broker.latency.{endpoint}.response"),
                    &mut response.0,
                    true,
                ));
            }
        }
    }
    out.push(("broker.fill.delay".into(), &mut broker.fill.delay.0, true));
    out.push((
        "broker.fill.slippage_bps".into(),
        &mut broker.fill.slippage_bps.0,
        false,
    ));
    if let Some(partial) = &mut broker.fill.partial {
        out.push((
            "broker.fill.partial.spacing".into(),
            &mut partial.spacing.0,
            true,
        ));
    }
    let visibility = &mut broker.visibility;
    out.push((
        "broker.visibility.status_lag".into(),
        &mut visibility.status_lag.0,
        true,
    ));
    if let Some(stale) = &mut visibility.stale_reads {
        out.push((
            "broker.visibility.stale_reads.age".into(),
            &mut stale.age.0,
            true,
        ));
    }
    out.push((
        "broker.position_lag".into(),
        &mut broker.position_lag.0,
        true,
    ));
    out.push((
        "broker.rejections.async_delay".into(),
        &mut broker.rejections.async_delay.0,
        true,
    ));
    if let Some(stream) = &mut broker.stream {
        out.push(("broker.stream.delay".into(), &mut stream.delay.0, true));
        if let Some(disconnects) = &mut stream.disconnects {
            out.push((
                "broker.stream.disconnects.every".into(),
                &mut disconnects.value.every.0,
                true,
            ));
            out.push((
                "broker.stream.disconnects.down_for".into(),
                &mut disconnects.value.down_for.0,
                true,
            ));
        }
    }
    out
}

/// Replaces every `samples_file` with the samples it holds, read relative
/// to `base_dir` (the scenario file's folder).
fn resolve_sample_files(
    scenario: &mut Scenario,
    file: &str,
    text: &str,
    base_dir: Option<&Path>,
) -> Result<(), ScenarioError> {
    let mut diagnostics = Vec::new();
    for (field, dist, durations) in distributions_mut(scenario) {
        let Dist::SamplesFile(relative) = &*dist else {
            continue;
        };
        let full = base_dir.map_or_else(
            || Path::new(relative).to_path_buf(),
            |dir| dir.join(relative),
        );
        match read_samples(&full, durations) {
            Ok(values) => *dist = Dist::Samples(values),
            Err(message) => diagnostics.push(Diagnostic {
                file: file.to_owned(),
                line: line_of_samples_file(text, relative),
                column: None,
                field: Some(field),
                message: format!("samples_file `{}`: {message}", full.display()),
            }),
        }
    }
    if diagnostics.is_empty() {
        Ok(())
    } else {
        Err(ScenarioError { diagnostics })
    }
}

/// The line (from 1) of the first `samples_file` naming `path`.
fn line_of_samples_file(text: &str, path: &str) -> Option<u64> {
    text.lines()
        .position(|line| line.contains("samples_file") && line.contains(path))
        .and_then(|index| u64::try_from(index + 1).ok())
}

/// The bytes of a regular file of at most `limit` bytes. Anything else (a
/// folder, a device such as `/dev/zero`, a FIFO, a socket) is refused
/// before it is opened, and no more than `limit + 1` bytes are ever read,
/// so a file that grows after the check is refused too.
///
/// # Errors
/// What is wrong, in words for a person.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let metadata = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    if !metadata.is_file() {
        return Err(
            "is not a regular file (a folder, device, FIFO or socket); give the path of a file"
                .to_owned(),
        );
    }
    if metadata.len() > limit {
        return Err(format!(
            "is {} bytes; at most {limit} are read",
            metadata.len()
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!("grew past {limit} bytes while being read"));
    }
    Ok(bytes)
}

/// The text of a regular file of at most `limit` bytes, read as
/// [`read_bounded`] reads it; `hint` says what the file should hold when it
/// is not UTF-8.
///
/// # Errors
/// What is wrong, in words for a person.
pub fn read_bounded_text(path: &Path, limit: u64, hint: &str) -> Result<String, String> {
    String::from_utf8(read_bounded(path, limit)?).map_err(|e| {
        format!(
            "is not UTF-8 text (invalid byte at offset {}); {hint}",
            e.utf8_error().valid_up_to()
        )
    })
}

/// One value a line (durations, or plain numbers when `durations` is
/// false); blank lines and `#` comments are skipped.
fn read_samples(path: &Path, durations: bool) -> Result<Vec<f64>, String> {
    let text = read_bounded_text(path, MAX_SAMPLES_FILE_BYTES, "write one value a line")?;
    let mut values = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let value = if durations {
            parse_duration(line)
                .map_err(|e| format!("line {}: {e}", number + 1))?
                .as_secs_f64()
        } else {
            line.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("line {}: `{line}` is not a number", number + 1))?
        };
        values.push(value);
    }
    if values.is_empty() {
        return Err("holds no samples; write one value a line".to_owned());
    }
    Ok(values)
}

/// `value is out of range; allowed: low to high`.
fn out_of_range(value: impl std::fmt::Display, low: Decimal, high: Decimal) -> String {
    format!("is {value}, out of range; allowed: {low} to {high}")
}

/// Prices, quantities and money within the engine's bounds, so that no
/// arithmetic on them can overflow (see `fillproof_engine::MAX_PRICE` and
/// its neighbours).
fn check_bounds(scenario: &Scenario, c: &mut Checker<'_>) {
    let workload = &scenario.workload;
    for (symbol, price) in &workload.reference_price.value {
        if !price_in_range(price.0) {
            c.at(
                Some(workload.reference_price.referenced),
                format!("workload.reference_price.{symbol}"),
                out_of_range(price.0, MIN_PRICE, MAX_PRICE),
            );
        }
    }
    let most = workload.qty.0.upper_bound();
    if let Some(most) = most.filter(|q| *q > 1e9) {
        c.at(
            None,
            "workload.qty",
            format!("can draw {most}, out of range; allowed: 1 to {MAX_QTY}"),
        );
    }
    let commission = scenario.engine.commission.as_ref();
    let money = [
        (
            "broker.account.buying_power",
            scenario.broker.account.buying_power.map(|p| p.0),
        ),
        (
            "engine.risk.daily_loss_limit",
            scenario
                .engine
                .risk
                .as_ref()
                .and_then(|r| r.daily_loss_limit)
                .map(|p| p.0),
        ),
        (
            "engine.commission.per_order",
            commission.and_then(|c| c.per_order).map(|p| p.0),
        ),
        (
            "engine.commission.per_share",
            commission.and_then(|c| c.per_share).map(|p| p.0),
        ),
    ];
    for (field, amount) in money {
        if let Some(amount) = amount.filter(|a| *a > MAX_AMOUNT) {
            c.at(None, field, out_of_range(amount, Decimal::ZERO, MAX_AMOUNT));
        }
    }
}

struct Checker<'a> {
    file: &'a str,
    diagnostics: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn diagnostic(
        &self,
        location: Option<Location>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            file: self.file.to_owned(),
            line: location.map(|l| l.line()).filter(|l| *l > 0),
            column: location.map(|l| l.column()).filter(|c| *c > 0),
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// A problem: the file is refused.
    fn at(
        &mut self,
        location: Option<Location>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        let diagnostic = self.diagnostic(location, field, message);
        self.diagnostics.push(diagnostic);
    }

    /// A warning: the file loads, and the warning is shown beside it.
    fn warn(
        &mut self,
        location: Option<Location>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        let diagnostic = self.diagnostic(location, field, message);
        self.warnings.push(diagnostic);
    }
}

/// The checks that span several fields: the problems, and the warnings.
fn check<'a>(scenario: &Scenario, file: &'a str) -> Checker<'a> {
    let mut c = Checker {
        file,
        diagnostics: Vec::new(),
        warnings: Vec::new(),
    };
    if scenario.version.value != FORMAT_VERSION {
        c.at(
            Some(scenario.version.referenced),
            "version",
            format!(
                "is {}; this build reads version {FORMAT_VERSION}",
                scenario.version.value
            ),
        );
    }
    let workload = &scenario.workload;
    let orders = workload.orders.value;
    if orders == 0 || orders > MAX_ORDERS {
        c.at(
            Some(workload.orders.referenced),
            "workload.orders",
            format!("is {orders}; allowed: 1 to {MAX_ORDERS}"),
        );
    }
    check_listed_orders(scenario, &mut c);
    if workload.traders == 0 {
        c.at(
            None,
            "workload.traders",
            "is 0; at least one trader places the orders",
        );
    }
    if workload.symbols.value.is_empty() {
        c.at(
            Some(workload.symbols.referenced),
            "workload.symbols",
            "is empty; list at least one symbol",
        );
    }
    let prices = &workload.reference_price.value;
    for symbol in &workload.symbols.value {
        if !prices.contains_key(symbol) {
            c.at(
                Some(workload.reference_price.referenced),
                "workload.reference_price",
                format!("has no price for symbol `{symbol}`; add `{symbol}: \"PRICE\"`"),
            );
        }
    }
    if let Some(polling) = &scenario.engine.polling {
        if let Err(message) = polling_config(&polling.value) {
            c.at(Some(polling.referenced), "engine.polling", message);
        }
        if polling.value.strategy == "hybrid" && scenario.broker.stream.is_none() {
            c.at(
                Some(polling.referenced),
                "engine.polling",
                "strategy `hybrid` detects from the broker's trade updates; add `broker.stream` (e.g. `stream: {delay: 40ms}`) or choose another strategy",
            );
        }
    }
    if let Some(disconnects) = scenario
        .broker
        .stream
        .as_ref()
        .and_then(|s| s.disconnects.as_ref())
    {
        if disconnects.value.every.0.upper_bound() == Some(0.0) {
            c.at(
                Some(disconnects.referenced),
                "broker.stream.disconnects.every",
                "is 0s; the stream must stay connected for a positive time between disconnects",
            );
        } else {
            check_flap_rate(disconnects, scenario.limits.max_virtual_time.0, &mut c);
        }
    }
    warn_waits_past_deadline(scenario, &mut c);
    if let Err(message) = scenario.detection_config() {
        let engine = &scenario.engine;
        if engine
            .polling
            .as_ref()
            .is_none_or(|p| polling_config(&p.value).is_ok())
        {
            // The line of the setting at fault, when the scenario has it.
            let line = [
                ("polling.", engine.polling.as_ref().map(|p| p.referenced)),
                ("timeout", engine.timeout.as_ref().map(|t| t.referenced)),
                (
                    "reconcile_horizon",
                    engine.reconcile_horizon.as_ref().map(|t| t.referenced),
                ),
                (
                    "partial_fill_policy",
                    engine.timeout.as_ref().map(|t| t.referenced),
                ),
            ]
            .into_iter()
            .find(|(field, _)| message.starts_with(field))
            .and_then(|(_, line)| line);
            let (field, problem) = message.split_once(' ').unwrap_or(("", &message));
            c.at(line, format!("engine.{field}"), problem);
        }
    }
    if let Some(limit) = &scenario.engine.call_timeout {
        let submit = FillDetectionConfig::default().submit_timeout;
        if limit.value.0.is_zero() || limit.value.0 > submit {
            c.at(
                Some(limit.referenced),
                "engine.call_timeout",
                format!(
                    "is {}; it must be positive and at most the submit deadline ({})",
                    crate::duration::format_duration(limit.value.0),
                    crate::duration::format_duration(submit)
                ),
            );
        }
    }
    for (endpoint, fault) in &scenario.broker.faults {
        let total: f64 = fault.value.probabilities().iter().sum();
        if total > 1.0 + 1e-12 {
            c.at(
                Some(fault.referenced),
                format!("broker.faults.{endpoint}"),
                format!("fault probabilities add up to {total}; their sum must be at most 1"),
            );
        }
    }
    let visibility = &scenario.broker.visibility;
    if !visibility.status_spelling.is_empty() {
        let total: f64 = visibility.status_spelling.values().map(|w| w.0).sum();
        if total <= 0.0 {
            c.at(
                None,
                "broker.visibility.status_spelling",
                "weights add up to 0; give at least one spelling a positive weight",
            );
        }
        for spelling in visibility.status_spelling.keys() {
            if spelling.trim().is_empty() {
                c.at(
                    None,
                    "broker.visibility.status_spelling",
                    "has an empty spelling",
                );
            }
        }
    }
    // The engine's client-side limit and the broker's bucket obey the same
    // rules; the engine refuses at run time what is let through here.
    for (section, limit) in [
        (
            "engine",
            &scenario
                .engine
                .rate_limit
                .as_ref()
                .and_then(EngineRateLimit::limit),
        ),
        ("broker", &scenario.broker.rate_limit.as_ref()),
    ] {
        let Some(limit) = limit else { continue };
        if limit.requests.value == 0 {
            c.at(
                Some(limit.requests.referenced),
                format!("{section}.rate_limit.requests"),
                "is 0; allow at least 1 request per window",
            );
        }
        if limit.per.0.is_zero() {
            c.at(
                Some(limit.requests.referenced),
                format!("{section}.rate_limit.per"),
                "is 0s; the window must be positive",
            );
        }
    }
    let stream_outages = scenario
        .broker
        .stream
        .as_ref()
        .map_or(&[][..], |s| &s.outages[..]);
    for (section, outages) in [
        ("broker.outages", &scenario.broker.outages[..]),
        ("broker.stream.outages", stream_outages),
    ] {
        for (i, outage) in outages.iter().enumerate() {
            if outage.duration.0.is_zero() {
                c.at(
                    None,
                    format!("{section}[{i}].for"),
                    "is 0s; an outage must last a positive time",
                );
            }
        }
    }
    check_bounds(scenario, &mut c);
    for (i, event) in scenario.timeline.iter().enumerate() {
        check_timeline_event(i, event, orders, &mut c);
    }
    check_timeline_orders(scenario, &mut c);
    for (i, event) in scenario.timeline.iter().enumerate() {
        if event.event.value != TimelineKind::Reject {
            continue;
        }
        let filled_before = scenario.timeline.iter().find(|other| {
            other.event.value == TimelineKind::Fill
                && crate::model::OrderTarget::of(other) == crate::model::OrderTarget::of(event)
                && other.at() <= event.at()
        });
        if let Some(fill) = filled_before {
            c.at(
                Some(event.location()),
                format!("timeline[{i}].event"),
                format!(
                    "{} fills at {} and is rejected at {}; a broker never rejects an \
                     order that has filled any quantity: use `cancel` or `expire`, or move \
                     the rejection before the fill",
                    event.target_name(),
                    crate::duration::format_duration(fill.at()),
                    crate::duration::format_duration(event.at())
                ),
            );
        }
    }
    for (metric, text) in &scenario.expect {
        if let Err(message) = Expectation::parse(metric, &text.value) {
            c.at(Some(text.referenced), format!("expect.{metric}"), message);
        }
    }
    if scenario.limits.settle.0 > Duration::from_secs(86_400) {
        c.at(
            None,
            "limits.settle",
            "is over a day; the settle window is at most 1d",
        );
    }
    if scenario.limits.max_virtual_time.0.is_zero() {
        c.at(
            None,
            "limits.max_virtual_time",
            "is 0s; give runs a positive bound",
        );
    }
    c
}

/// Checks a listed workload: `orders` counts the list, each order has a
/// priced symbol, a whole positive quantity within the bounds, a limit
/// price exactly when it is a limit order, and the list is in submission
/// order.
fn check_listed_orders(scenario: &Scenario, c: &mut Checker<'_>) {
    let workload = &scenario.workload;
    let list = &workload.list;
    if list.is_empty() {
        return;
    }
    if usize::try_from(workload.orders.value).ok() != Some(list.len()) {
        c.at(
            Some(workload.orders.referenced),
            "workload.orders",
            format!(
                "is {} but workload.list has {} orders; make them equal",
                workload.orders.value,
                list.len()
            ),
        );
    }
    let mut previous = Duration::ZERO;
    for (i, order) in list.iter().enumerate() {
        let here = Some(order.referenced);
        let field = |name: &str| format!("workload.list[{i}].{name}");
        let order = &order.value;
        if !workload.reference_price.value.contains_key(&order.symbol) {
            c.at(
                here,
                field("symbol"),
                format!(
                    "`{}` has no reference price; add `{}: \"PRICE\"` to workload.reference_price",
                    order.symbol, order.symbol
                ),
            );
        }
        if order.qty == 0 || Decimal::from(order.qty) > MAX_QTY {
            c.at(
                here,
                field("qty"),
                format!("is {}; allowed: 1 to {MAX_QTY} whole shares", order.qty),
            );
        }
        match (order.order_type, order.limit_price) {
            (OrderKind::Limit, None) => c.at(
                here,
                field("limit_price"),
                "is missing; a limit order needs one",
            ),
            (OrderKind::Market, Some(_)) => c.at(
                here,
                field("limit_price"),
                "is set on a market order; add `type: limit` or remove it",
            ),
            (OrderKind::Limit, Some(price)) if !price_in_range(price.0) => {
                c.at(
                    here,
                    field("limit_price"),
                    out_of_range(price.0, MIN_PRICE, MAX_PRICE),
                );
            }
            _ => {}
        }
        if order.at.0 < previous {
            c.at(
                here,
                field("at"),
                format!(
                    "is {}, before the order above it ({}); list orders in submission order",
                    crate::duration::format_duration(order.at.0),
                    crate::duration::format_duration(previous)
                ),
            );
        }
        previous = previous.max(order.at.0);
    }
}

/// Most stream disconnects a run may expect within `limits.max_virtual_time`:
/// each is a window the stream keeps and a reconnect the engine answers
/// with a read of every open order, so a stream that flaps every
/// millisecond for a week would make a run explode.
pub const MAX_DISCONNECTS_PER_RUN: f64 = 1_000_000.0;

/// Refuses disconnects so frequent that a run could expect more than
/// [`MAX_DISCONNECTS_PER_RUN`] of them: the mean of `every` plus the mean of
/// `down_for` (one disconnect cycle) must be at least
/// `limits.max_virtual_time` / [`MAX_DISCONNECTS_PER_RUN`].
fn check_flap_rate(
    disconnects: &serde_saphyr::Spanned<crate::scenario::DisconnectSpec>,
    horizon: Duration,
    c: &mut Checker<'_>,
) {
    use crate::duration::format_duration;
    let (line, disconnects) = (disconnects.referenced, &disconnects.value);
    // The stream stays connected at least 1 ms between disconnects.
    let every = disconnects.every.0.mean().max(0.001);
    let down = disconnects.down_for.0.mean().max(0.0);
    let cycle = every + down;
    let expected = horizon.as_secs_f64() / cycle;
    if expected.is_nan() || expected <= MAX_DISCONNECTS_PER_RUN {
        return;
    }
    let least_cycle = horizon.as_secs_f64() / MAX_DISCONNECTS_PER_RUN;
    // Rounded to whole milliseconds and seconds, each on the safe side.
    let least_every = Duration::from_millis(((least_cycle - down).max(0.001) * 1e3).ceil() as u64);
    let longest_run = Duration::from_secs((cycle * MAX_DISCONNECTS_PER_RUN).floor() as u64);
    c.at(
        Some(line),
        "broker.stream.disconnects.every",
        format!(
            "averages {} between disconnects, each down for {} on average: about {expected:.0} \
             disconnects within `limits.max_virtual_time` ({}), and a run may expect at most \
             {MAX_DISCONNECTS_PER_RUN:.0}; make `every` average at least {}, or lower \
             `limits.max_virtual_time` to at most {}",
            format_duration(Duration::from_secs_f64(every)),
            format_duration(Duration::from_secs_f64(down)),
            format_duration(horizon),
            format_duration(least_every),
            format_duration(longest_run),
        ),
    );
}

/// Warns where a wait the engine is given is longer than the order's
/// deadline (`engine.timeout`), so that it can never take effect as meant.
fn warn_waits_past_deadline(scenario: &Scenario, c: &mut Checker<'_>) {
    use crate::duration::format_duration;
    let engine = &scenario.engine;
    let deadline = engine
        .timeout
        .as_ref()
        .map_or_else(|| FillDetectionConfig::default().timeout, |t| t.value.0);
    if let Some(shed_after) = engine.shed_after.as_ref().filter(|s| s.value.0 > deadline) {
        c.warn(
            Some(shed_after.referenced),
            "engine.shed_after",
            format!(
                "is {}, longer than the order's deadline (`engine.timeout`, {}): a submission \
                 may wait for a turn longer than the order is watched once placed; make it at \
                 most the deadline",
                format_duration(shed_after.value.0),
                format_duration(deadline)
            ),
        );
    }
    let safety = engine
        .polling
        .as_ref()
        .filter(|p| p.value.strategy == "hybrid")
        .and_then(|p| p.value.safety.map(|s| (p.referenced, s.0)))
        .filter(|(_, safety)| *safety > deadline);
    if let Some((line, safety)) = safety {
        c.warn(
            Some(line),
            "engine.polling.safety",
            format!(
                "is {}, longer than the order's deadline (`engine.timeout`, {}): an order the \
                 stream is quiet on gets no safety read before its deadline; make it shorter \
                 than the deadline",
                format_duration(safety),
                format_duration(deadline)
            ),
        );
    }
}

/// The fewest and most shares the workload can order for `target`: exact
/// for a listed order or a fixed `workload.qty`, the draw's bounds
/// otherwise, and any quantity for an order named by client order id.
fn qty_bounds(scenario: &Scenario, target: &OrderTarget) -> (u64, u64) {
    const MOST: u64 = 1_000_000_000;
    let workload = &scenario.workload;
    let OrderTarget::Index(index) = target else {
        return (1, MOST);
    };
    if let Some(order) = workload.list.get(*index as usize) {
        return (order.value.qty, order.value.qty);
    }
    // As the workload draws: rounded, at least 1 and at most a billion.
    let whole = |v: f64| {
        if v.is_finite() {
            v.round().clamp(1.0, 1e9) as u64
        } else {
            MOST
        }
    };
    let dist = &workload.qty.0;
    let least = match dist {
        Dist::Fixed(value) => whole(*value),
        Dist::Uniform { low, .. } => whole(*low),
        Dist::Samples(values) => values.iter().copied().reduce(f64::min).map_or(1, whole),
        _ => 1,
    };
    (least, dist.upper_bound().map_or(MOST, whole))
}

/// Checks each order's scripted story as a whole: none of its fills may
/// come after the order ends, it ends once, and its fills must fit its
/// quantity ([`check_timeline_quantities`]).
fn check_timeline_orders(scenario: &Scenario, c: &mut Checker<'_>) {
    let mut by_order: std::collections::BTreeMap<OrderTarget, Vec<(usize, &TimelineEvent)>> =
        std::collections::BTreeMap::new();
    for (i, event) in scenario.timeline.iter().enumerate() {
        if event.event.value == TimelineKind::Fault || event.at.is_none() {
            continue;
        }
        if let Some(target) = OrderTarget::of(event) {
            by_order.entry(target).or_default().push((i, event));
        }
    }
    for (target, events) in &mut by_order {
        // The order the broker applies them in (see `BrokerModel`).
        events.sort_by_key(|(_, event)| event.at());
        check_timeline_ends(events, c);
        check_timeline_quantities(scenario, target, events, c);
    }
}

/// Refuses a second end of one order's `events` (in time order), and any
/// fill after its first end.
fn check_timeline_ends(events: &[(usize, &TimelineEvent)], c: &mut Checker<'_>) {
    let ends: Vec<&(usize, &TimelineEvent)> = events
        .iter()
        .filter(|(_, e)| e.event.value != TimelineKind::Fill)
        .collect();
    let Some(&&(first_index, first)) = ends.first() else {
        return;
    };
    let ended = format!(
        "{} is {} at {} (`timeline[{first_index}]`, line {})",
        first.target_name(),
        end_word(first.event.value),
        crate::duration::format_duration(first.at()),
        first.location().line()
    );
    for &&(i, end) in &ends[1..] {
        c.at(
            Some(end.location()),
            format!("timeline[{i}].event"),
            format!("ends the order again: {ended}; an order ends once, remove one"),
        );
    }
    for &(i, fill) in events {
        if fill.event.value == TimelineKind::Fill && fill.at() > first.at() {
            c.at(
                Some(fill.location()),
                format!("timeline[{i}].at"),
                format!(
                    "fills at {}, after the order has ended: {ended}; move the fill to or \
                     before the end, or the end after the fill",
                    crate::duration::format_duration(fill.at())
                ),
            );
        }
    }
}

/// Refuses fills of one order's `events` (in time order) that no quantity
/// the workload can give it holds, and warns about fills that only some
/// drawn quantities hold (a run whose draw they do not fit is refused
/// before it starts).
fn check_timeline_quantities(
    scenario: &Scenario,
    target: &OrderTarget,
    events: &[(usize, &TimelineEvent)],
    c: &mut Checker<'_>,
) {
    let (least, most) = qty_bounds(scenario, target);
    let scripted: Vec<TimelineEvent> = events.iter().map(|(_, e)| (*e).clone()).collect();
    let field_of = |overfill: &crate::lifecycle::Overfill| {
        let (i, event) = events[overfill.event];
        let name = if event.qty.is_some() { "qty" } else { "event" };
        (event.location(), format!("timeline[{i}].{name}"))
    };
    let bound = match target {
        _ if least == most => String::new(),
        OrderTarget::Index(_) => format!(" (`workload.qty` draws at most {most} for it)"),
        OrderTarget::ClientOrderId(_) => " (no order is for more)".to_owned(),
    };
    if let Err(overfill) = crate::lifecycle::scripted_fills(&scripted, Decimal::from(most)) {
        let (location, field) = field_of(&overfill);
        c.at(
            Some(location),
            field,
            format!(
                "{} for {} of {most} shares{bound}; make its scripted fills add up to at most \
                 its quantity",
                overfill.problem, overfill.target
            ),
        );
    } else if matches!(target, OrderTarget::Index(_)) {
        // An order named by client order id is checked when it is placed.
        if let Err(overfill) = crate::lifecycle::scripted_fills(&scripted, Decimal::from(least)) {
            let (location, field) = field_of(&overfill);
            c.warn(
                Some(location),
                field,
                format!(
                    "{} for {} when `workload.qty` draws {least} for it (it draws {least} to \
                     {most}); a run whose draw is too small for the scripted fills is refused \
                     before it starts",
                    overfill.problem, overfill.target
                ),
            );
        }
    }
}

/// How a timeline end reads in a message.
fn end_word(kind: TimelineKind) -> &'static str {
    match kind {
        TimelineKind::Reject => "rejected",
        TimelineKind::Cancel => "canceled",
        TimelineKind::Expire => "expired",
        TimelineKind::Fill | TimelineKind::Fault => "filled",
    }
}

/// Checks one `timeline:` event: it names one order that exists, has a time
/// unless it is a `fault`, and carries only the fields its kind takes.
fn check_timeline_event(
    i: usize,
    event: &crate::scenario::TimelineEvent,
    orders: u32,
    c: &mut Checker<'_>,
) {
    let here = Some(event.location());
    match (&event.order, &event.client_order_id) {
        (Some(order), None) if order.value >= orders => c.at(
            Some(order.referenced),
            format!("timeline[{i}].order"),
            format!(
                "order {} does not exist; the workload has orders 0 to {}",
                order.value,
                orders.saturating_sub(1)
            ),
        ),
        (Some(_), None) => {}
        (None, Some(id)) if id.value.is_empty() => c.at(
            Some(id.referenced),
            format!("timeline[{i}].client_order_id"),
            "is empty; give the client's id for the order",
        ),
        (None, Some(_)) => {}
        (Some(_), Some(_)) => c.at(
            here,
            format!("timeline[{i}]"),
            "names its order twice; give `order` (the arrival index) or `client_order_id`, not both",
        ),
        (None, None) => c.at(
            here,
            format!("timeline[{i}]"),
            "names no order; give `order` (the arrival index, from 0) or `client_order_id`",
        ),
    }
    let kind = event.event.value;
    let is_fault = kind == TimelineKind::Fault;
    if is_fault {
        if event.call.is_none() {
            c.at(
                here,
                format!("timeline[{i}].call"),
                "is missing; a `fault` names the endpoint whose call it strikes: submit, \
                 get_order, get_order_by_client_id, cancel or get_position",
            );
        }
        if event.attempt == Some(0) {
            c.at(
                here,
                format!("timeline[{i}].attempt"),
                "is 0; calls are counted from 1 (the first call)",
            );
        }
        match &event.fault {
            None => c.at(
                here,
                format!("timeline[{i}].fault"),
                format!(
                    "is missing; a `fault` event names one of: {}",
                    FAULT_KINDS.join(", ")
                ),
            ),
            Some(fault) if crate::model::FaultKind::named(&fault.value).is_none() => c.at(
                Some(fault.referenced),
                format!("timeline[{i}].fault"),
                format!(
                    "`{}` is not a fault; use one of: {}",
                    fault.value,
                    FAULT_KINDS.join(", ")
                ),
            ),
            Some(_) => {}
        }
    } else {
        if event.at.is_none() {
            c.at(
                here,
                format!("timeline[{i}].at"),
                "is missing; say when the event happens, e.g. `at: 1.5s`",
            );
        }
        if event.call.is_some() || event.attempt.is_some() || event.fault.is_some() {
            c.at(
                here,
                format!("timeline[{i}]"),
                "only `fault` events take `call`, `attempt` and `fault`",
            );
        }
    }
    match kind {
        TimelineKind::Fill => {
            if event.qty == Some(0) {
                c.at(
                    here,
                    format!("timeline[{i}].qty"),
                    "is 0; a fill has a positive quantity",
                );
            }
            if let Some(price) = event.price.filter(|p| !price_in_range(p.0)) {
                c.at(
                    here,
                    format!("timeline[{i}].price"),
                    out_of_range(price.0, MIN_PRICE, MAX_PRICE),
                );
            }
        }
        _ => {
            if event.qty.is_some() || event.price.is_some() {
                c.at(
                    here,
                    format!("timeline[{i}]"),
                    "only `fill` events take `qty` and `price`",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of exactly the limit is read whole; one byte more is refused.
    #[test]
    fn read_bounded_takes_exactly_the_limit() {
        let dir = tempfile::Builder::new()
            .prefix("fillproof-bounded-")
            .tempdir()
            .expect("temp dir");
        let path = dir.path().join("eight.txt");
        std::fs::write(&path, b"12345678").expect("write");
        assert_eq!(read_bounded(&path, 8).expect("at the limit"), b"12345678");
        let error = read_bounded(&path, 7).expect_err("over the limit");
        assert_eq!(error, "is 8 bytes; at most 7 are read");
    }

    /// Serde's unknown-field message gains the closest known name.
    #[test]
    fn unknown_field_message_gains_suggestion() {
        let message = "unknown field `timout`, expected one of `timeout`, `polling`";
        assert_eq!(
            with_suggestion(message),
            (
                format!("{message} (did you mean `timeout`?)"),
                Some("timeout".to_owned())
            )
        );
        let unrelated = "unknown field `zzz`, expected one of `timeout`";
        assert_eq!(with_suggestion(unrelated), (unrelated.to_owned(), None));
    }
}
