//! Splitting `key=value,key:value,key(value),key` lists the way
//! `ovs-ofctl` does (`ofputil_parse_key_value`).
//!
//! A key ends at the first of `:=(` or a delimiter (`,`, space, tab, CR,
//! LF). After `:` or `=` the value runs to the next delimiter outside
//! parentheses, so `write_actions(output:1,group:2)` and `set_field:
//! fe80::1->ipv6_src` stay whole; after `(` the value is everything up to
//! the matching `)`.

use super::SyntaxError;

/// One `key[=value]` item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Kv<'a> {
    /// The key, as written.
    pub(crate) key: &'a str,
    /// The value, if any (for `key(value)` the text inside the parentheses).
    pub(crate) value: Option<&'a str>,
    /// The whole item as written, for error messages.
    pub(crate) token: &'a str,
}

impl Kv<'_> {
    /// The value, or `MissingValue` naming the key.
    pub(crate) fn need(&self) -> Result<&str, SyntaxError> {
        match self.value {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(SyntaxError::MissingValue {
                token: self.token.to_string(),
            }),
        }
    }

    /// `Ok` when the item has no value.
    pub(crate) fn none(&self) -> Result<(), SyntaxError> {
        match self.value {
            None => Ok(()),
            Some(_) => Err(SyntaxError::UnexpectedValue {
                token: self.token.to_string(),
            }),
        }
    }
}

fn is_delim(c: char) -> bool {
    matches!(c, ',' | ' ' | '\t' | '\r' | '\n')
}

/// Iterator over the items of a list.
#[derive(Debug, Clone)]
pub(crate) struct KvIter<'a> {
    rest: &'a str,
}

impl<'a> KvIter<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Self { rest: s }
    }
}

/// Index just past the `)` matching the `(` at `open`, or an error.
fn close_paren(s: &str, open: usize) -> Result<usize, SyntaxError> {
    let mut depth = 0usize;
    for (i, c) in s[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(open + i + 1);
                }
            }
            _ => {}
        }
    }
    Err(SyntaxError::Unbalanced {
        token: s[open..].to_string(),
    })
}

impl<'a> Iterator for KvIter<'a> {
    type Item = Result<Kv<'a>, SyntaxError>;

    fn next(&mut self) -> Option<Self::Item> {
        let s = self.rest.trim_start_matches(is_delim);
        self.rest = s;
        if s.is_empty() {
            return None;
        }
        let key_end = s
            .find(|c: char| is_delim(c) || matches!(c, ':' | '=' | '(' | ')'))
            .unwrap_or(s.len());
        let key = &s[..key_end];
        let (value, end) = match s[key_end..].chars().next() {
            Some('(') => match close_paren(s, key_end) {
                Ok(end) => (Some(&s[key_end + 1..end - 1]), end),
                Err(e) => {
                    self.rest = "";
                    return Some(Err(e));
                }
            },
            Some(':' | '=') => {
                let start = key_end + 1;
                let mut depth = 0usize;
                let mut end = s.len();
                for (i, c) in s[start..].char_indices() {
                    match c {
                        '(' => depth += 1,
                        ')' if depth == 0 => {
                            self.rest = "";
                            return Some(Err(SyntaxError::Unbalanced {
                                token: s.to_string(),
                            }));
                        }
                        ')' => depth -= 1,
                        c if depth == 0 && is_delim(c) => {
                            end = start + i;
                            break;
                        }
                        _ => {}
                    }
                }
                if depth != 0 {
                    self.rest = "";
                    return Some(Err(SyntaxError::Unbalanced {
                        token: s.to_string(),
                    }));
                }
                (Some(&s[start..end]), end)
            }
            Some(')') => {
                self.rest = "";
                return Some(Err(SyntaxError::Unbalanced {
                    token: s.to_string(),
                }));
            }
            _ => (None, key_end),
        };
        self.rest = &s[end..];
        Some(Ok(Kv {
            key,
            value,
            token: &s[..end],
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(s: &str) -> Vec<(String, Option<String>)> {
        KvIter::new(s)
            .map(|r| {
                let kv = r.unwrap();
                (kv.key.to_string(), kv.value.map(str::to_string))
            })
            .collect()
    }

    #[test]
    fn splits_like_ovs() {
        let got = items(" a=1, b:2 c,write_actions(output:1,group:2),set_field:fe80::1->ipv6_src");
        let want = [
            ("a", Some("1")),
            ("b", Some("2")),
            ("c", None),
            ("write_actions", Some("output:1,group:2")),
            ("set_field", Some("fe80::1->ipv6_src")),
        ];
        assert_eq!(got.len(), want.len());
        for ((k, v), (wk, wv)) in got.iter().zip(want) {
            assert_eq!(k, wk);
            assert_eq!(v.as_deref(), wv);
        }
    }

    #[test]
    fn nested_parentheses_in_values() {
        let got = items("x=f(a,(b)),y");
        assert_eq!(got[0].1.as_deref(), Some("f(a,(b))"));
        assert_eq!(got[1].0, "y");
    }

    #[test]
    fn unbalanced() {
        for s in ["a(b", "a=(b", "a=b)", ")"] {
            let r: Result<Vec<_>, _> = KvIter::new(s).collect();
            assert!(matches!(r, Err(SyntaxError::Unbalanced { .. })), "{s}");
        }
    }
}
