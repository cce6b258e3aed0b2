//! Reading the file into a [`Config`] with every parse-level problem found in one pass.
//!
//! serde stops at the first error, so the text is read again and again: first into a TOML
//! tree (a syntax error ends it there), then, round after round, the tree into a
//! [`Config`]. Each failing round yields one problem (an unknown key, a value of the wrong
//! type, a bad duration, an unknown `kind`) at a key path; that key is taken out of the
//! tree (its default applies) and the next round finds the next problem. A required key
//! that is missing gets a stand-in value so that the rest of its table is still checked.
//! Every problem is located by line in a span-keeping parse of the same text.

use serde_path_to_error::Segment;
use toml_edit::{ImDocument, Item, TableLike, Value};

use super::{line_column, Config, ConfigError, Problem};

/// Rounds of deserialization at most: one per problem found, so a file with more problems
/// than this reports the first ones (which is plenty to start fixing).
const MAX_ROUNDS: usize = 1000;

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// A key in a table.
    Key(String),
    /// An element of an array (or of an array of tables).
    Index(usize),
}

/// The outcome of reading the text.
pub(super) struct Read {
    /// The configuration, with every key that had a problem left at its default; `None`
    /// when the rounds could not get that far.
    pub config: Option<Config>,
    /// The parse-level problems, with their lines.
    pub problems: Vec<Problem>,
    /// Paths holding a stand-in for a missing required key: what validation finds there is
    /// about the stand-in, not about the file, and is not reported.
    pub stand_ins: Vec<String>,
    /// The text as parsed with spans, to locate problems found later.
    pub lines: Lines,
}

/// Finds the line of a key path in the text.
pub(super) struct Lines {
    /// The document with spans; `None` only if the span-keeping parser refused text the
    /// other one took.
    doc: Option<ImDocument<String>>,
}

impl Lines {
    /// The line of `path` (as [`Problem::path`] writes it), or of the nearest table or
    /// array holding it that is in the file; `None` when not even the first step is.
    pub(super) fn of(&self, path: &str) -> Option<usize> {
        let doc = self.doc.as_ref()?;
        let offset = locate(doc, &steps_of(path)?)?;
        Some(line_column(doc.raw(), offset).0)
    }
}

/// Reads `text`: a syntax error is the only problem and an `Err`; otherwise every
/// parse-level problem and, where possible, the configuration.
pub(super) fn read(text: &str) -> Result<Read, ConfigError> {
    let tree: toml::Table = toml::from_str(text).map_err(|e| ConfigError {
        problems: vec![super::syntax_problem(text, &e)],
    })?;
    let lines = Lines {
        doc: ImDocument::parse(text.to_string()).ok(),
    };
    let mut work = toml::Value::Table(tree);
    let mut problems: Vec<Problem> = Vec::new();
    let mut stand_ins = Vec::new();
    let mut config = None;
    for _ in 0..MAX_ROUNDS {
        let err = match serde_path_to_error::deserialize::<_, Config>(work.clone()) {
            Ok(c) => {
                config = Some(c);
                break;
            }
            Err(err) => err,
        };
        let steps = steps_of_serde(err.path());
        let at = path_of(&steps);
        let message = err.into_inner().message().to_string();
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
            .map(str::to_string);
        if let Some(field) = missing {
            let Some(stand_in) = stand_in(&field) else {
                problems.push(super::data_problem(at, &message));
                break;
            };
            let problem = super::data_problem(at.clone(), &message);
            // A key taken out for a bad value is missing now: that was said already.
            if !problems.iter().any(|p| p.path == problem.path) {
                problems.push(problem);
            }
            if field == "kind" {
                // What validation says of the table depends on the kind it does not have.
                stand_ins.push(at);
            }
            let Some(toml::Value::Table(table)) = get_mut(&mut work, &steps) else {
                break;
            };
            table.insert(field, stand_in);
        } else {
            problems.push(super::data_problem(at, &message));
            if !remove(&mut work, &steps) {
                break;
            }
        }
    }
    for p in &mut problems {
        p.line = lines.of(&p.path);
    }
    Ok(Read {
        config,
        problems,
        stand_ins,
        lines,
    })
}

/// A value for a required key that is missing, so the rest of its table is still read:
/// the receivers' `name` (validation says an empty one is wrong, at the same path, which
/// is not repeated) and `kind`.
fn stand_in(field: &str) -> Option<toml::Value> {
    match field {
        "name" => Some(toml::Value::String(String::new())),
        "kind" => Some(toml::Value::String("webhook".to_string())),
        _ => None,
    }
}

