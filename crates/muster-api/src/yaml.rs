//! YAML documents as trees whose every node knows its line, and a serde deserializer over
//! them.
//!
//! Why not a ready-made serde YAML crate: `serde_yaml` is deprecated and its forks keep its
//! `unsafe-libyaml` core, which reports a line only for syntax errors. Muster's contract is an
//! error that names the line of the *field* at fault, also for errors found after parsing
//! (an unknown flavor, a negative quota). So the stream is parsed by `saphyr-parser` (a
//! maintained, pure-Rust YAML 1.2 parser with spans) into [`Node`]s that keep their line and
//! their scalar text, and [`NodeDeserializer`] feeds them to serde. Keeping the text matters
//! too: `cpu: 2` and `cpu: "2"` both deserialize into Kubernetes' string-typed `Quantity`,
//! as the API server accepts both.
//!
//! Scalars are resolved by the YAML 1.2 core schema only when a type is not asked for
//! (`deserialize_any`); asking for a string always gets the text as written.

use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

/// Most nodes one file may expand to (anchors and aliases included): a guard against
/// "billion laughs" inputs.
pub const MAX_NODES: usize = 5_000_000;

/// A YAML node with the (1-based) line it starts on.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// A scalar with its text as written.
    Scalar {
        /// Text.
        value: String,
        /// Whether it was plain (unquoted, not a block scalar): only plain scalars are typed.
        plain: bool,
        /// A `!!str`-like tag forcing a string, if any.
        forced_str: bool,
        /// Line.
        line: usize,
    },
    /// A sequence.
    Seq {
        /// Items.
        items: Vec<Node>,
        /// Line.
        line: usize,
    },
    /// A mapping, in document order.
    Map {
        /// Entries.
        entries: Vec<(Node, Node)>,
        /// Line.
        line: usize,
    },
}

/// One document of a YAML stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// 0-based index in the stream (empty documents count).
    pub index: usize,
    /// Line where its content starts.
    pub line: usize,
    /// Its root node.
    pub root: Node,
}

/// A syntax error in a YAML stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: invalid YAML: {message}")]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What the parser said.
    pub message: String,
}

impl Node {
    /// The line the node starts on.
    pub fn line(&self) -> usize {
        match self {
            Node::Scalar { line, .. } | Node::Seq { line, .. } | Node::Map { line, .. } => *line,
        }
    }

