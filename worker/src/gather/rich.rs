//! Rich (boolean) dependencies: parsed from rpm's syntax and turned into clauses the solver
//! understands.
//!
//! A clause is "one of `any` is provided, or one of `unless` is not": `(a if b)` becomes
//! `any = [a], unless = [b]`, `(a or b)` becomes `any = [a, b]`. Operators mean what libsolv
//! (and so dnf) takes them to mean. Atoms are single
//! capabilities, optionally narrowed by `with` / `without` to one package providing both (or
//! the first and not the second).

use thiserror::Error;

use super::capability::{Capability, Op, Range};

/// Why a rich dependency could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("malformed rich dependency {expression:?}: {reason}")]
pub struct RichError {
    /// The whole expression.
    pub expression: String,
    /// What is wrong.
    pub reason: &'static str,
}

/// One package-level condition: a capability, narrowed by `with` and `without`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Atom {
    /// What must be provided.
    pub capability: Capability,
    /// What the same package must also provide.
    pub with: Vec<Capability>,
    /// What the same package must not provide.
    pub without: Vec<Capability>,
}

impl Atom {
    fn simple(capability: Capability) -> Atom {
        Atom {
            capability,
            with: Vec::new(),
            without: Vec::new(),
        }
    }
}

impl std::fmt::Display for Atom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.with.is_empty() && self.without.is_empty() {
            return write!(f, "{}", self.capability);
        }
        write!(f, "({}", self.capability)?;
        for c in &self.with {
            write!(f, " with {c}")?;
        }
        for c in &self.without {
            write!(f, " without {c}")?;
        }
        f.write_str(")")
    }
}

/// A disjunction: satisfied when one atom of `any` holds or one of `unless` does not.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Clause {
    /// Atoms any of which satisfies the clause.
    pub any: Vec<Atom>,
    /// Atoms whose absence satisfies the clause (the clause's conditions).
    pub unless: Vec<Atom>,
}

/// A parsed boolean expression.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    Atom(Atom),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    /// `then if cond [else otherwise]`
    If(Box<Expr>, Box<Expr>, Option<Box<Expr>>),
    /// `then unless cond [else otherwise]`
    Unless(Box<Expr>, Box<Expr>, Option<Box<Expr>>),
    /// The negation (only made while normalising `if` and `unless`).
    Not(Box<Expr>),
}

/// The most clauses one expression may expand to; beyond it the expression is refused rather
/// than letting a pathological dependency exhaust memory.
const MAX_CLAUSES: usize = 4096;

/// The clauses a requirement `expression` (rich or not) stands for.
pub fn clauses(capability: &Capability) -> Result<Vec<Clause>, RichError> {
    if !capability.is_rich() {
        return Ok(vec![Clause {
            any: vec![Atom::simple(capability.clone())],
            unless: Vec::new(),
        }]);
    }
    let expr = parse(&capability.name)?;
    let cnf = to_cnf(&expr, false);
    if cnf.len() > MAX_CLAUSES {
        return Err(RichError {
            expression: capability.name.clone(),
            reason: "too many alternatives",
        });
    }
    Ok(cnf)
}

/// The atoms a conflict or obsolete `capability` names, when it is a plain capability or an
/// `or` of them (each conflicts on its own); `None` for other boolean forms.
pub fn alternatives(capability: &Capability) -> Option<Vec<Atom>> {
    if !capability.is_rich() {
        return Some(vec![Atom::simple(capability.clone())]);
    }
    fn collect(expr: &Expr, out: &mut Vec<Atom>) -> bool {
        match expr {
            Expr::Atom(a) => {
                out.push(a.clone());
                true
            }
            Expr::Or(items) => items.iter().all(|i| collect(i, out)),
            _ => false,
        }
    }
    let expr = parse(&capability.name).ok()?;
    let mut out = Vec::new();
    collect(&expr, &mut out).then_some(out)
}

fn product(left: Vec<Clause>, right: Vec<Clause>) -> Vec<Clause> {
    let mut out = Vec::with_capacity(left.len() * right.len());
    for l in &left {
        for r in &right {
            let mut c = l.clone();
            c.any.extend(r.any.iter().cloned());
            c.unless.extend(r.unless.iter().cloned());
            out.push(c);
            if out.len() > MAX_CLAUSES {
                return out;
            }
        }
    }
    out
}