/// serde's path as steps, up to the key holding an enum's variant (a table where a name
/// belongs, as in `kind = { slack = 1 }`, is a problem of that key).
fn steps_of_serde(path: &serde_path_to_error::Path) -> Vec<Step> {
    path.iter()
        .map_while(|segment| match segment {
            Segment::Map { key } => Some(Step::Key(key.clone())),
            Segment::Seq { index } => Some(Step::Index(*index)),
            _ => None,
        })
        .collect()
}

/// A path as [`Problem::path`] writes it: `alerting.receivers[0].headers."X Y"`.
fn path_of(steps: &[Step]) -> String {
    let mut path = String::new();
    for step in steps {
        match step {
            Step::Key(key) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&super::alerting::toml_key(key));
            }
            Step::Index(i) => path.push_str(&format!("[{i}]")),
        }
    }
    path
}

/// The value at `steps` in `tree`.
fn get_mut<'a>(tree: &'a mut toml::Value, steps: &[Step]) -> Option<&'a mut toml::Value> {
    steps
        .iter()
        .try_fold(tree, |value, step| match (step, value) {
            (Step::Key(k), toml::Value::Table(t)) => t.get_mut(k),
            (Step::Index(i), toml::Value::Array(a)) => a.get_mut(*i),
            _ => None,
        })
}

/// Takes the key at `steps` out of `tree`. For an element of an array, the whole array
/// goes (taking one element out would renumber the rest, and later problems would name
/// the wrong element). `false` when there was nothing to take out.
fn remove(tree: &mut toml::Value, steps: &[Step]) -> bool {
    let Some(last_key) = steps.iter().rposition(|s| matches!(s, Step::Key(_))) else {
        return false;
    };
    let Step::Key(key) = &steps[last_key] else {
        return false;
    };
    match get_mut(tree, &steps[..last_key]) {
        Some(toml::Value::Table(table)) => table.remove(key).is_some(),
        _ => false,
    }
}

/// Steps of a path as [`Problem::path`] writes it: `alerting.receivers[0].headers."X Y"`.
/// `None` for what this cannot read (such paths just go without a line).
pub(super) fn steps_of(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let mut chars = path.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            '.' => {
                chars.next();
            }
            '[' => {
                chars.next();
                let digits: String = chars.by_ref().take_while(|c| *c != ']').collect();
                steps.push(Step::Index(digits.parse().ok()?));
            }
            '"' => {
                chars.next();
                let mut key = String::new();
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => key.push(chars.next()?),
                        other => key.push(other),
                    }
                }
                steps.push(Step::Key(key));
            }
            _ => {
                let mut key = String::new();
                while let Some(&c) = chars.peek() {
                    if c == '.' || c == '[' {
                        break;
                    }
                    key.push(c);
                    chars.next();
                }
                steps.push(Step::Key(key));
            }
        }
    }
    Some(steps)
}

/// Where in the text the deepest step of `steps` found in `doc` is: the key itself, or
/// the table or element holding the missing rest.
fn locate(doc: &ImDocument<String>, steps: &[Step]) -> Option<usize> {
    let mut found = None;
    let mut at = Node::Item(doc.as_item());
    for step in steps {
        let next = match (step, at) {
            (Step::Key(k), node) => match node.table() {
                Some(table) => match table.get_key_value(k) {
                    Some((key, item)) => {
                        found = key.span().map(|s| s.start).or(found);
                        Node::Item(item)
                    }
                    None => break,
                },
                None => break,
            },
            (Step::Index(i), Node::Item(Item::ArrayOfTables(tables))) => match tables.get(*i) {
                Some(table) => {
                    found = table.span().map(|s| s.start).or(found);
                    Node::Table(table)
                }
                None => break,
            },
            (Step::Index(i), node) => match node.array().and_then(|a| a.get(*i)) {
                Some(value) => {
                    found = value.span().map(|s| s.start).or(found);
                    Node::Value(value)
                }
                None => break,
            },
        };
        at = next;
    }
    found
}

/// A place in the document while following a path.
#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Table(&'a toml_edit::Table),
    Value(&'a Value),
}

impl<'a> Node<'a> {
    fn table(self) -> Option<&'a dyn TableLike> {
        match self {
            Node::Item(item) => item.as_table_like(),
            Node::Table(table) => Some(table),
            Node::Value(Value::InlineTable(table)) => Some(table),
            Node::Value(_) => None,
        }
    }

    fn array(self) -> Option<&'a toml_edit::Array> {
        match self {
            Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)) => Some(a),
            _ => None,
        }
    }
}