    /// The text of a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The value of a mapping key.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map { entries, .. } => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Whether the node is a null scalar.
    pub fn is_null(&self) -> bool {
        matches!(self, Node::Scalar { value, plain: true, forced_str: false, .. }
            if matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    fn size(&self) -> usize {
        match self {
            Node::Scalar { .. } => 1,
            Node::Seq { items, .. } => 1 + items.iter().map(Node::size).sum::<usize>(),
            Node::Map { entries, .. } => {
                1 + entries
                    .iter()
                    .map(|(k, v)| k.size() + v.size())
                    .sum::<usize>()
            }
        }
    }

    /// The line of the field at `path`, as far down as the path resolves: a mapping value is
    /// located at its key (where a reader looks for `field:`), a list item at its start.
    pub fn line_of(&self, path: &[Segment]) -> usize {
        let mut node = self;
        let mut line = self.line();
        for seg in path {
            let next = match (seg, node) {
                (Segment::Key(k), Node::Map { entries, .. }) => entries
                    .iter()
                    .find(|(key, _)| key.as_str() == Some(k.as_str()))
                    .map(|(key, v)| (key.line(), v)),
                (Segment::Index(i), Node::Seq { items, .. }) => {
                    items.get(*i).map(|v| (v.line(), v))
                }
                _ => None,
            };
            match next {
                Some((l, n)) => {
                    line = l;
                    node = n;
                }
                None => break,
            }
        }
        line
    }
}

/// One step of a path into a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A path into a document, printed as `spec.resourceGroups[0].flavors[1].name`; keys that are
/// not plain identifiers print in brackets: `metadata.labels[muster.dev/queue-name]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Path(pub Vec<Segment>);

impl Path {
    /// The empty path (the document itself).
    pub fn root() -> Self {
        Path(Vec::new())
    }

    /// This path extended by a key.
    pub fn key(&self, k: &str) -> Path {
        let mut p = self.clone();
        p.0.push(Segment::Key(k.to_string()));
        p
    }

    /// This path extended by an index.
    pub fn index(&self, i: usize) -> Path {
        let mut p = self.clone();
        p.0.push(Segment::Index(i));
        p
    }

    /// Parses `a.b[0].c[key/with.dots]`.
    pub fn parse(s: &str) -> Path {
        let mut out = Vec::new();
        let mut rest = s;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('[') {
                let end = r.find(']').unwrap_or(r.len());
                let inner = &r[..end];
                out.push(match inner.parse::<usize>() {
                    Ok(i) => Segment::Index(i),
                    Err(_) => Segment::Key(inner.to_string()),
                });
                rest = r.get(end + 1..).unwrap_or("");
            } else {
                let r = rest.strip_prefix('.').unwrap_or(rest);
                let end = r.find(['.', '[']).unwrap_or(r.len());
                if end > 0 {
                    out.push(Segment::Key(r[..end].to_string()));
                }
                rest = &r[end..];
            }
        }
        Path(out)
    }

    /// Whether the path is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Index(n) => write!(f, "[{n}]")?,
                Segment::Key(k) => {
                    let plain = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if plain {
                        if i > 0 {
                            write!(f, ".")?;
                        }
                        write!(f, "{k}")?;
                    } else {
                        write!(f, "[{k}]")?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl From<&serde_path_to_error::Path> for Path {
    fn from(p: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment as S;
        Path(
            p.iter()
                .filter_map(|s| match s {
                    S::Seq { index } => Some(Segment::Index(*index)),
                    S::Map { key } => Some(Segment::Key(key.clone())),
                    S::Enum { variant } => Some(Segment::Key(variant.clone())),
                    S::Unknown => None,
                })
                .collect(),
        )
    }
}

enum Frame {
    Seq(Vec<Node>, usize, usize),
    Map(Vec<(Node, Node)>, Option<Node>, usize, usize),
}

/// Parses a YAML stream into its non-empty documents.
pub fn parse_stream(text: &str) -> Result<Vec<Document>, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: std::collections::BTreeMap<usize, (Node, usize)> =
        std::collections::BTreeMap::new();
    let mut root: Option<Node> = None;
    let mut doc_index = 0usize;
    let mut nodes = 0usize;
    let too_big = |line: usize| SyntaxError {
        line,
        column: 1,
        message: format!("document expands to more than {MAX_NODES} nodes (aliases?)"),
    };
    while let Some(ev) = parser.next_event() {
        let (event, span) = ev.map_err(|e| SyntaxError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_string(),
        })?;
        let line = span.start.line();
        let complete: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => None,
            Event::DocumentStart(_) => {
                root = None;
                stack.clear();
                anchors.clear();
                None
            }
            Event::DocumentEnd => {
                if let Some(r) = root.take().filter(|r| !r.is_null()) {
                    docs.push(Document {
                        index: doc_index,
                        line: r.line(),
                        root: r,
                    });
                }
                doc_index += 1;
                None
            }
            Event::Scalar(value, style, anchor, tag) => {
                let forced_str = tag.as_ref().is_some_and(|t| t.suffix == "str");
                Some((
                    Node::Scalar {
                        value: value.into_owned(),
                        plain: style == ScalarStyle::Plain,
                        forced_str,
                        line,
                    },
                    anchor,
                ))
            }
            Event::Alias(id) => {
                let (node, size) = anchors.get(&id).ok_or_else(|| SyntaxError {
                    line,
                    column: span.start.col() + 1,
                    message: "alias to an unknown anchor".into(),
                })?;
                // Count before copying, so an alias bomb is refused before it is built.
                nodes += size;
                if nodes > MAX_NODES {
                    return Err(too_big(line));
                }
                Some((node.clone(), 0))
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq(Vec::new(), anchor, line));
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map(Vec::new(), None, anchor, line));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(items, anchor, line)) => Some((Node::Seq { items, line }, anchor)),
                _ => None,
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(entries, _, anchor, line)) => {
                    Some((Node::Map { entries, line }, anchor))
                }
                _ => None,
            },
        };
        if let Some((node, anchor)) = complete {
            nodes += 1;
            if nodes > MAX_NODES {
                return Err(too_big(line));
            }
            if anchor != 0 {
                let size = node.size();
                anchors.insert(anchor, (node.clone(), size));
            }
            match stack.last_mut() {
                None => root = Some(node),
                Some(Frame::Seq(items, _, _)) => items.push(node),
                Some(Frame::Map(entries, pending, _, _)) => match pending.take() {
                    None => *pending = Some(node),
                    Some(key) => entries.push((key, node)),
                },
            }
        }
    }
    Ok(docs)
}

