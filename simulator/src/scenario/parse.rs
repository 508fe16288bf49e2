//! The typed parse of a scenario file, reading on past each problem (see
//! [`crate::recover`]) to report every one.

use serde_saphyr::{Budget, MessageFormatter, Options, Spanned, UserMessageFormatter};

use super::Scenario;
use crate::error::Diagnostic;
use crate::recover::{Node, Rename, Step};
use fillproof_engine::did_you_mean;

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
pub(super) struct Parsed {
    /// The scenario, when the parse got through (perhaps after fields at
    /// fault were renamed or left out).
    pub(super) scenario: Option<Scenario>,
    /// The problems met on the way, in the order met.
    pub(super) diagnostics: Vec<Diagnostic>,
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
    pub(super) fn in_file(&self, mut diagnostic: Diagnostic) -> Diagnostic {
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

    /// True when an error at `field` follows from a field left out (a
    /// required field now missing): a problem already reported.
    fn follows(&self, field: Option<&str>) -> bool {
        field.is_some_and(|field| {
            self.removed
                .iter()
                .any(|removed| crate::recover::holds(field, removed))
        })
    }

    /// `text` patched to read on past the field at `steps` (`field_in_file`
    /// as the file names it): a misspelt key renamed to `suggestion`, or
    /// else the field left out; `None` when neither can be done.
    fn patch(
        &mut self,
        text: &str,
        root: &Spanned<Node>,
        steps: &[Step],
        suggestion: Option<String>,
        field_in_file: String,
    ) -> Option<String> {
        let renamed = suggestion.and_then(|to| crate::recover::rename(text, root, steps, &to));
        if let Some((patched, rename)) = renamed {
            self.renames.push(rename);
            return Some(patched);
        }
        let patched = crate::recover::remove(text, root, steps)?;
        if let Some(Step::Index(index)) = steps.last() {
            let sequence = crate::recover::field_name(&steps[..steps.len() - 1]);
            self.items_removed.push((sequence, *index));
        }
        self.removed.push(field_in_file);
        Some(patched)
    }

    /// False for a diagnostic about a field left out, or one holding it or
    /// held by it: it follows from a problem already reported.
    pub(super) fn unrelated(&self, diagnostic: &Diagnostic) -> bool {
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
pub(super) fn parse_yaml(text: &str, file: &str) -> Parsed {
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
        let follows = parsed.follows(field_in_file.as_deref());
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
        let suggestion = failure.suggestion.filter(|_| !follows);
        let Some(patched) = parsed.patch(&current, &root, &steps, suggestion, field_in_file) else {
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
    match fillproof_engine::closest(name, &known_refs) {
        Some(closest) => (
            format!("{message}{}", did_you_mean(name, &known_refs)),
            field.then(|| closest.to_owned()),
        ),
        None => (message.to_owned(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
