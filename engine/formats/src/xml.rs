//! What the TCX and GPX readers share: parsing with a DTD refused (so no entity is ever
//! expanded), elements found by local name whatever their namespace prefix, numbers read
//! from text with the element named in the error.

use roxmltree::{Document, Node, ParsingOptions};

use crate::{FormatError, Limits};

/// Parses `bytes` as UTF-8 XML. roxmltree's options keep `allow_dtd` off: a document with
/// a `<!DOCTYPE>` (the only way to declare entities) is refused whole.
pub(crate) fn parse<'a>(
    format: &'static str,
    bytes: &'a [u8],
    limits: &Limits,
) -> Result<Document<'a>, FormatError> {
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limits.max_bytes {
        return Err(FormatError::TooLarge {
            what: "the input, bytes,",
            limit: limits.max_bytes,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| FormatError::Xml {
        format,
        reason: format!("not UTF-8 at byte {}", e.valid_up_to()),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: limits.max_xml_nodes,
    };
    Document::parse_with_options(text, options).map_err(|e| FormatError::Xml {
        format,
        reason: e.to_string(),
    })
}

/// The first child element of `node` with the local name `name`.
pub(crate) fn child<'a, 'input>(node: Node<'a, 'input>, name: &str) -> Option<Node<'a, 'input>> {
    node.children()
        .find(|n| n.is_element() && n.tag_name().name() == name)
}

/// The child elements of `node` with the local name `name`.
pub(crate) fn children<'a, 'input: 'a>(
    node: Node<'a, 'input>,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'input>> + 'a {
    node.children()
        .filter(move |n| n.is_element() && n.tag_name().name() == name)
}

/// The trimmed text of the child `name` of `node`, if any.
pub(crate) fn child_text<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    child(node, name).and_then(|n| n.text()).map(str::trim)
}

/// A finite number from `text`, or an error naming `what` and the text.
pub(crate) fn number(
    format: &'static str,
    what: &dyn Fn() -> String,
    text: &str,
) -> Result<f64, FormatError> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(FormatError::Content {
            format,
            reason: format!("{}: {:?} is not a number", what(), cut(text)),
        }),
    }
}

/// At most 40 characters of `text`, for an error message.
pub(crate) fn cut(text: &str) -> String {
    text.chars().take(40).collect()
}

/// Escapes text for an XML element or attribute.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot hold at all are dropped.
            c if u32::from(c) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}
