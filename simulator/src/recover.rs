//! Reading on past a problem, so that `check` names every problem of a
//! file, not only the first.
//!
//! The typed parse stops at its first error. To go on, the file's text is
//! patched where the error is and parsed again: a misspelt field that has
//! one close known name is renamed to it, so the rest of its value is
//! still checked; any other field at fault (an unknown one, an
//! out-of-range value) is blanked out with spaces, so that every other
//! line and column stays where it was. The places come from a generic tree
//! of the file with the source span of every node.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_path_to_error::Segment;
use serde_saphyr::{Options, Spanned};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// A mapping key, or an enum variant (written as a key in YAML).
    Key {
        /// The key.
        name: String,
        /// True for a step the file may not have: the `value` of a
        /// `Spanned` wrapper, or an enum variant.
        phantom: bool,
    },
    /// A sequence index.
    Index(usize),
}

/// The steps of a field path as `serde_path_to_error` records it; `None`
/// when a step is unknown.
pub(crate) fn steps(path: &serde_path_to_error::Path) -> Option<Vec<Step>> {
    path.iter()
        .map(|segment| match segment {
            Segment::Seq { index } => Some(Step::Index(*index)),
            Segment::Map { key } => Some(Step::Key {
                phantom: key == "value",
                name: key.clone(),
            }),
            Segment::Enum { variant } => Some(Step::Key {
                name: variant.clone(),
                phantom: true,
            }),
            Segment::Unknown => None,
        })
        .collect()
}

/// The path as messages show it, `Spanned` wrappers left out:
/// `broker.faults.get_order.timeout`, `timeline[0].at`; empty at the root.
pub(crate) fn field_name(steps: &[Step]) -> String {
    let mut out = String::new();
    for step in steps {
        match step {
            Step::Index(index) => out.push_str(&format!("[{index}]")),
            Step::Key { name, phantom } if !(*phantom && name == "value") => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
            }
            Step::Key { .. } => {}
        }
    }
    out
}

/// True when `ancestor` is `field` or a field that holds it (the root
/// holds every field).
pub(crate) fn holds(ancestor: &str, field: &str) -> bool {
    ancestor.is_empty()
        || field == ancestor
        || field
            .strip_prefix(ancestor)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// A YAML node with its span in the text.
#[derive(Debug)]
pub(crate) enum Node {
    /// A scalar, as text.
    Scalar(String),
    /// A mapping: key and value nodes, in file order.
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
    /// A sequence.
    Seq(Vec<Spanned<Node>>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML node")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
                Ok(Node::Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Scalar(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Scalar(v.to_owned()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Scalar(String::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Scalar(String::new()))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
                Node::deserialize(d)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Node::Map(entries))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }
        }
        deserializer.deserialize_any(NodeVisitor)
    }
}

/// The file as a tree of spanned nodes.
///
/// # Errors
/// The YAML parser's, when the text is not YAML.
pub(crate) fn tree(text: &str, options: Options) -> Result<Spanned<Node>, serde_saphyr::Error> {
    let mut root = serde_saphyr::from_str_with_options(text, options)?;
    plain_keys_as_written(&mut root, text);
    Ok(root)
}

/// Plain keys as the file writes them: a typed field reads `ON` or `y` as
/// text, where the generic parse reads a boolean.
fn plain_keys_as_written(node: &mut Spanned<Node>, text: &str) {
    match &mut node.value {
        Node::Scalar(_) => {}
        Node::Seq(items) => {
            for item in items {
                plain_keys_as_written(item, text);
            }
        }
        Node::Map(entries) => {
            for (key, value) in entries {
                let written = span(key).and_then(|(offset, len)| text.get(offset..offset + len));
                if let (Some(written), Node::Scalar(name)) = (written, &mut key.value) {
                    let plain = !written.is_empty()
                        && !written.starts_with(['"', '\'', '&', '!', '*', '?', '|', '>']);
                    if plain {
                        *name = written.to_owned();
                    }
                }
                plain_keys_as_written(value, text);
            }
        }
    }
}

/// The byte offset and length of a node's own token.
fn span(node: &Spanned<Node>) -> Option<(usize, usize)> {
    let span = node.referenced.span();
    let offset = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    Some((offset, len))
}

/// The byte offset just past a node, nested nodes and the closing bracket
/// of a flow collection included.
fn end(node: &Spanned<Node>, text: &str) -> Option<usize> {
    let (offset, len) = span(node)?;
    let last_child = match &node.value {
        Node::Scalar(_) => return Some(offset + len),
        Node::Map(entries) => match entries.last() {
            Some((_, value)) => Some(end(value, text)?),
            None => None,
        },
        Node::Seq(items) => match items.last() {
            Some(item) => Some(end(item, text)?),
            None => None,
        },
    };
    let flow = matches!(text.as_bytes().get(offset), Some(b'{' | b'['));
    if !flow || len != 1 {
        // A block collection ends with its last child.
        return last_child;
    }
    let close = if text.as_bytes()[offset] == b'{' {
        b'}'
    } else {
        b']'
    };
    let mut at = last_child.unwrap_or(offset + 1).max(offset + 1);
    let bytes = text.as_bytes();
    while let Some(byte) = bytes.get(at) {
        match byte {
            b' ' | b'\t' | b'\r' | b'\n' | b',' => at += 1,
            b'#' => {
                while bytes.get(at).is_some_and(|b| *b != b'\n') {
                    at += 1;
                }
            }
            b if *b == close => return Some(at + 1),
            _ => return None,
        }
    }
    None
}

/// The mapping or sequence that holds the field or item at `steps`, and
/// its place in it.
fn locate<'a>(root: &'a Spanned<Node>, steps: &[Step]) -> Option<(&'a Spanned<Node>, usize)> {
    // A trailing wrapper step names the field itself.
    let real = steps
        .iter()
        .rposition(|step| !matches!(step, Step::Key { phantom: true, .. }))?;
    let (last, parents) = steps[..=real].split_last()?;
    let mut node = root;
    for step in parents {
        match (step, &node.value) {
            (Step::Index(index), Node::Seq(items)) => node = items.get(*index)?,
            (Step::Key { name, phantom }, Node::Map(entries)) => {
                match entries.iter().find(|(key, _)| key_is(key, name)) {
                    Some((_, value)) => node = value,
                    None if *phantom => {}
                    None => return None,
                }
            }
            (Step::Key { phantom: true, .. }, _) => {}
            _ => return None,
        }
    }
    let place = match (last, &node.value) {
        (Step::Key { name, .. }, Node::Map(entries)) => {
            entries.iter().position(|(key, _)| key_is(key, name))?
        }
        (Step::Index(index), Node::Seq(items)) if *index < items.len() => *index,
        _ => return None,
    };
    Some((node, place))
}

