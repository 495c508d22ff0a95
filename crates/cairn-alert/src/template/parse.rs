//! Lexing and parsing of Go `text/template` syntax into a small tree.

use super::TemplateError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Text(String),
    Action {
        line: usize,
        pipe: Pipe,
    },
    If {
        line: usize,
        pipe: Pipe,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        line: usize,
        pipe: Pipe,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Range {
        line: usize,
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Template {
        line: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

/// A pipeline: optional variable declarations, then commands joined by `|`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Pipe {
    pub decl: Vec<String>,
    /// `=` rather than `:=`: assigns to variables already declared.
    pub assign: bool,
    pub cmds: Vec<Vec<Term>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Term {
    Dot,
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// `.A.B`
    Field(Vec<String>),
    /// `$x.A.B` (`$` alone is the name "").
    Var(String, Vec<String>),
    /// A function name.
    Ident(String),
    /// `(pipeline).A.B`
    Sub(Box<Pipe>, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Bar,
    Declare,
    Assign,
    Comma,
    Dot,
    Field(String),
    Var(String),
    Ident(String),
    Str(String),
    Num(String),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// Whether whitespace came before it; `$x.y` chains, `$x .y` does not.
    spaced: bool,
}

enum Item {
    Text(String),
    Action { line: usize, toks: Vec<Token> },
}

fn err(name: &str, line: usize, msg: impl std::fmt::Display) -> TemplateError {
    TemplateError(format!("template: {name}:{line}: {msg}"))
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn lex(name: &str, text: &str) -> Result<Vec<Item>, TemplateError> {
    let mut items = Vec::new();
    let mut rest = text;
    let mut line = 1;
    let mut trim_next = false;
    while !rest.is_empty() {
        let Some(start) = rest.find("{{") else {
            let t = if trim_next { rest.trim_start() } else { rest };
            items.push(Item::Text(t.to_string()));
            break;
        };
        let mut before = &rest[..start];
        if trim_next {
            before = before.trim_start();
        }
        let after_open = &rest[start + 2..];
        let trim_left = after_open.starts_with("- ")
            || after_open.starts_with("-\n")
            || after_open.starts_with("-\t")
            || after_open.starts_with("-\r");
        if trim_left {
            before = before.trim_end();
        }
        if !before.is_empty() {
            items.push(Item::Text(before.to_string()));
        }
        line += rest[..start].matches('\n').count();
        let action_line = line;
        let mut body = if trim_left {
            &after_open[1..]
        } else {
            after_open
        };
        // Comments: `{{/* … */}}`, possibly with trim markers.
        let trimmed = body.trim_start();
        if trimmed.starts_with("/*") {
            let end = trimmed
                .find("*/")
                .ok_or_else(|| err(name, line, "unclosed comment"))?;
            let after = trimmed[end + 2..].trim_start_matches([' ', '\t', '\n', '\r']);
            let (close_trim, after) = if let Some(a) = after.strip_prefix("-}}") {
                (true, a)
            } else if let Some(a) = after.strip_prefix("}}") {
                (false, a)
            } else {
                return Err(err(name, line, "comment ends before closing delimiter"));
            };
            let consumed = rest.len() - after.len();
            line += rest[start..consumed].matches('\n').count();
            rest = after;
            trim_next = close_trim;
            continue;
        }
        let mut toks = Vec::new();
        let close_trim;
        loop {
            let before_ws = body.len();
            body = body.trim_start_matches([' ', '\t', '\r', '\n']);
            let spaced = body.len() != before_ws;
            if body.is_empty() {
                return Err(err(name, action_line, "unclosed action"));
            }
            if spaced && body.starts_with("-}}") {
                close_trim = true;
                body = &body[3..];
                break;
            }
            if let Some(b) = body.strip_prefix("}}") {
                close_trim = false;
                body = b;
                break;
            }
            let c = body.chars().next().unwrap_or(' ');
            let (tok, len) = match c {
                '(' => (Tok::LParen, 1),
                ')' => (Tok::RParen, 1),
                '|' => (Tok::Bar, 1),
                ',' => (Tok::Comma, 1),
                ':' if body.starts_with(":=") => (Tok::Declare, 2),
                '=' => (Tok::Assign, 1),
                '"' => {
                    let mut s = String::new();
                    let mut it = body.char_indices().skip(1);
                    let mut end = None;
                    while let Some((i, ch)) = it.next() {
                        match ch {
                            '"' => {
                                end = Some(i + 1);
                                break;
                            }
                            '\\' => match it.next().map(|x| x.1) {
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                Some('r') => s.push('\r'),
                                Some('\\') => s.push('\\'),
                                Some('"') => s.push('"'),
                                Some('\'') => s.push('\''),
                                Some(o) => {
                                    return Err(err(
                                        name,
                                        action_line,
                                        format!("unknown escape sequence \\{o}"),
                                    ))
                                }
                                None => break,
                            },
                            '\n' => break,
                            ch => s.push(ch),
                        }
                    }
                    let end =
                        end.ok_or_else(|| err(name, action_line, "unterminated quoted string"))?;
                    (Tok::Str(s), end)
                }
                '`' => {
                    let end = body[1..]
                        .find('`')
                        .ok_or_else(|| err(name, action_line, "unterminated raw quoted string"))?;
                    (Tok::Str(body[1..1 + end].to_string()), end + 2)
                }
                '.' => {
                    let ident: String = body[1..]
                        .chars()
                        .take_while(|&c| is_ident_char(c))
                        .collect();
                    if ident.is_empty() {
                        (Tok::Dot, 1)
                    } else if ident.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                        let n: String = body
                            .chars()
                            .take_while(|&c| c.is_ascii_alphanumeric() || c == '.')
                            .collect();
                        (Tok::Num(n.clone()), n.len())
                    } else {
                        let l = ident.len() + 1;
                        (Tok::Field(ident), l)
                    }
                }
                '$' => {
                    let ident: String = body[1..]
                        .chars()
                        .take_while(|&c| is_ident_char(c))
                        .collect();
                    let l = ident.len() + 1;
                    (Tok::Var(ident), l)
                }
                c if c.is_ascii_digit() || c == '-' || c == '+' => {
                    let n: String = body
                        .char_indices()
                        .take_while(|&(i, ch)| {
                            ch.is_ascii_alphanumeric()
                                || ch == '.'
                                || ch == '_'
                                || (i == 0 && (ch == '-' || ch == '+'))
                                || ((ch == '-' || ch == '+')
                                    && matches!(body.as_bytes().get(i - 1), Some(b'e' | b'E')))
                        })
                        .map(|(_, ch)| ch)
                        .collect();
                    if n == "-" || n == "+" {
                        return Err(err(
                            name,
                            action_line,
                            format!("unexpected {c:?} in command"),
                        ));
                    }
                    let l = n.len();
                    (Tok::Num(n), l)
                }
                c if is_ident_char(c) => {
                    let ident: String = body.chars().take_while(|&c| is_ident_char(c)).collect();
                    let l = ident.len();
                    (Tok::Ident(ident), l)
                }
                other => {
                    return Err(err(
                        name,
                        action_line,
                        format!("unexpected {other:?} in command"),
                    ))
                }
            };
            toks.push(Token { tok, spaced });
            body = &body[len..];
        }
        let consumed = rest.len() - body.len();
        line += rest[start..consumed].matches('\n').count();
        items.push(Item::Action {
            line: action_line,
            toks,
        });
        rest = body;
        trim_next = close_trim;
        if trim_next {
            rest = rest.trim_start();
        }
    }
    Ok(items)
}

pub(super) struct Parsed {
    pub root: Vec<Node>,
    pub defines: Vec<(String, Vec<Node>)>,
}

struct Parser<'a> {
    name: &'a str,
    items: Vec<Item>,
    pos: usize,
    defines: Vec<(String, Vec<Node>)>,
}

pub(super) fn parse(name: &str, text: &str) -> Result<Parsed, TemplateError> {
    let items = lex(name, text)?;
    let mut p = Parser {
        name,
        items,
        pos: 0,
        defines: Vec::new(),
    };
    let (root, end) = p.list(&[], 0)?;
    if let Some((kw, line, _)) = end {
        return Err(err(name, line, format!("unexpected {{{{{kw}}}}}")));
    }
    Ok(Parsed {
        root,
        defines: p.defines,
    })
}

type End = Option<(String, usize, Vec<Token>)>;

impl Parser<'_> {
    /// Parses nodes until one of the keywords in `stop` (`end`, `else`)
    /// or the end of input; returns the nodes and the stopping action.
    fn list(&mut self, stop: &[&str], depth: usize) -> Result<(Vec<Node>, End), TemplateError> {
        let mut nodes = Vec::new();
        while self.pos < self.items.len() {
            let item = std::mem::replace(&mut self.items[self.pos], Item::Text(String::new()));
            self.pos += 1;
            let (line, toks) = match item {
                Item::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Item::Action { line, toks } => (line, toks),
            };
            let kw = match toks.first().map(|t| &t.tok) {
                Some(Tok::Ident(k)) => k.clone(),
                _ => String::new(),
            };
            match kw.as_str() {
                "end" | "else" => {
                    if stop.contains(&kw.as_str()) {
                        return Ok((nodes, Some((kw, line, toks[1..].to_vec()))));
                    }
                    return Err(err(self.name, line, format!("unexpected {{{{{kw}}}}}")));
                }
                "if" | "with" => nodes.push(self.branch(&kw, line, &toks[1..], depth)?),
                "range" => {
                    let pipe = self.pipe(line, &toks[1..], true)?;
                    let (body, end) = self.list(&["else", "end"], depth + 1)?;
                    let otherwise = match end {
                        Some((k, _, _)) if k == "else" => self.expect_end(line, depth)?,
                        Some(_) => Vec::new(),
                        None => return Err(err(self.name, line, "unexpected EOF")),
                    };
                    nodes.push(Node::Range {
                        line,
                        pipe,
                        body,
                        otherwise,
                    });
                }
                "define" | "block" => {
                    let (tname, rest) = match toks.get(1).map(|t| &t.tok) {
                        Some(Tok::Str(s)) => (s.clone(), &toks[2..]),
                        _ => return Err(err(self.name, line, format!("{kw} needs a quoted name"))),
                    };
                    if kw == "define" && depth > 0 {
                        return Err(err(self.name, line, "define must be at the top level"));
                    }
                    let body = self.expect_end(line, depth)?;
                    self.defines.push((tname.clone(), body));
                    if kw == "block" {
                        let pipe = Some(self.pipe(line, rest, false)?);
                        nodes.push(Node::Template {
                            line,
                            name: tname,
                            pipe,
                        });
                    }
                }
                "template" => {
                    let tname = match toks.get(1).map(|t| &t.tok) {
                        Some(Tok::Str(s)) => s.clone(),
                        _ => return Err(err(self.name, line, "template needs a quoted name")),
                    };
                    let pipe = if toks.len() > 2 {
                        Some(self.pipe(line, &toks[2..], false)?)
                    } else {
                        None
                    };
                    nodes.push(Node::Template {
                        line,
                        name: tname,
                        pipe,
                    });
                }
                "break" | "continue" => {
                    if depth == 0 {
                        return Err(err(
                            self.name,
                            line,
                            format!("{{{{{kw}}}}} outside {{{{range}}}}"),
                        ));
                    }
                    nodes.push(if kw == "break" {
                        Node::Break
                    } else {
                        Node::Continue
                    });
                }
                _ => {
                    let pipe = self.pipe(line, &toks, false)?;
                    nodes.push(Node::Action { line, pipe });
                }
            }
        }
        Ok((nodes, None))
    }

    fn expect_end(&mut self, line: usize, depth: usize) -> Result<Vec<Node>, TemplateError> {
        match self.list(&["end"], depth)? {
            (nodes, Some(_)) => Ok(nodes),
            (_, None) => Err(err(self.name, line, "unexpected EOF")),
        }
    }

    /// `if` and `with`, including `else if` / `else with` chains that share
    /// one `end`.
    fn branch(
        &mut self,
        kw: &str,
        line: usize,
        toks: &[Token],
        depth: usize,
    ) -> Result<Node, TemplateError> {
        let pipe = self.pipe(line, toks, false)?;
        // `range` bodies may hold break/continue; so may an `if` inside them.
        let (then, end) = self.list(&["else", "end"], depth)?;
        let otherwise = match end {
            None => return Err(err(self.name, line, "unexpected EOF")),
            Some((k, _, _)) if k == "end" => Vec::new(),
            Some((_, eline, rest)) => match rest.first().map(|t| &t.tok) {
                None => self.expect_end(line, depth)?,
                Some(Tok::Ident(k)) if k == "if" || k == "with" => {
                    let k = k.clone();
                    vec![self.branch(&k, eline, &rest[1..], depth)?]
                }
                Some(_) => return Err(err(self.name, eline, "unexpected tokens after else")),
            },
        };
        Ok(if kw == "if" {
            Node::If {
                line,
                pipe,
                then,
                otherwise,
            }
        } else {
            Node::With {
                line,
                pipe,
                then,
                otherwise,
            }
        })
    }

    fn pipe(&self, line: usize, toks: &[Token], range: bool) -> Result<Pipe, TemplateError> {
        let mut decl = Vec::new();
        let mut assign = false;
        let mut rest = toks;
        // `$x :=`, `$x =`, or in range `$i, $e :=`.
        let is_decl = |t: &[Token]| -> Option<(Vec<String>, bool, usize)> {
            match t {
                [Token {
                    tok: Tok::Var(a), ..
                }, Token {
                    tok: Tok::Declare, ..
                }, ..] => Some((vec![a.clone()], false, 2)),
                [Token {
                    tok: Tok::Var(a), ..
                }, Token {
                    tok: Tok::Assign, ..
                }, ..] => Some((vec![a.clone()], true, 2)),
                [Token {
                    tok: Tok::Var(a), ..
                }, Token {
                    tok: Tok::Comma, ..
                }, Token {
                    tok: Tok::Var(b), ..
                }, Token {
                    tok: Tok::Declare | Tok::Assign,
                    ..
                }, ..]
                    if range =>
                {
                    Some((
                        vec![a.clone(), b.clone()],
                        matches!(t[3].tok, Tok::Assign),
                        4,
                    ))
                }
                _ => None,
            }
        };
        if let Some((d, a, n)) = is_decl(rest) {
            decl = d;
            assign = a;
            rest = &rest[n..];
        }
        let mut pos = 0;
        let cmds = self.cmds(line, rest, &mut pos)?;
        if pos != rest.len() {
            return Err(err(self.name, line, "unexpected right paren"));
        }
        if cmds.is_empty() {
            return Err(err(self.name, line, "missing value for command"));
        }
        Ok(Pipe { decl, assign, cmds })
    }

    fn cmds(
        &self,
        line: usize,
        toks: &[Token],
        pos: &mut usize,
    ) -> Result<Vec<Vec<Term>>, TemplateError> {
        let mut cmds = Vec::new();
        let mut cmd = Vec::new();
        while *pos < toks.len() {
            let t = &toks[*pos];
            match &t.tok {
                Tok::RParen => break,
                Tok::Bar => {
                    if cmd.is_empty() {
                        return Err(err(self.name, line, "missing command before |"));
                    }
                    cmds.push(std::mem::take(&mut cmd));
                    *pos += 1;
                }
                _ => cmd.push(self.term(line, toks, pos)?),
            }
        }
        if !cmd.is_empty() {
            cmds.push(cmd);
        } else if !cmds.is_empty() {
            return Err(err(self.name, line, "missing command after |"));
        }
        Ok(cmds)
    }

    fn chain(toks: &[Token], pos: &mut usize) -> Vec<String> {
        let mut fields = Vec::new();
        while let Some(Token {
            tok: Tok::Field(f),
            spaced: false,
        }) = toks.get(*pos)
        {
            fields.push(f.clone());
            *pos += 1;
        }
        fields
    }

    fn term(&self, line: usize, toks: &[Token], pos: &mut usize) -> Result<Term, TemplateError> {
        let t = &toks[*pos];
        *pos += 1;
        Ok(match &t.tok {
            Tok::LParen => {
                let cmds = self.cmds(line, toks, pos)?;
                if !matches!(toks.get(*pos).map(|t| &t.tok), Some(Tok::RParen)) {
                    return Err(err(self.name, line, "unclosed left paren"));
                }
                *pos += 1;
                if cmds.is_empty() {
                    return Err(err(
                        self.name,
                        line,
                        "missing value for parenthesized pipeline",
                    ));
                }
                let fields = Self::chain(toks, pos);
                Term::Sub(
                    Box::new(Pipe {
                        decl: Vec::new(),
                        assign: false,
                        cmds,
                    }),
                    fields,
                )
            }
            Tok::Dot => Term::Dot,
            Tok::Field(f) => {
                let mut fields = vec![f.clone()];
                fields.extend(Self::chain(toks, pos));
                Term::Field(fields)
            }
            Tok::Var(v) => Term::Var(v.clone(), Self::chain(toks, pos)),
            Tok::Ident(i) => match i.as_str() {
                "true" => Term::Bool(true),
                "false" => Term::Bool(false),
                "nil" => Term::Nil,
                _ => Term::Ident(i.clone()),
            },
            Tok::Str(s) => Term::Str(s.clone()),
            Tok::Num(n) => parse_number(n)
                .ok_or_else(|| err(self.name, line, format!("bad number syntax: {n:?}")))?,
            Tok::RParen | Tok::Bar | Tok::Declare | Tok::Assign | Tok::Comma => {
                return Err(err(
                    self.name,
                    line,
                    format!("unexpected {:?} in operand", t.tok),
                ))
            }
        })
    }
}

fn parse_number(n: &str) -> Option<Term> {
    let clean = n.replace('_', "");
    if let Some(hex) = clean
        .strip_prefix("0x")
        .or_else(|| clean.strip_prefix("0X"))
    {
        return i64::from_str_radix(hex, 16).ok().map(Term::Int);
    }
    if let Ok(i) = clean.parse::<i64>() {
        return Some(Term::Int(i));
    }
    clean.parse::<f64>().ok().map(Term::Float)
}
