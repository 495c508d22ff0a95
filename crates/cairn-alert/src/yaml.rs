//! A YAML document as a tree that remembers where every node was written,
//! so that configuration errors can name a line and column.
//!
//! Rule files and Alertmanager configurations are read in two steps: the
//! text becomes a [`Node`] tree here, then each module reads the fields it
//! knows with [`MapReader`], which also rejects unknown fields (Prometheus
//! and Alertmanager load their YAML strictly, and a misspelt `for:` that is
//! silently ignored would be an alert that never waits).

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Where a node starts in its file (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A parsed YAML node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub pos: Pos,
}

/// What a node holds. Scalars keep their text: every field here is typed by
/// the reader, as Go's YAML decoder types it by the target field.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A YAML error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.pos.line, self.message)
    }
}

fn pos(m: &Marker) -> Pos {
    Pos {
        line: m.line(),
        col: m.col() + 1,
    }
}

#[derive(Default)]
struct Builder {
    stack: Vec<(Node, Option<Node>, usize)>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    error: Option<YamlError>,
    documents: usize,
    /// Nodes copied by alias expansion so far.
    expanded: usize,
}

/// The most nodes alias expansion may create: nested aliases grow
/// exponentially ("billion laughs"), and rule files come in over the API.
const MAX_EXPANDED: usize = 100_000;

fn size(n: &Node) -> usize {
    1 + match &n.kind {
        Kind::Seq(items) => items.iter().map(size).sum(),
        Kind::Map(entries) => entries.iter().map(|(k, v)| size(k) + size(v)).sum(),
        _ => 0,
    }
}

impl Builder {
    fn push_value(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some((parent, pending_key, _)) => match &mut parent.kind {
                Kind::Seq(items) => items.push(node),
                Kind::Map(entries) => match pending_key.take() {
                    None => *pending_key = Some(node),
                    Some(key) => entries.push((key, node)),
                },
                _ => {}
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let p = pos(&mark);
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 && self.error.is_none() {
                    self.error = Some(YamlError {
                        pos: p,
                        message: "expected a single YAML document, found several".into(),
                    });
                }
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let kind = if style == TScalarStyle::Plain
                    && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL")
                {
                    Kind::Null
                } else {
                    Kind::Scalar(text)
                };
                let node = Node { kind, pos: p };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_value(node);
            }
            Event::Alias(id) => {
                let node = match self.anchors.get(&id) {
                    Some(n) => {
                        self.expanded += size(n);
                        if self.expanded > MAX_EXPANDED {
                            if self.error.is_none() {
                                self.error = Some(YamlError {
                                    pos: p,
                                    message: format!(
                                        "aliases expand to more than {MAX_EXPANDED} nodes"
                                    ),
                                });
                            }
                            return;
                        }
                        n.clone()
                    }
                    None => Node {
                        kind: Kind::Null,
                        pos: p,
                    },
                };
                self.push_value(node);
            }
            Event::SequenceStart(anchor, _) => self.stack.push((
                Node {
                    kind: Kind::Seq(Vec::new()),
                    pos: p,
                },
                None,
                anchor,
            )),
            Event::MappingStart(anchor, _) => self.stack.push((
                Node {
                    kind: Kind::Map(Vec::new()),
                    pos: p,
                },
                None,
                anchor,
            )),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((mut node, _, anchor)) = self.stack.pop() {
                    // Block collections are reported where their first
                    // entry is written, which is where a reader looks.
                    let first = match &node.kind {
                        Kind::Seq(items) => items.first().map(|n| n.pos),
                        Kind::Map(entries) => entries.first().map(|(k, _)| k.pos),
                        _ => None,
                    };
                    if let Some(p) = first {
                        node.pos = p;
                    }
                    if anchor > 0 {
                        self.anchors.insert(anchor, node.clone());
                    }
                    self.push_value(node);
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

/// Parses one YAML document. An empty text is a null node.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut b, true).map_err(|e| YamlError {
        pos: pos(e.marker()),
        message: e.info().to_string(),
    })?;
    if let Some(e) = b.error {
        return Err(e);
    }
    Ok(b.root.unwrap_or(Node {
        kind: Kind::Null,
        pos: Pos { line: 1, col: 1 },
    }))
}

impl Node {
    /// A short name of the node's type for error messages, in Go's words.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Scalar(_) => "scalar",
            Kind::Seq(_) => "sequence",
            Kind::Map(_) => "mapping",
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    fn err(&self, message: impl Into<String>) -> YamlError {
        YamlError {
            pos: self.pos,
            message: message.into(),
        }
    }

    /// The scalar's text. Null is an error: callers that accept a missing
    /// value check [`Node::is_null`] first.
    pub fn str(&self, what: &str) -> Result<String, YamlError> {
        match &self.kind {
            Kind::Scalar(s) => Ok(s.clone()),
            _ => Err(self.err(format!(
                "{what}: expected a string, found a {}",
                self.type_name()
            ))),
        }
    }

    pub fn bool(&self, what: &str) -> Result<bool, YamlError> {
        match &self.kind {
            Kind::Scalar(s) if matches!(s.as_str(), "true" | "True" | "TRUE") => Ok(true),
            Kind::Scalar(s) if matches!(s.as_str(), "false" | "False" | "FALSE") => Ok(false),
            _ => Err(self.err(format!("{what}: expected true or false"))),
        }
    }