/// A deserialization error; the loader adds the path and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeError(pub String);

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError(msg.to_string())
    }
}

/// A serde deserializer over one [`Node`].
pub struct NodeDeserializer<'a>(pub &'a Node);

/// What a plain scalar means under the YAML 1.2 core schema.
enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

fn resolve(node: &Node) -> Resolved<'_> {
    let Node::Scalar {
        value,
        plain,
        forced_str,
        ..
    } = node
    else {
        return Resolved::Str("");
    };
    if !*plain || *forced_str {
        return Resolved::Str(value);
    }
    match value.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_int(value) {
        return Resolved::Int(i);
    }
    if looks_like_float(value)
        && let Ok(f) = value.parse::<f64>()
    {
        return Resolved::Float(f);
    }
    Resolved::Str(value)
}

fn parse_int(s: &str) -> Option<i64> {
    if let Some(h) = s.strip_prefix("0x") {
        return i64::from_str_radix(h, 16).ok();
    }
    if let Some(o) = s.strip_prefix("0o") {
        return i64::from_str_radix(o, 8).ok();
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn looks_like_float(s: &str) -> bool {
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let mantissa_ok = {
        let mut parts = mantissa.splitn(2, '.');
        let int = parts.next().unwrap_or("");
        let frac = parts.next();
        let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
        digits(int)
            && frac.is_none_or(digits)
            && (!int.is_empty() || frac.is_some_and(|f| !f.is_empty()))
    };
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_ok && exp_ok
}

impl<'a> NodeDeserializer<'a> {
    fn kind(&self) -> &'static str {
        match self.0 {
            Node::Scalar { .. } => "a scalar",
            Node::Seq { .. } => "a list",
            Node::Map { .. } => "a mapping",
        }
    }

    fn invalid(&self, expected: &str) -> DeError {
        match self.0 {
            Node::Scalar { value, .. } => DeError(format!("expected {expected}, found {value:?}")),
            _ => DeError(format!("expected {expected}, found {}", self.kind())),
        }
    }

    fn text(&self) -> Result<&'a str, DeError> {
        match self.0 {
            Node::Scalar { value, .. } => Ok(value),
            _ => Err(self.invalid("a scalar")),
        }
    }
}

macro_rules! deserialize_int {
    ($($method:ident => $visit:ident, $ty:ty;)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
                let text = self.text()?;
                match parse_int(text.trim()) {
                    Some(i) => {
                        let v: $ty = i.try_into().map_err(|_| DeError(format!("{text} is out of range for {}", stringify!($ty))))?;
                        visitor.$visit(v)
                    }
                    None => Err(self.invalid("an integer")),
                }
            }
        )*
    };
}