/// Conjunctive normal form of `expr` (of its negation when `negated`).
fn to_cnf(expr: &Expr, negated: bool) -> Vec<Clause> {
    let and = |items: Vec<Vec<Clause>>| items.into_iter().flatten().collect::<Vec<_>>();
    let or = |items: Vec<Vec<Clause>>| {
        items
            .into_iter()
            .reduce(product)
            .unwrap_or_else(|| vec![Clause::default()])
    };
    match (expr, negated) {
        (Expr::Atom(a), false) => vec![Clause {
            any: vec![a.clone()],
            unless: Vec::new(),
        }],
        (Expr::Atom(a), true) => vec![Clause {
            any: Vec::new(),
            unless: vec![a.clone()],
        }],
        (Expr::Not(inner), _) => to_cnf(inner, !negated),
        (Expr::And(items), false) | (Expr::Or(items), true) => {
            and(items.iter().map(|i| to_cnf(i, negated)).collect())
        }
        (Expr::Or(items), false) | (Expr::And(items), true) => {
            or(items.iter().map(|i| to_cnf(i, negated)).collect())
        }
        // As libsolv (and so dnf) reads them:
        // a if c            = a | !c
        // a if c else e     = (a | !c) & (c | e)
        // a unless c        = a & !c
        // a unless c else e = (a & !c) | (e & c) = (a | c) & (!c | e)
        (Expr::If(a, c, e), _) => {
            let then_part = Expr::Or(vec![(**a).clone(), not(c, true)]);
            let full = match e {
                None => then_part,
                Some(e) => Expr::And(vec![
                    then_part,
                    Expr::Or(vec![(**c).clone(), (**e).clone()]),
                ]),
            };
            to_cnf(&full, negated)
        }
        (Expr::Unless(a, c, e), _) => {
            let full = match e {
                None => Expr::And(vec![(**a).clone(), not(c, true)]),
                Some(e) => Expr::And(vec![
                    Expr::Or(vec![(**a).clone(), (**c).clone()]),
                    Expr::Or(vec![not(c, true), (**e).clone()]),
                ]),
            };
            to_cnf(&full, negated)
        }
    }
}

/// `expr`, negated when `negate`.
fn not(expr: &Expr, negate: bool) -> Expr {
    if negate {
        Expr::Not(Box::new(expr.clone()))
    } else {
        expr.clone()
    }
}

/// Deepest nesting of parentheses read; deeper expressions are refused (no real package nests
/// more than a few levels, and the parser and the CNF conversion recurse once per level).
const MAX_DEPTH: usize = 32;

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