    pub fn int(&self, what: &str) -> Result<i64, YamlError> {
        match &self.kind {
            Kind::Scalar(s) => s
                .parse::<i64>()
                .map_err(|_| self.err(format!("{what}: expected an integer, found {s:?}"))),
            _ => Err(self.err(format!(
                "{what}: expected an integer, found a {}",
                self.type_name()
            ))),
        }
    }

    /// The items of a sequence; null reads as empty, as in Go.
    pub fn seq(&self, what: &str) -> Result<&[Node], YamlError> {
        match &self.kind {
            Kind::Seq(items) => Ok(items),
            Kind::Null => Ok(&[]),
            _ => Err(self.err(format!(
                "{what}: expected a list, found a {}",
                self.type_name()
            ))),
        }
    }

    /// A mapping, read field by field; null reads as an empty mapping.
    pub fn map<'a>(&'a self, what: &str) -> Result<MapReader<'a>, YamlError> {
        let entries: &'a [(Node, Node)] = match &self.kind {
            Kind::Map(entries) => entries,
            Kind::Null => &[],
            _ => {
                return Err(self.err(format!(
                    "{what}: expected a mapping, found a {}",
                    self.type_name()
                )))
            }
        };
        let mut seen: HashMap<&str, Pos> = HashMap::new();
        for (k, _) in entries {
            let key = match &k.kind {
                Kind::Scalar(s) => s.as_str(),
                _ => return Err(k.err(format!("{what}: mapping keys must be strings"))),
            };
            if let Some(first) = seen.insert(key, k.pos) {
                return Err(k.err(format!(
                    "{what}: mapping key {key:?} already defined at line {}",
                    first.line
                )));
            }
        }
        Ok(MapReader {
            node: self,
            entries,
            used: BTreeSet::new(),
            what: what.to_string(),
        })
    }

    /// A mapping of strings to strings (labels, annotations, `match`).
    pub fn string_map(&self, what: &str) -> Result<Vec<(String, String, Pos)>, YamlError> {
        let entries = match &self.kind {
            Kind::Map(entries) => entries.as_slice(),
            Kind::Null => &[],
            _ => {
                return Err(self.err(format!(
                    "{what}: expected a mapping, found a {}",
                    self.type_name()
                )))
            }
        };
        // Reuse the duplicate-key check.
        self.map(what)?;
        entries
            .iter()
            .map(|(k, v)| {
                let key = k.str(what)?;
                let value = if v.is_null() {
                    String::new()
                } else {
                    v.str(&format!("{what}.{key}"))?
                };
                Ok((key, value, k.pos))
            })
            .collect()
    }

    /// A list of strings.
    pub fn string_list(&self, what: &str) -> Result<Vec<String>, YamlError> {
        self.seq(what)?.iter().map(|n| n.str(what)).collect()
    }
}

/// Reads a mapping's fields by name and reports the ones nobody read.
pub struct MapReader<'a> {
    node: &'a Node,
    entries: &'a [(Node, Node)],
    used: BTreeSet<usize>,
    what: String,
}

impl<'a> MapReader<'a> {
    /// The value of `key`, if present and not null.
    pub fn get(&mut self, key: &str) -> Option<&'a Node> {
        let i = self
            .entries
            .iter()
            .position(|(k, _)| matches!(&k.kind, Kind::Scalar(s) if s == key))?;
        self.used.insert(i);
        let v = &self.entries[i].1;
        (!v.is_null()).then_some(v)
    }

    pub fn has(&self, key: &str) -> bool {
        self.entries
            .iter()
            .any(|(k, v)| matches!(&k.kind, Kind::Scalar(s) if s == key) && !v.is_null())
    }

    pub fn opt_str(&mut self, key: &str) -> Result<Option<String>, YamlError> {
        match self.get(key) {
            Some(n) => n.str(key).map(Some),
            None => Ok(None),
        }
    }

    pub fn pos(&self) -> Pos {
        self.node.pos
    }

    /// Fails on the first field that no `get` asked for, as Go's strict
    /// YAML decoding does (`field x not found in type T`).
    pub fn finish(self) -> Result<(), YamlError> {
        for (i, (k, _)) in self.entries.iter().enumerate() {
            if !self.used.contains(&i) {
                let name = match &k.kind {
                    Kind::Scalar(s) => s.clone(),
                    _ => "?".into(),
                };
                return Err(YamlError {
                    pos: k.pos,
                    message: format!("field {name} not found in {}", self.what),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_unknown_fields() {
        let doc = parse("a: 1\nb:\n  - x\n  - y: 2\nc: ~\n").unwrap();
        let mut m = doc.map("root").unwrap();
        assert_eq!(m.get("a").unwrap().str("a").unwrap(), "1");
        let b = m.get("b").unwrap();
        assert_eq!(b.seq("b").unwrap()[1].pos.line, 4);
        assert!(m.get("c").is_none());
        m.finish().unwrap();

        let mut m = doc.map("root").unwrap();
        m.get("a");
        let e = m.finish().unwrap_err();
        assert_eq!(e.to_string(), "line 2: field b not found in root");
    }

    #[test]
    fn duplicate_keys_and_anchors() {
        let e = parse("a: 1\na: 2\n").unwrap().map("root").err().unwrap();
        assert_eq!(
            e.to_string(),
            "line 2: root: mapping key \"a\" already defined at line 1"
        );
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        assert!(parse(&bomb).unwrap_err().message.contains("aliases expand"));
        let doc = parse("x: &l {k: v}\ny: *l\n").unwrap();
        let mut m = doc.map("root").unwrap();
        let y = m.get("y").unwrap().string_map("y").unwrap();
        assert_eq!(y[0].0, "k");
        assert!(parse("a: [1\n").is_err());
    }
}