fn key_is(key: &Spanned<Node>, name: &str) -> bool {
    matches!(&key.value, Node::Scalar(text) if text == name)
}

/// A rename made to the text, to map later columns back to the file's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rename {
    /// The line of the renamed key, from 1.
    pub line: u64,
    /// The key's column, from 1.
    pub column: u64,
    /// How many characters longer the new name is.
    pub delta: i64,
}

impl Rename {
    /// `column` on `line` of the patched text, as a column of the file.
    pub fn undo(self, line: u64, column: u64) -> u64 {
        if line == self.line && column > self.column {
            column.saturating_add_signed(-self.delta)
        } else {
            column
        }
    }
}

/// The text with the key of the field at `steps` renamed to `to`; `None`
/// when the key is not written plainly there or its mapping already has
/// `to`.
pub(crate) fn rename(
    text: &str,
    root: &Spanned<Node>,
    steps: &[Step],
    to: &str,
) -> Option<(String, Rename)> {
    let (map, place) = locate(root, steps)?;
    let Node::Map(entries) = &map.value else {
        return None;
    };
    if entries.iter().any(|(key, _)| key_is(key, to)) {
        return None;
    }
    let key = &entries[place].0;
    let (offset, len) = span(key)?;
    let Node::Scalar(name) = &key.value else {
        return None;
    };
    if text.get(offset..offset + len)? != name {
        return None;
    }
    let mut patched = String::with_capacity(text.len() + to.len());
    patched.push_str(&text[..offset]);
    patched.push_str(to);
    patched.push_str(&text[offset + len..]);
    let delta =
        i64::try_from(to.chars().count()).ok()? - i64::try_from(name.chars().count()).ok()?;
    Some((
        patched,
        Rename {
            line: key.referenced.line(),
            column: key.referenced.column(),
            delta,
        },
    ))
}

/// The text with the field or item at `steps` (a key and its value, or a
/// sequence item with its dash, and a comma beside it in a flow
/// collection) blanked out with spaces, line breaks kept; `None` when it
/// cannot be found.
pub(crate) fn remove(text: &str, root: &Spanned<Node>, steps: &[Step]) -> Option<String> {
    let (parent, place) = locate(root, steps)?;
    let bytes = text.as_bytes();
    let (parent_offset, parent_len) = span(parent)?;
    let flow = parent_len == 1 && matches!(bytes.get(parent_offset), Some(b'{' | b'['));
    let (mut start, mut stop, count, empty) = match &parent.value {
        Node::Map(entries) => {
            let (key, value) = &entries[place];
            (span(key)?.0, end(value, text)?, entries.len(), "{}")
        }
        Node::Seq(items) => {
            let item = &items[place];
            let mut start = span(item)?.0;
            if !flow {
                // A block item starts at its dash.
                start = (0..start)
                    .rev()
                    .find(|i| !bytes[*i].is_ascii_whitespace())
                    .filter(|i| bytes[*i] == b'-')?;
            }
            (start, end(item, text)?.max(start + 1), items.len(), "[]")
        }
        Node::Scalar(_) => return None,
    };
    if flow {
        let after = (stop..bytes.len()).find(|i| !bytes[*i].is_ascii_whitespace());
        let before = (0..start).rev().find(|i| !bytes[*i].is_ascii_whitespace());
        match (after, before) {
            (Some(after), _) if bytes[after] == b',' => stop = after + 1,
            (_, Some(before)) if bytes[before] == b',' => start = before,
            _ => {}
        }
    }
    if start >= stop || !text.is_char_boundary(start) || !text.is_char_boundary(stop) {
        return None;
    }
    let mut blank: String = text[start..stop]
        .chars()
        .map(|c| if c == '\n' || c == '\r' { c } else { ' ' })
        .collect();
    if count == 1 && !flow {
        // A block collection left empty would read as null: it stays an
        // empty one.
        if !blank.starts_with("  ") {
            return None;
        }
        blank.replace_range(..2, empty);
    }
    Some(format!("{}{blank}{}", &text[..start], &text[stop..]))
}