fn parse(text: &str) -> Result<Expr, RichError> {
    let mut parser = Parser {
        text,
        pos: 0,
        depth: 0,
    };
    let expr = parser.group().map_err(|reason| RichError {
        expression: text.to_owned(),
        reason,
    })?;
    parser.skip_space();
    if parser.pos != text.len() {
        return Err(RichError {
            expression: text.to_owned(),
            reason: "text after the closing parenthesis",
        });
    }
    Ok(expr)
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.text.len() - trimmed.len();
    }

    /// `( operand (keyword operand)* )`
    fn group(&mut self) -> Result<Expr, &'static str> {
        self.skip_space();
        if !self.rest().starts_with('(') {
            return Err("expected '('");
        }
        if self.depth >= MAX_DEPTH {
            return Err("nested too deeply");
        }
        self.depth += 1;
        let group = self.group_body();
        self.depth -= 1;
        group
    }

    /// The inside of a group, after its '('.
    fn group_body(&mut self) -> Result<Expr, &'static str> {
        self.pos += 1;
        let first = self.operand()?;
        let mut keyword: Option<String> = None;
        let mut operands = vec![first];
        loop {
            self.skip_space();
            if self.rest().starts_with(')') {
                self.pos += 1;
                break;
            }
            let word = self.word();
            if word.is_empty() {
                return Err("expected an operator or ')'");
            }
            let allowed = match keyword.as_deref() {
                None => true,
                Some(k) => {
                    k == word
                        || (word == "else" && (k == "if" || k == "unless") && operands.len() == 2)
                }
            };
            if !allowed {
                return Err("mixed operators need parentheses");
            }
            if !matches!(
                word.as_str(),
                "and" | "or" | "if" | "unless" | "else" | "with" | "without"
            ) {
                return Err("unknown operator");
            }
            if word != "else" {
                keyword = Some(word);
            } else if operands.len() != 2 {
                return Err("'else' without 'if' or 'unless'");
            } else {
                keyword = Some(format!("{}-else", keyword.as_deref().unwrap_or_default()));
            }
            operands.push(self.operand()?);
        }
        let mut operands = operands.into_iter();
        let first = operands.next().ok_or("empty group")?;
        Ok(match keyword.as_deref() {
            None => first,
            Some("and") => Expr::And(std::iter::once(first).chain(operands).collect()),
            Some("or") => Expr::Or(std::iter::once(first).chain(operands).collect()),
            Some(k @ ("if" | "unless" | "if-else" | "unless-else")) => {
                let cond = operands.next().ok_or("missing condition")?;
                let otherwise = operands.next().map(Box::new);
                if operands.next().is_some() {
                    return Err("chained 'if' or 'unless' needs parentheses");
                }
                if k.starts_with("if") {
                    Expr::If(Box::new(first), Box::new(cond), otherwise)
                } else {
                    Expr::Unless(Box::new(first), Box::new(cond), otherwise)
                }
            }
            Some(k @ ("with" | "without")) => {
                let Expr::Atom(mut atom) = first else {
                    return Err("'with' and 'without' take simple capabilities");
                };
                for operand in operands {
                    let Expr::Atom(other) = operand else {
                        return Err("'with' and 'without' take simple capabilities");
                    };
                    if k == "with" {
                        atom.with.push(other.capability);
                    } else {
                        atom.without.push(other.capability);
                    }
                }
                Expr::Atom(atom)
            }
            Some(_) => return Err("unknown operator"),
        })
    }

    /// A nested group or `name [op evr]`.
    fn operand(&mut self) -> Result<Expr, &'static str> {
        self.skip_space();
        if self.rest().starts_with('(') {
            return self.group();
        }
        let name = self.name();
        if name.is_empty() {
            return Err("expected a capability");
        }
        let save = self.pos;
        self.skip_space();
        let symbol: String = self
            .rest()
            .chars()
            .take_while(|c| matches!(c, '<' | '>' | '='))
            .collect();
        let range = match Op::from_symbol(&symbol) {
            Some(op) => {
                self.pos += symbol.len();
                self.skip_space();
                let evr = self.name();
                if evr.is_empty() {
                    return Err("expected a version after the comparison");
                }
                Some(Range::parse(op, &evr).ok_or("bad epoch")?)
            }
            None => {
                self.pos = save;
                None
            }
        };
        Ok(Expr::Atom(Atom::simple(Capability { name, range })))
    }

    /// A keyword.
    fn word(&mut self) -> String {
        let word: String = self
            .rest()
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        self.pos += word.len();
        word
    }

    /// A capability name or version: up to white space or an unbalanced ')'.
    fn name(&mut self) -> String {
        let mut depth = 0usize;
        let mut end = 0;
        for (i, c) in self.rest().char_indices() {
            match c {
                c if c.is_whitespace() => break,
                '(' => depth += 1,
                ')' if depth == 0 => break,
                ')' => depth -= 1,
                _ => {}
            }
            end = i + c.len_utf8();
        }
        let name = self.rest()[..end].to_owned();
        self.pos += end;
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(clauses: &[Clause]) -> Vec<String> {
        clauses
            .iter()
            .map(|c| {
                let mut parts: Vec<String> = c.any.iter().map(ToString::to_string).collect();
                parts.extend(c.unless.iter().map(|a| format!("!{a}")));
                parts.join(" | ")
            })
            .collect()
    }

    fn cnf(text: &str) -> Vec<String> {
        show(&clauses(&Capability::named(text)).expect("parses"))
    }

    #[test]
    fn operators_become_clauses() {
        assert_eq!(cnf("(a and b)"), ["a", "b"]);
        assert_eq!(cnf("(a or b or c)"), ["a | b | c"]);
        assert_eq!(cnf("(a if b)"), ["a | !b"]);
        assert_eq!(cnf("(a if b else c)"), ["a | !b", "b | c"]);
        assert_eq!(cnf("(a unless b)"), ["a", "!b"]);
        assert_eq!(cnf("(a unless b else c)"), ["a | b", "c | !b"]);
        assert_eq!(cnf("(a or (b and c))"), ["a | b", "a | c"]);
        assert_eq!(cnf("((a and b) or c)"), ["a | c", "b | c"]);
    }

    #[test]
    fn versions_and_parenthesised_names_parse() {
        assert_eq!(
            cnf("(python3dist(foo) >= 1.2 with python3dist(foo) < 2~a)"),
            ["(python3dist(foo) >= 1.2 with python3dist(foo) < 2~a)"]
        );
        assert_eq!(
            cnf("(pkg(x86-64) = 1:2-3 or /usr/bin/sh)"),
            ["pkg(x86-64) = 1:2-3 | /usr/bin/sh"]
        );
        assert_eq!(cnf("(a without b)"), ["(a without b)"]);
    }

    #[test]
    fn negated_conditions_distribute() {
        assert_eq!(cnf("(a if (b or c))"), ["a | !b", "a | !c"]);
        assert_eq!(cnf("(a if (b and c))"), ["a | !b | !c"]);
    }

    #[test]
    fn deep_nesting_is_refused_not_recursed() {
        let deep = format!("{}a{}", "(".repeat(100_000), ")".repeat(100_000));
        let err = parse(&deep).expect_err("too deep");
        assert_eq!(err.reason, "nested too deeply");
        let fine = format!("{}a{}", "(".repeat(10), ")".repeat(10));
        assert!(parse(&fine).is_ok());
    }

    #[test]
    fn malformed_expressions_are_refused() {
        for bad in [
            "(a and)",
            "(a and b or c)",
            "(a",
            "(a) b",
            "(a else b)",
            "(a foo b)",
        ] {
            assert!(clauses(&Capability::named(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn conflict_alternatives() {
        let atoms = alternatives(&Capability::named("(a or b)")).expect("or");
        assert_eq!(atoms.len(), 2);
        assert!(alternatives(&Capability::named("(a and b)")).is_none());
    }
}
