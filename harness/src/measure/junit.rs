//! JUnit XML for CI systems that display test results.

use std::fmt::Write as _;
use std::path::Path;

/// One scenario's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    name: String,
    file: String,
    wall_ms: f64,
    problem: Option<(Kind, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Failure,
    Error,
}

impl Case {
    /// A scenario that met every threshold.
    #[must_use]
    pub fn pass(name: &str, file: &str, wall_ms: f64) -> Self {
        Self {
            name: name.to_owned(),
            file: file.to_owned(),
            wall_ms,
            problem: None,
        }
    }

    /// A scenario that fell short.
    #[must_use]
    pub fn failure(name: &str, file: &str, wall_ms: f64, message: &str) -> Self {
        Self {
            problem: Some((Kind::Failure, message.to_owned())),
            ..Self::pass(name, file, wall_ms)
        }
    }

    /// A scenario that could not run.
    #[must_use]
    pub fn error(name: &str, file: &str, message: &str) -> Self {
        Self {
            problem: Some((Kind::Error, message.to_owned())),
            ..Self::pass(name, file, 0.0)
        }
    }

    /// True when it passed.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.problem.is_none()
    }
}

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&apos;".to_owned(),
            c if c.is_control() && c != '\n' && c != '\t' => " ".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// The XML for `cases`.
#[must_use]
pub fn render(cases: &[Case]) -> String {
    let failures = cases
        .iter()
        .filter(|c| matches!(c.problem, Some((Kind::Failure, _))))
        .count();
    let errors = cases
        .iter()
        .filter(|c| matches!(c.problem, Some((Kind::Error, _))))
        .count();
    let total_ms: f64 = cases.iter().map(|c| c.wall_ms).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuite name=\"fillproof gate\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{:.3}\">",
        cases.len(),
        total_ms / 1000.0
    );
    for case in cases {
        let _ = write!(
            xml,
            "  <testcase classname=\"fillproof.gate\" name=\"{}\" file=\"{}\" time=\"{:.3}\"",
            escape(&case.name),
            escape(&case.file),
            case.wall_ms / 1000.0
        );
        match &case.problem {
            None => xml.push_str("/>\n"),
            Some((kind, message)) => {
                let tag = match kind {
                    Kind::Failure => "failure",
                    Kind::Error => "error",
                };
                let first = message.lines().next().unwrap_or_default();
                let _ = writeln!(
                    xml,
                    ">\n    <{tag} message=\"{}\">{}</{tag}>\n  </testcase>",
                    escape(first),
                    escape(message)
                );
            }
        }
    }
    xml.push_str("</testsuite>\n");
    xml
}

/// Writes the XML for `cases` to `path`.
///
/// # Errors
/// The file system's error.
pub fn write_junit(path: &Path, cases: &[Case]) -> std::io::Result<()> {
    std::fs::write(path, render(cases))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts, escaping and the failure body come out as JUnit expects.
    #[test]
    fn renders_counts_and_escapes() {
        let xml = render(&[
            Case::pass("a", "a.yaml", 1500.0),
            Case::failure("b<1>", "b.yaml", 20.0, "detection_rate >= 1 fell short"),
            Case::error("c", "c.yaml", "bad & broken"),
        ]);
        assert!(
            xml.contains("tests=\"3\" failures=\"1\" errors=\"1\""),
            "{xml}"
        );
        assert!(xml.contains("name=\"b&lt;1&gt;\""), "{xml}");
        assert!(
            xml.contains("<error message=\"bad &amp; broken\">"),
            "{xml}"
        );
        assert!(xml.contains("time=\"1.500\""), "{xml}");
    }
}