/// `field` (`timeline[3].at`) as named before the item `index` of the
/// sequence `sequence` (`timeline`) was left out: later items move up one.
pub(crate) fn before_removal(field: &str, sequence: &str, index: usize) -> String {
    let Some(rest) = field
        .strip_prefix(sequence)
        .and_then(|rest| rest.strip_prefix('['))
    else {
        return field.to_owned();
    };
    let Some((number, tail)) = rest.split_once(']') else {
        return field.to_owned();
    };
    match number.parse::<usize>() {
        Ok(at) if at >= index => format!("{sequence}[{}]{tail}", at + 1),
        _ => field.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Step {
        Step::Key {
            name: name.to_owned(),
            phantom: false,
        }
    }

    fn removed(text: &str, steps: &[Step]) -> Option<String> {
        let root = tree(text, Options::default()).expect("yaml");
        remove(text, &root, steps)
    }

    /// A field is blanked out whole, nested block and flow values
    /// included, with a comma beside it in a flow mapping; every other
    /// line and column stays, and what is left is YAML.
    #[test]
    fn remove_blanks_the_field_and_keeps_positions() {
        let text = "a: 1\nb:\n  c: {x: 1, y: [1,\n    2], z: 3}\n  d: |\n    text\ne: 5\n";
        let out = removed(text, &[key("b"), key("c"), key("y")]).expect("removed");
        assert_eq!(
            out,
            "a: 1\nb:\n  c: {x: 1,       \n        z: 3}\n  d: |\n    text\ne: 5\n"
        );
        let out = removed(text, &[key("b"), key("d")]).expect("removed");
        assert_eq!(
            out,
            "a: 1\nb:\n  c: {x: 1, y: [1,\n    2], z: 3}\n      \n        \ne: 5\n"
        );
        for out in [&out, &removed(text, &[key("b")]).expect("removed")] {
            assert_eq!(out.len(), text.len());
            assert_eq!(out.lines().count(), text.lines().count());
            tree(out, Options::default()).expect("still YAML");
        }
    }

    /// The last field of a block mapping leaves an empty mapping, not
    /// null; a block sequence item goes with its dash.
    #[test]
    fn remove_keeps_collections_and_takes_items_whole() {
        let text = "a:\n  b: 1\nc:\n  - x: 1\n    y: 2\n  - x: 3\n";
        assert_eq!(
            removed(text, &[key("a"), key("b")]).expect("removed"),
            "a:\n  {}  \nc:\n  - x: 1\n    y: 2\n  - x: 3\n"
        );
        assert_eq!(
            removed(text, &[key("c"), Step::Index(0)]).expect("removed"),
            "a:\n  b: 1\nc:\n        \n        \n  - x: 3\n"
        );
        assert_eq!(removed(text, &[key("nothing")]), None);
    }

    /// A misspelt key is renamed where it stands, unless its mapping
    /// already has the new name; the rename maps later columns back.
    #[test]
    fn rename_in_place() {
        let text = "a: {timout: 1, ON: 2}\n";
        let root = tree(text, Options::default()).expect("yaml");
        let (out, made) = rename(text, &root, &[key("a"), key("timout")], "timeout").expect("ok");
        assert_eq!(out, "a: {timeout: 1, ON: 2}\n");
        assert_eq!(made.undo(1, 17), 16);
        assert_eq!(made.undo(1, 4), 4);
        assert_eq!(made.undo(2, 17), 17);
        // `ON` is the key's name as written, not a boolean.
        assert!(rename(text, &root, &[key("a"), key("timout")], "ON").is_none());
    }

    /// Field names: wrappers left out, and which fields hold which.
    #[test]
    fn field_names_and_holding() {
        let steps = [
            key("timeline"),
            Step::Index(2),
            key("event"),
            Step::Key {
                name: "value".to_owned(),
                phantom: true,
            },
        ];
        assert_eq!(field_name(&steps), "timeline[2].event");
        assert!(holds("timeline[2]", "timeline[2].event"));
        assert!(holds("", "seed"));
        assert!(!holds("timeline[2]", "timeline[20].event"));
        assert_eq!(
            before_removal("timeline[2].at", "timeline", 1),
            "timeline[3].at"
        );
        assert_eq!(
            before_removal("timeline[0].at", "timeline", 1),
            "timeline[0].at"
        );
        assert_eq!(
            before_removal("workload.list[4]", "timeline", 1),
            "workload.list[4]"
        );
    }
}