impl<'de, 'a> de::Deserializer<'de> for NodeDeserializer<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            Node::Scalar { .. } => match resolve(self.0) {
                Resolved::Null => visitor.visit_unit(),
                Resolved::Bool(b) => visitor.visit_bool(b),
                Resolved::Int(i) => visitor.visit_i64(i),
                Resolved::Float(f) => visitor.visit_f64(f),
                Resolved::Str(s) => visitor.visit_str(s),
            },
            Node::Seq { items, .. } => visitor.visit_seq(SeqAccess(items.iter())),
            Node::Map { entries, .. } => visitor.visit_map(MapAccess {
                iter: entries.iter(),
                value: None,
            }),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match resolve(self.0) {
            Resolved::Bool(b) if matches!(self.0, Node::Scalar { .. }) => visitor.visit_bool(b),
            _ => Err(self.invalid("true or false")),
        }
    }

    deserialize_int! {
        deserialize_i8 => visit_i8, i8;
        deserialize_i16 => visit_i16, i16;
        deserialize_i32 => visit_i32, i32;
        deserialize_i64 => visit_i64, i64;
        deserialize_u8 => visit_u8, u8;
        deserialize_u16 => visit_u16, u16;
        deserialize_u32 => visit_u32, u32;
        deserialize_u64 => visit_u64, u64;
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match resolve(self.0) {
            Resolved::Int(i) => visitor.visit_f64(i as f64),
            Resolved::Float(f) => visitor.visit_f64(f),
            _ => Err(self.invalid("a number")),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            Node::Scalar { value, .. } => visitor.visit_str(value),
            _ => Err(self.invalid("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.0.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.0.is_null() {
            visitor.visit_unit()
        } else {
            Err(self.invalid("null"))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            Node::Seq { items, .. } => visitor.visit_seq(SeqAccess(items.iter())),
            // `field:` with no value is an empty list, as Kubernetes reads `null`.
            n if n.is_null() => visitor.visit_seq(SeqAccess([].iter())),
            _ => Err(self.invalid("a list")),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0 {
            Node::Map { entries, .. } => visitor.visit_map(MapAccess {
                iter: entries.iter(),
                value: None,
            }),
            n if n.is_null() => visitor.visit_map(MapAccess {
                iter: [].iter(),
                value: None,
            }),
            _ => Err(self.invalid("a mapping")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.0 {
            Node::Scalar { value, .. } => visitor.visit_enum(value.as_str().into_deserializer()),
            Node::Map { entries, .. } if entries.len() == 1 => {
                visitor.visit_enum(EnumAccess(&entries[0]))
            }
            _ => Err(self.invalid("a string or a single-key mapping")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

struct SeqAccess<'a>(std::slice::Iter<'a, Node>);

impl<'de, 'a> de::SeqAccess<'de> for SeqAccess<'a> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.0.next() {
            Some(n) => seed.deserialize(NodeDeserializer(n)).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct MapAccess<'a> {
    iter: std::slice::Iter<'a, (Node, Node)>,
    value: Option<&'a Node>,
}

impl<'de, 'a> de::MapAccess<'de> for MapAccess<'a> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(NodeDeserializer(k)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let v = self
            .value
            .take()
            .ok_or_else(|| DeError("value without key".into()))?;
        seed.deserialize(NodeDeserializer(v))
    }
}

struct EnumAccess<'a>(&'a (Node, Node));

impl<'de, 'a> de::EnumAccess<'de> for EnumAccess<'a> {
    type Error = DeError;
    type Variant = NodeDeserializer<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), DeError> {
        let v = seed.deserialize(NodeDeserializer(&self.0.0))?;
        Ok((v, NodeDeserializer(&self.0.1)))
    }
}

impl<'de, 'a> de::VariantAccess<'de> for NodeDeserializer<'a> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_map(self, visitor)
    }
}

/// Deserializes a node into `T`; on error, returns the path to the offending field.
pub fn from_node<T: serde::de::DeserializeOwned>(node: &Node) -> Result<T, (Path, DeError)> {
    serde_path_to_error::deserialize(NodeDeserializer(node)).map_err(|e| {
        let path = Path::from(e.path());
        (path, e.into_inner())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn documents_keep_their_index_and_lines() {
        let text = "a: 1\n---\n---\n# comment\nb:\n  c: [1, 2]\n";
        let docs = parse_stream(text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!((docs[0].index, docs[0].line), (0, 1));
        assert_eq!((docs[1].index, docs[1].line), (2, 5));
        let c = docs[1].root.get("b").unwrap().get("c").unwrap();
        assert_eq!(c.line(), 6);
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let err = parse_stream("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.line >= 1, "{err}");
        let err = parse_stream("a: b: c\n").unwrap_err();
        assert_eq!(err.line, 1, "{err}");
    }

    #[test]
    fn scalars_resolve_by_the_core_schema_only_when_untyped() {
        let docs = parse_stream("n: 2\nf: 1.5\ns: '2'\nb: true\nz: ~\nq: 4Gi\n").unwrap();
        let v: serde_json::Value = from_node(&docs[0].root).unwrap();
        assert_eq!(v["n"], serde_json::json!(2));
        assert_eq!(v["f"], serde_json::json!(1.5));
        assert_eq!(v["s"], serde_json::json!("2"));
        assert_eq!(v["b"], serde_json::json!(true));
        assert_eq!(v["z"], serde_json::Value::Null);
        assert_eq!(v["q"], serde_json::json!("4Gi"));
        // Asked for strings, every scalar gives its text.
        let m: BTreeMap<String, String> =
            from_node(&parse_stream("a: 2\nb: 1e3\n").unwrap()[0].root).unwrap();
        assert_eq!(m["a"], "2");
        assert_eq!(m["b"], "1e3");
    }

    #[test]
    fn type_errors_report_the_field_path() {
        #[derive(serde::Deserialize, Debug)]
        struct Inner {
            #[allow(dead_code)]
            count: u32,
        }
        #[derive(serde::Deserialize, Debug)]
        struct Outer {
            #[allow(dead_code)]
            items: Vec<Inner>,
        }
        let docs = parse_stream("items:\n- count: 1\n- count: many\n").unwrap();
        let (path, err) = from_node::<Outer>(&docs[0].root).unwrap_err();
        assert_eq!(path.to_string(), "items[1].count");
        assert!(err.0.contains("integer"), "{err}");
        assert_eq!(docs[0].root.line_of(&path.0), 3);
    }

    #[test]
    fn anchors_and_aliases_expand() {
        let docs = parse_stream("base: &b {cpu: 1}\nuse: *b\n").unwrap();
        let v: serde_json::Value = from_node(&docs[0].root).unwrap();
        assert_eq!(v["use"]["cpu"], serde_json::json!(1));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let prev = format!("*a{}", i - 1);
            text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        let err = parse_stream(&text).unwrap_err();
        assert!(err.message.contains("more than"), "{err}");
    }

    #[test]
    fn paths_print_and_parse() {
        let p = Path::root()
            .key("metadata")
            .key("labels")
            .key("muster.dev/queue-name");
        assert_eq!(p.to_string(), "metadata.labels[muster.dev/queue-name]");
        let p = Path::root()
            .key("spec")
            .key("resourceGroups")
            .index(0)
            .key("flavors")
            .index(1)
            .key("name");
        assert_eq!(p.to_string(), "spec.resourceGroups[0].flavors[1].name");
        assert_eq!(Path::parse(&p.to_string()), p);
        let q = Path::parse("metadata.labels[muster.dev/queue-name]");
        assert_eq!(q.to_string(), "metadata.labels[muster.dev/queue-name]");
    }
}
